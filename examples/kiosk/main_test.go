package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/sandbox"
)

func TestMain(m *testing.M) {
	// The test binary is the plugin too, so the test needs nothing built.
	if plugin.IsPluginLaunch() {
		plugin.Serve()
		return
	}
	os.Exit(m.Run())
}

func TestKiosk(t *testing.T) {
	srv, err := sandbox.NewServer(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg, err := srv.WriteConfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, self, cfg, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "state CREATED") {
		t.Errorf("output:\n%s", out.String())
	}
	orders := srv.Sandbox.Orders()
	if len(orders) != 1 || orders[0].CreateRequests != 1 {
		t.Errorf("sandbox orders: %+v", orders)
	}
}
