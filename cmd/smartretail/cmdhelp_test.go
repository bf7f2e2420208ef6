package main

import (
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// demo, sandbox, bench and queue answer -h as the other commands do: the
// usage, an example and their own flags on stdout, exit 0. Before, demo,
// sandbox and bench printed the flag package's text on stderr and exited
// 2, and every queue subcommand listed --yes and --drain-timeout.
func TestHelpOfDemoSandboxBenchAndQueue(t *testing.T) {
	hostFlags := []string{"-config", "-plugin", "-timeout", "-v"}
	cases := []struct {
		args     []string
		usage    string
		flags    []string // its own
		not      []string // others'
		contains string   // what the help of this one says, besides
	}{
		{[]string{"demo"}, "smartretail demo", []string{"-plugin", "-v"}, []string{"-config", "-addr"}, ""},
		{[]string{"sandbox"}, "smartretail sandbox", []string{"-addr", "-dir", "-backup-addr", "-clock-offset"}, []string{"-config", "-plugin"}, "DIR is locked"},
		{[]string{"bench"}, "smartretail bench", []string{"-quick", "-json", "-dir", "-plugin", "-only", "-fleet", "-runs", "-cpu-profile"}, []string{"-config"}, ""},
		{[]string{"queue"}, "smartretail queue", nil, []string{"-config", "-yes"}, "salvage"},
		{[]string{"queue", "status"}, "smartretail queue status", hostFlags, []string{"-yes", "-drain-timeout"}, ""},
		{[]string{"queue", "list"}, "smartretail queue list", hostFlags, []string{"-yes", "-drain-timeout"}, ""},
		{[]string{"queue", "failed"}, "smartretail queue failed", hostFlags, []string{"-yes", "-drain-timeout"}, ""},
		{[]string{"queue", "retry"}, "smartretail queue retry OUT_ORDER_NO", hostFlags, []string{"-yes", "-drain-timeout"}, ""},
		{[]string{"queue", "drop"}, "smartretail queue drop OUT_ORDER_NO", append([]string{"-yes"}, hostFlags...), []string{"-drain-timeout"}, ""},
		{[]string{"queue", "drain"}, "smartretail queue drain", hostFlags, []string{"-yes", "-drain-timeout"}, "how long to wait for the queue to empty"},
		{[]string{"queue", "compact"}, "smartretail queue compact", hostFlags, []string{"-yes", "-drain-timeout"}, ""},
		{[]string{"queue", "salvage"}, "smartretail queue salvage", []string{"-config"}, []string{"-plugin", "-timeout", "-v", "-yes", "-drain-timeout"}, ""},
	}
	for _, c := range cases {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, c.args...), h)
			code, out, errOut := runCLI(t, "", args...)
			if code != 0 || errOut != "" {
				t.Errorf("%v: exit %d, stderr %q; want exit 0 and nothing on stderr", args, code, errOut)
			}
			if !strings.HasPrefix(out, "usage: "+c.usage) || !strings.Contains(out, "\nExample:\n  smartretail "+strings.Join(c.args, " ")) {
				t.Errorf("%v: no usage line %q or example:\n%s", args, c.usage, out)
			}
			if !strings.Contains(out, c.contains) {
				t.Errorf("%v: does not say %q:\n%s", args, c.contains, out)
			}
			for _, f := range c.flags {
				if !listed(out, f) {
					t.Errorf("%v: flag %s not listed:\n%s", args, f, out)
				}
			}
			for _, f := range c.not {
				if listed(out, f) {
					t.Errorf("%v: lists %s, not its flag:\n%s", args, f, out)
				}
			}
		}
	}
}

// A command line these commands cannot run is one JSON error on stderr,
// class USAGE, exit 2: before, the flag package's text and the usage.
func TestFlagErrorsOfDemoSandboxBenchAndQueue(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--bogus"},
		{"demo", "stray"},
		{"sandbox", "--bogus"},
		{"sandbox", "--clock-offset", "yesterday"},
		{"sandbox", "--addr", "127.0.0.1:0", "stray"},
		{"bench", "--bogus"},
		{"bench", "--quick=maybe"},
		{"bench", "stray"},
		{"bench", "--runs", "0"},
		{"bench", "--fleet", "ten"},
		{"bench", "--fleet", "10x50,burst=lots"},
		{"bench", "--only", "drain", "--fleet", "10x50"},
		{"queue", "frobnicate"},
		{"queue", "status", "--bogus"},
		{"queue", "status", "stray"},
		{"queue", "drain", "--timeout", "soon"},
		{"queue", "status", "--yes"},
		{"queue", "drain", "--drain-timeout", "1m"},
		{"queue", "salvage", "--plugin", "p"},
		{"queue", "retry"},
		{"queue", "retry", "A", "B"},
		{"queue", "drop", "--yes"},
	} {
		code, out, errOut := runCLI(t, "", args...)
		if e := oneError(t, errOut); code != exitUsage || out != "" || e.Error.Class != "USAGE" || e.Error.Message == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %s; want exit 2, nothing on stdout, class USAGE", args, code, out, errOut)
		}
	}
	// queue alone is a command line that cannot run: the usage on stdout,
	// as smartretail alone.
	code, out, errOut := runCLI(t, "", "queue")
	if e := oneError(t, errOut); code != exitUsage || e.Error.Class != "USAGE" || !strings.HasPrefix(out, "usage: smartretail queue") {
		t.Errorf("queue: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// Flags may follow a queue subcommand's OUT_ORDER_NO, as the README writes
// "queue retry K4 --config FILE" and "queue drop K4 --yes --config FILE":
// before, they were taken for more arguments (exit 2, "takes one
// OUT_ORDER_NO"). Both reach the plugin named by --config, which has no
// failed order K4.
func TestQueueFlagsAfterTheOrderNumber(t *testing.T) {
	cfg, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	for _, args := range [][]string{
		{"queue", "retry", "K4", "--config", cfg},
		{"queue", "drop", "K4", "--yes", "--config", cfg},
		{"queue", "drop", "--config", cfg, "K4", "--yes"},
	} {
		code, out, errOut := runCLI(t, "", args...)
		e := oneError(t, errOut)
		if code != 1 || out != "" || e.Error.Class != "NOT_FOUND" || e.Error.OutOrderNo != "K4" || !strings.Contains(e.Error.Message, "no failed order K4") {
			t.Errorf("%q: exit %d, stdout %q, stderr %s; want NOT_FOUND for K4", args, code, out, errOut)
		}
	}
}
