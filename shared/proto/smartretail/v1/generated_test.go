package smartretailv1

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// TestGeneratedCodeIsCurrent fails when orders.proto changed after the Go
// code was generated: run `go generate ./shared/proto/` (see generate.sh).
func TestGeneratedCodeIsCurrent(t *testing.T) {
	src, err := os.ReadFile("orders.proto")
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := os.ReadFile("orders.proto.sha256")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	want := hex.EncodeToString(sum[:])
	if got := strings.Fields(string(recorded)); len(got) == 0 || got[0] != want {
		t.Fatalf("orders.proto changed since the Go code was generated (sha256 %s, recorded %q): run go generate ./shared/proto/", want, recorded)
	}
	for file, pins := range map[string][]string{
		"orders.pb.go":      {"protoc-gen-go v1.36.12", "protoc        v3.21.12"},
		"orders_grpc.pb.go": {"protoc-gen-go-grpc v1.6.2", "protoc             v3.21.12"},
	} {
		gen, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, pin := range pins {
			if !strings.Contains(string(gen), pin) {
				t.Errorf("%s was not made by the pinned %q: run go generate ./shared/proto/", file, pin)
			}
		}
	}
}
