package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
)

// Without -v stderr holds exactly the one JSON error object of a failed
// command, and nothing for one that succeeded: before, the plugin's WARN
// lines came first, and a create queued because WeChat Pay could not be
// reached (a success) logged "create failed".
func TestStderrHoldsOnlyTheError(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	sale := `{"out_order_no":"ERR-1","risk_amount":700,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`
	code, out, errOut := runCLI(t, sale, "create", "--config", cfg)
	if code != 0 || !strings.Contains(out, "DISPOSITION_QUEUED") || errOut != "" {
		t.Errorf("a create queued while offline: exit %d, stdout %s, stderr %q; want exit 0, QUEUED and nothing on stderr", code, out, errOut)
	}
	sale = strings.Replace(sale, "ERR-1", "ERR-2", 1)
	code, out, errOut = runCLI(t, sale, "create", "--config", cfg, "--offline", "require-online")
	if e := oneError(t, errOut); code != 1 || out != "" || e.Error.Class != "NETWORK" || e.Error.Reason != "OFFLINE" {
		t.Errorf("a create refused offline: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	// With -v the log is there, and the error still ends stderr.
	sale = strings.Replace(sale, "ERR-2", "ERR-3", 1)
	code, _, errOut = runCLI(t, sale, "create", "--config", cfg, "--offline", "require-online", "-v")
	if code != 1 || !strings.Contains(errOut, "smartretail: plugin ") || errorJSON(errOut) == "" {
		t.Errorf("-v: exit %d, stderr %s", code, errOut)
	}
	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	code, _, errOut = runCLI(t, "", "query", "--config", cfg, "--out-order-no", "NOPE")
	if e := oneError(t, errOut); code != 1 || e.Error.Class != "NOT_FOUND" {
		t.Errorf("unknown order: exit %d, stderr %s", code, errOut)
	}
}

// Exit 2 is for a command line that cannot run, and says so as JSON too:
// before, flag errors and an unknown command printed the flag package's
// text and the usage on stderr.
func TestCommandLineErrorsAreJSON(t *testing.T) {
	for _, args := range [][]string{
		{"create", "--bogus"},
		{"status", "--timeout", "soon"},
		{"query", "--config", "unused.json"},
		{"create", "--config", "unused.json", "--offline", "sometimes"},
		{"user-state", "--config", "unused.json"},
		{"frobnicate"},
		{},
	} {
		code, _, errOut := runCLI(t, `{}`, args...)
		if e := oneError(t, errOut); code != exitUsage || e.Error.Class != "USAGE" || e.Error.Message == "" {
			t.Errorf("%q: exit %d, stderr %s; want exit 2, class USAGE", args, code, errOut)
		}
	}
}

// A command that runs out of its --timeout says TIMEOUT, not INTERNAL or
// HOST.
func TestTimeoutIsItsOwnClass(t *testing.T) {
	cfg, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	code, _, errOut := runCLI(t, "", "status", "--config", cfg, "--timeout", "1ms")
	if e := oneError(t, errOut); code != 1 || e.Error.Class != "TIMEOUT" || !strings.Contains(e.Error.Message, "--timeout") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
}

// Every class the CLI prints, the plugin's and its own, is a row of the
// README's error table, with its exit code; and every row names a class.
func TestEveryClassIsInTheREADME(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, errors, ok := strings.Cut(string(data), "\n## Errors\n")
	if !ok {
		t.Fatal("README.md has no ## Errors")
	}
	errors, _, _ = strings.Cut(errors, "\n## ")
	rows := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(errors, -1)
	documented := map[string]bool{}
	for _, r := range rows {
		documented[r[1]] = true
	}
	exitRows := regexp.MustCompile("(?m)^\\| `([A-Z_]+)`[^\\n]*\\| exit ([12]) \\|").FindAllStringSubmatch(errors, -1)
	exitOf := map[string]string{}
	for _, r := range exitRows {
		exitOf[r[1]] = r[2]
	}
	for _, c := range []shared.Class{shared.ClassInvalid, shared.ClassAuth, shared.ClassRateLimited, shared.ClassTransient,
		shared.ClassNetwork, shared.ClassNotFound, shared.ClassNotConfigured, shared.ClassOfflineLimit, shared.ClassOutbox,
		shared.ClassInternal, classUsage, classHost, classTimeout} {
		if !documented[string(c)] {
			t.Errorf("class %s is not in the README's error table", c)
		}
	}
	for c, want := range map[shared.Class]string{classUsage: "2", classHost: "1", classTimeout: "1"} {
		if exitOf[string(c)] != want {
			t.Errorf("the README gives class %s exit %q, want %s", c, exitOf[string(c)], want)
		}
	}
	if !strings.Contains(errors, reasonDrainTimeout) {
		t.Errorf("the README does not name the reason %s", reasonDrainTimeout)
	}
}
