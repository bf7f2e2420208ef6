package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// Issue 9, item 8: "queue status" and "queue list" started the forwarder
// and sent the queued orders. Looking changes nothing: with the network
// back, the inspection commands send WeChat Pay nothing and leave the
// order queued.
func TestLookingDoesNotSend(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)
	// Offline: every WeChat Pay request is cut off.
	srv.SetFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasPrefix(r.URL.Path, "/v3/") {
			panic(http.ErrAbortHandler)
		}
		next.ServeHTTP(w, r)
	})
	code, out, errOut := runCLI(t, `{"out_order_no":"LOOK-1","risk_amount":700,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`, "create", "--config", cfg, "--offline", "force-offline")
	if code != 0 || !strings.Contains(out, "DISPOSITION_QUEUED") {
		t.Fatalf("force-offline create: %d %s %s", code, out, errOut)
	}
	srv.SetFront(nil)
	before := srv.Calls.Load()
	for _, args := range [][]string{{"queue", "status"}, {"queue", "list"}, {"queue", "failed"}, {"status"}} {
		for range 3 {
			code, out, errOut := runCLI(t, "", append(args, "--config", cfg)...)
			if code != 0 {
				t.Fatalf("%v: %d %s %s", args, code, out, errOut)
			}
		}
	}
	if n := srv.Calls.Load() - before; n != 0 {
		t.Errorf("the inspection commands sent WeChat Pay %d requests", n)
	}
	if so, ok := srv.Order("LOOK-1"); ok {
		t.Errorf("an inspection command sent the queued order: %+v", so)
	}
	code, out, _ = runCLI(t, "", "queue", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "LOOK-1") || strings.Contains(out, "LOCAL_STATE_SUBMITTED") {
		t.Errorf("queue list after looking: %d %s", code, out)
	}
}
