package main

import (
	"bytes"
	"context"
	"flag"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/bench"
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

// The CLI checks the bench's flags before it runs: they must be the
// bench's own, every one, or a flag the bench takes would be refused (or
// one it does not, passed on).
func TestBenchFlagsAreTheBenchs(t *testing.T) {
	var help bytes.Buffer
	bench.Run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &help, nil)
	var theirs []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help.String(), -1) {
		theirs = append(theirs, m[1])
	}
	var ours []string
	benchFlags().VisitAll(func(f *flag.Flag) { ours = append(ours, f.Name) })
	slices.Sort(theirs)
	slices.Sort(ours)
	if len(theirs) == 0 || !slices.Equal(ours, theirs) {
		t.Errorf("the CLI checks the bench flags %q; internal/bench takes %q:\n%s", ours, theirs, help.String())
	}
}
