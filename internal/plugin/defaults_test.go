package plugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// shared/config may not import the plugin's packages (the arrows point
// plugin -> shared), so a default a config file may leave out is named
// twice: by the config, which fills it in, and by the package that uses it
// when its Options leave it zero. This test is what keeps the pairs equal.
func TestConfigDefaultsAreThePackagesDefaults(t *testing.T) {
	if config.DefaultAPIBaseURL != wxpay.DefaultBaseURL {
		t.Errorf("config.DefaultAPIBaseURL %q, wxpay.DefaultBaseURL %q", config.DefaultAPIBaseURL, wxpay.DefaultBaseURL)
	}
	if config.DefaultOutboxRetention != outbox.DefaultRetention {
		t.Errorf("config.DefaultOutboxRetention %v, outbox.DefaultRetention %v", config.DefaultOutboxRetention, outbox.DefaultRetention)
	}
	if config.DefaultOfflineMaxAge != forward.DefaultMaxAge {
		t.Errorf("config.DefaultOfflineMaxAge %v, forward.DefaultMaxAge %v", config.DefaultOfflineMaxAge, forward.DefaultMaxAge)
	}
	if config.DefaultForwardConcurrency != forward.DefaultConcurrency {
		t.Errorf("config.DefaultForwardConcurrency %d, forward.DefaultConcurrency %d", config.DefaultForwardConcurrency, forward.DefaultConcurrency)
	}
	if config.DefaultClockSkewThreshold != forward.DefaultSkewThreshold {
		t.Errorf("config.DefaultClockSkewThreshold %v, forward.DefaultSkewThreshold %v", config.DefaultClockSkewThreshold, forward.DefaultSkewThreshold)
	}
	// What a config with no key file says against where the outbox, given
	// none, makes it: the outbox does not export the name, so ask it.
	dir := t.TempDir()
	cfg := config.FromProto(&v1.Config{OutboxPath: filepath.Join(dir, "o.db")})
	st, err := outbox.Open(outbox.Options{Path: cfg.OutboxPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.OutboxKeyFile); err != nil {
		t.Errorf("the config's default key file is %s, the outbox's is elsewhere: %v", cfg.OutboxKeyFile, err)
	}
}
