package main

import (
	"encoding/json"
	"testing"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// query prints QueryOrder's whole answer: for an order the outbox holds,
// its queued part (local_state, and a failed order's code and message).
func TestQueryPrintsTheQueuedPart(t *testing.T) {
	// The sandbox refuses a risk_amount above the service's (10000 here),
	// which the kiosk cannot know: the queued create fails when sent.
	srv := testkit.Start(t, sandbox.Options{MaxRiskAmount: 10000})
	cfg, _ := srv.ConfigFile(t)
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	sale := `{"out_order_no":"CLI-Q1","service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜",` +
		`"risk_amount":20000,"need_user_confirm":false,"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`
	if code, out, errOut := runCLI(t, sale, "create", "--config", cfg, "--offline", "force-offline"); code != 0 {
		t.Fatalf("create exit %d: %s %s", code, out, errOut)
	}
	type answer struct {
		Order struct {
			OutOrderNo string `json:"out_order_no"`
		} `json:"order"`
		Queued struct {
			LocalState     string `json:"local_state"`
			FailureCode    string `json:"failure_code"`
			FailureMessage string `json:"failure_message"`
		} `json:"queued"`
	}
	query := func() answer {
		t.Helper()
		code, out, errOut := runCLI(t, "", "query", "--config", cfg, "--out-order-no", "CLI-Q1")
		if code != 0 {
			t.Fatalf("query exit %d: %s %s", code, out, errOut)
		}
		var a answer
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Fatalf("query printed %q: %v", out, err)
		}
		return a
	}
	// The plugin this query starts may already be trying to send it.
	if a := query(); a.Order.OutOrderNo != "CLI-Q1" || a.Queued.LocalState != "LOCAL_STATE_QUEUED" && a.Queued.LocalState != "LOCAL_STATE_SUBMITTING" {
		t.Errorf("query while offline: %+v, want queued.local_state QUEUED or SUBMITTING", a)
	}

	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	if code, out, errOut := runCLI(t, "", "queue", "drain", "--config", cfg); code != 0 {
		t.Fatalf("drain exit %d: %s %s", code, out, errOut)
	}
	if a := query(); a.Queued.LocalState != "LOCAL_STATE_FAILED" || a.Queued.FailureCode != "PARAM_ERROR" || a.Queued.FailureMessage == "" {
		t.Errorf("query after WeChat Pay refused it: %+v, want queued.local_state FAILED with PARAM_ERROR and its message", a)
	}
}
