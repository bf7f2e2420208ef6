package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The bench command reaches internal/bench's Run (whose own tests run the
// suite) with its flags: a --plugin that is not there stops its set-up.
func TestBenchCommandRunsTheBench(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-plugin")
	code, _, errOut := runCLI(t, "", "bench", "--dir", t.TempDir(), "--plugin", missing)
	if code != 1 || !strings.Contains(errOut, "smartretail bench: ") || !strings.Contains(errOut, missing) {
		t.Fatalf("bench --plugin %s: exit %d, stderr %q", missing, code, errOut)
	}
}
