package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
)

// config check prints the config as the plugin would use it, defaults
// filled and paths absolute, with the APIv3 key never printed, and exits 1
// on any problem: the loader's, or a key file's (LoadKeys).
func TestConfigCheck(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	path, dir := srv.ConfigFile(t)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "config", "check", "--config", path)
	var got struct {
		File   string         `json:"config_file"`
		Mode   string         `json:"verify_mode"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || errOut != "" {
		t.Fatalf("exit %d, %v: %s %s", code, err, out, errOut)
	}
	if strings.Contains(out+errOut, c.APIv3Key) || got.Config["apiv3_key"] != "(32 bytes, not shown)" {
		t.Errorf("the APIv3 key is printed, or not said to be hidden:\n%s", out)
	}
	for _, key := range config.FileKeys() {
		if _, ok := got.Config[key]; !ok {
			t.Errorf("key %s is not printed", key)
		}
	}
	for key, want := range map[string]any{"offline_max_orders": 1000.0, "forward_concurrency": 4.0, "offline_max_age": "24h0m0s",
		"outbox_path": filepath.Join(dir, "outbox.db"), "mchid": c.MchID, "api_base_url": srv.URL} {
		if got.Config[key] != want {
			t.Errorf("%s = %#v, want %#v", key, got.Config[key], want)
		}
	}
	if got.Mode != "public_key" || !filepath.IsAbs(got.File) {
		t.Errorf("verify_mode %q, config_file %q", got.Mode, got.File)
	}

	// A key file that is not a key: the config is still printed, and the
	// error names the key.
	if err := os.WriteFile(c.MerchantPrivateKeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "", "config", "check", "--config", path)
	if e := oneError(t, errOut); code != 1 || out == "" || e.Error.Class != "INVALID" || e.Error.Field != "config.merchant_private_key_file" {
		t.Errorf("a bad key file: exit %d, stdout %q, stderr %s", code, out, errOut)
	}

	// What the loader refuses: nothing printed, every key named.
	var raw map[string]any
	data, _ := os.ReadFile(path)
	json.Unmarshal(data, &raw)
	raw["apiv3_key"] = "short"
	raw["forward_concurrency"] = -1
	bad := filepath.Join(t.TempDir(), "bad.json")
	data, _ = json.Marshal(raw)
	os.WriteFile(bad, data, 0o600)
	code, out, errOut = runCLI(t, "", "config", "check", "--config", bad)
	e := oneError(t, errOut)
	if code != 1 || out != "" || e.Error.Class != "INVALID" || len(e.Error.Violations) != 2 || strings.Contains(errOut, "short") {
		t.Errorf("a refused config: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "", "config", "check", "--config", filepath.Join(t.TempDir(), "missing.json"))
	if e := oneError(t, errOut); code != 1 || e.Error.Class != "HOST" || !strings.Contains(e.Error.Message, "missing.json") {
		t.Errorf("a missing config: exit %d, stderr %s", code, errOut)
	}
	for _, args := range [][]string{{"config"}, {"config", "show"}, {"config", "check", "--config", path, "extra"}} {
		if code, _, errOut := runCLI(t, "", args...); code != exitUsage || oneError(t, errOut).Error.Class != "USAGE" {
			t.Errorf("%q: exit %d %s", args, code, errOut)
		}
	}
}
