package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// queue drain says where it is while it waits: at least every
// progressEvery a line with the time elapsed, what is pending and queued,
// and when it asks again. Timing out is a TIMEOUT error (DRAIN_TIMEOUT),
// the one JSON object on stderr unless -v; a drained queue prints the
// status.
func TestDrainProgress(t *testing.T) {
	defer func(every time.Duration) { progressEvery = every }(progressEvery)
	progressEvery = 300 * time.Millisecond
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)
	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	sale := `{"out_order_no":"DRN-1","risk_amount":700,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`
	if code, out, errOut := runCLI(t, sale, "create", "--config", cfg, "--offline", "force-offline"); code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path, _, err := findPlugin(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := host.Start(ctx, host.Options{PluginPath: path, ConfigPath: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var out, errOut bytes.Buffer
	if code := drainProgress(ctx, c, 500*time.Millisecond, false, &out, &errOut); code != 1 || out.Len() != 0 {
		t.Errorf("drain offline: exit %d, stdout %q", code, out.String())
	}
	if e := oneError(t, errOut.String()); e.Error.Class != "TIMEOUT" || e.Error.Reason != reasonDrainTimeout || !strings.Contains(e.Error.Message, "1 orders still pending") {
		t.Errorf("drain offline: %s", errOut.String())
	}

	out.Reset()
	errOut.Reset()
	start := time.Now()
	if code := drainProgress(ctx, c, 2*time.Second, true, &out, &errOut); code != 1 {
		t.Errorf("drain offline, verbose: exit %d", code)
	}
	elapsed := time.Since(start)
	var progress []string
	for _, l := range strings.Split(errOut.String(), "\n") {
		if strings.HasPrefix(l, "drain: ") {
			progress = append(progress, l)
		}
	}
	if want := int(elapsed / progressEvery); len(progress) < want-1 {
		t.Errorf("%d progress lines in %v, want one every %v:\n%s", len(progress), elapsed, progressEvery, errOut.String())
	}
	for _, l := range progress {
		for _, part := range []string{" elapsed, ", "1 pending (1 queued creates)", "network OFFLINE", "next retry in "} {
			if !strings.Contains(l, part) {
				t.Errorf("progress line %q does not say %q", l, part)
			}
		}
	}
	if errorJSON(errOut.String()) == "" {
		t.Errorf("no JSON error after the progress:\n%s", errOut.String())
	}

	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	out.Reset()
	errOut.Reset()
	if code := drainProgress(ctx, c, 20*time.Second, false, &out, &errOut); code != 0 || errOut.Len() != 0 {
		t.Fatalf("drain online: exit %d, stderr %s", code, errOut.String())
	}
	var st map[string]any
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st["pending_count"] != 0.0 || st["queued_count"] != 0.0 {
		t.Errorf("drain online printed %s", out.String())
	}
	if so, ok := srv.Sandbox.Order("DRN-1"); !ok || so.CreateRequests != 1 {
		t.Errorf("DRN-1 at the sandbox: %+v", so)
	}
}
