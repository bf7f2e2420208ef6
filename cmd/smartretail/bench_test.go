package main

import (
	"strings"
	"testing"
)

// The bench command reaches internal/bench's Run (whose own tests run the
// suite): a flag it does not know is a usage error that names the flag.
func TestBenchCommandRunsTheBench(t *testing.T) {
	code, out, errOut := runCLI(t, "", "bench", "--no-such-flag")
	if code != exitUsage || out != "" || !strings.Contains(errOut, "no-such-flag") {
		t.Fatalf("bench --no-such-flag: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
