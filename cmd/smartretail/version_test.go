package main

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/shared"
)

// smartretail version and --version print the module's version, the
// commit, the Go version and the plugin's version and protocol.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := runCLI(t, "", args...)
		var v versionInfo
		if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || errOut != "" {
			t.Fatalf("%v: exit %d, %v: %s %s", args, code, err, out, errOut)
		}
		if v.Version == "" || v.Go != runtime.Version() || v.PluginVersion != plugin.Version ||
			v.PluginProtocol != shared.Handshake.ProtocolVersion || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
			t.Errorf("%v printed %+v", args, v)
		}
	}
	if code, _, errOut := runCLI(t, "", "version", "extra"); code != exitUsage || oneError(t, errOut).Error.Class != "USAGE" {
		t.Errorf("version extra: exit %d %s", code, errOut)
	}
}

// The commit and its state come from the build's VCS stamp.
func TestVersionFromBuildInfo(t *testing.T) {
	v := buildVersion(&debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2030-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}})
	if v.Version != "v1.2.3" || v.Commit != "0123456789abcdef0123456789abcdef01234567" || v.CommitTime != "2030-01-02T03:04:05Z" || !v.Modified || v.Go != "go1.99.1" {
		t.Errorf("%+v", v)
	}
	if v := buildVersion(nil); v.Version != "unknown" || v.Go != runtime.Version() || v.Commit != "" {
		t.Errorf("no build info: %+v", v)
	}
}
