package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
// plugin when go-plugin starts it). The second result says which.
func findPlugin(flagValue string) (string, string, error) {
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
	beside := filepath.Join(filepath.Dir(self), pluginBinary())
	if st, err := os.Stat(beside); err == nil && !st.IsDir() {
		return beside, "beside the CLI", nil
	}
	if onPath, err := exec.LookPath(pluginBinary()); err == nil {
		return onPath, "on PATH", nil
	} else if !errors.Is(err, exec.ErrNotFound) {
		return "", "", err
	}
	return self, "built into the CLI", nil
}
