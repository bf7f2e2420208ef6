package main

import (
	"strings"
	"testing"
)

// An openid given without its flag was echoed in "unexpected argument":
// a stray argument may be personal data, and is never printed.
func TestStrayArgumentsAreNotEchoed(t *testing.T) {
	const openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	code, out, errOut := runCLI(t, "", "user-state", "--config", "missing.json", openid)
	if code != exitUsage || strings.Contains(out+errOut, openid) || !strings.Contains(errOut, "unexpected argument") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
