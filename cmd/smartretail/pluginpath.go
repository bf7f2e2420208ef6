package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/plugin"
)

// pluginBinary is the plugin binary's name on this system.
func pluginBinary() string {
	if runtime.GOOS == "windows" {
		return "smartretail-plugin.exe"
	}
	return "smartretail-plugin"
}

// findPlugin picks the plugin to run: the one named, else smartretail-plugin
// beside this binary, else on PATH, else this binary itself (it serves the
// plugin when go-plugin starts it). A binary found beside or on PATH is
// used only when it is this CLI's version (plugin.Version): an old install
// left on PATH would otherwise run instead of the plugin built into the CLI.
// The second result says which was chosen and why.
func findPlugin(ctx context.Context, flagValue string) (string, string, error) {
	if flagValue != "" {
		st, err := os.Stat(flagValue)
		if err != nil {
			return "", "", fmt.Errorf("--plugin %s: %w", flagValue, err)
		}
		if st.IsDir() {
			return "", "", fmt.Errorf("--plugin %s is a directory, want the smartretail-plugin binary", flagValue)
		}
		return flagValue, "--plugin", nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("cannot find this program's path to run it as the plugin: %w", err)
	}
	found, where := "", ""
	beside := filepath.Join(filepath.Dir(self), pluginBinary())
	if st, err := os.Stat(beside); err == nil && !st.IsDir() {
		found, where = beside, "beside the CLI"
	} else if onPath, err := exec.LookPath(pluginBinary()); err == nil {
		found, where = onPath, "on PATH"
	} else if !errors.Is(err, exec.ErrNotFound) {
		return "", "", err
	}
	if found == "" {
		return self, "built into the CLI", nil
	}
	// Asking starts the binary without configuring it: it opens no outbox
	// and sends nothing.
	v, err := host.PluginVersion(ctx, host.Options{PluginPath: found})
	switch {
	case ctx.Err() != nil:
		return "", "", fmt.Errorf("asking %s its version: %w", found, ctx.Err())
	case err != nil:
		return self, fmt.Sprintf("built into the CLI: %s %s did not answer as a plugin: %v", where, found, err), nil
	case v != plugin.Version:
		return self, fmt.Sprintf("built into the CLI, version %s: %s %s is version %s", plugin.Version, where, found, v), nil
	}
	return found, where + ", version " + v, nil
}
