package outbox

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Plugins started together on one key file (a fleet of kiosks sharing a
// config folder, a test) each get the same whole key: one creates it, the
// others read it once it is whole, and no one sees half a key. Found when
// the fleet bench started 16 plugins at once on one key file: "want 32
// bytes as 64 hex digits".
func TestPluginsStartedTogetherShareOneWholeKey(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		path := filepath.Join(dir, "outbox.key")
		const n = 16
		keys := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				keys[i], errs[i] = loadOrCreateKey(path, true, func(string) error { return nil })
			}()
		}
		close(start)
		wg.Wait()
		for i := 0; i < n; i++ {
			if errs[i] != nil {
				t.Fatalf("round %d, opener %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("round %d: openers got different keys", round)
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("round %d: %d files left beside the key, want none", round, len(entries)-1)
		}
	}
}
