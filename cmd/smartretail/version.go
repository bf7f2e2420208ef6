package main

import (
	"context"
	"flag"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/shared"
)

// versionInfo is what `smartretail version` prints.
type versionInfo struct {
	Version        string `json:"version"`               // the module's: "(devel)" for a build from a work tree
	Commit         string `json:"commit,omitempty"`      // vcs.revision, when built in a repository
	CommitTime     string `json:"commit_time,omitempty"` // vcs.time
	Modified       bool   `json:"modified,omitempty"`    // built with changes not committed
	Go             string `json:"go"`                    // the toolchain that built it
	Platform       string `json:"platform"`              // GOOS/GOARCH
	PluginVersion  string `json:"plugin_version"`        // the plugin built into this binary
	PluginProtocol uint   `json:"plugin_protocol"`       // the go-plugin protocol it speaks
}

// buildVersion reads bi, this binary's build information (nil when the
// binary has none).
func buildVersion(bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		PluginVersion: plugin.Version, PluginProtocol: shared.Handshake.ProtocolVersion}
	if bi == nil {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// runVersion is `smartretail version` and `smartretail --version`.
func runVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if code, ok := parseFlags(fs, args, stdout, stderr, commandHelp("version")); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return printError(stderr, errUsageArgs("version", fs.NArg()))
	}
	bi, _ := debug.ReadBuildInfo()
	return writeJSON(stdout, buildVersion(bi))
}
