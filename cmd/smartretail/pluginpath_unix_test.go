//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// pluginOnPath puts a smartretail-plugin (this test binary, linked) alone
// on PATH, and returns its path.
func pluginOnPath(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	link := filepath.Join(dir, pluginBinary())
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return link
}

func TestAStalePluginOnPathIsNotPreferred(t *testing.T) {
	link := pluginOnPath(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The same version as the CLI: the one on PATH is used.
	path, how, err := findPlugin(ctx, "")
	if err != nil || path != link || !strings.Contains(how, "on PATH") {
		t.Errorf("a current plugin on PATH: %s (%s), %v; want %s", path, how, err, link)
	}

	// An older one: the CLI serves the plugin itself and says why.
	t.Setenv(stalePluginEnv, link)
	path, how, err = findPlugin(ctx, "")
	if err != nil || path != self {
		t.Errorf("a stale plugin on PATH: %s (%s), %v; want the CLI itself", path, how, err)
	}
	for _, want := range []string{stalePluginVersion, plugin.Version, link} {
		if !strings.Contains(how, want) {
			t.Errorf("the choice %q does not name %q", how, want)
		}
	}

	// -v shows the choice; the command runs with the CLI's own plugin.
	cfg, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	// (status only looks: a create makes the outbox it looks at)
	if code, _, errOut := runCLI(t, `{"out_order_no":"STALE-1","service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","risk_amount":100}`,
		"create", "--config", cfg); code != 0 {
		t.Fatalf("create exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "", "status", "--config", cfg, "-v")
	if code != 0 || !strings.Contains(out, `"plugin_version": "`+plugin.Version+`"`) {
		t.Errorf("status exit %d: %s %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "is version "+stalePluginVersion) {
		t.Errorf("-v does not say the plugin on PATH was passed over:\n%s", errOut)
	}
	if _, _, errOut := runCLI(t, "", "status", "--config", cfg); strings.Contains(errOut, stalePluginVersion) {
		t.Errorf("without -v the choice is shown:\n%s", errOut)
	}
}

// An executable named smartretail-plugin on PATH that is not a plugin is
// passed over too, not run as one.
func TestABrokenPluginOnPathIsNotPreferred(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, pluginBinary())
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path, how, err := findPlugin(ctx, "")
	if err != nil || path != self || !strings.Contains(how, "did not answer as a plugin") {
		t.Errorf("a broken plugin on PATH: %s (%s), %v; want the CLI itself", path, how, err)
	}
}
