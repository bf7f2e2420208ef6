package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Answers show what a person looks for: query its state (empty for an
// order WeChat Pay does not have yet) and, for a queued order, where it
// is and why; amounts as JSON numbers (protojson wrote "500"); status its
// network status even when UNKNOWN (protojson left the zero value out)
// and its counts at 0; & as itself, not \u0026.
func TestAnswersShowWhatMatters(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)

	sale := `{"out_order_no":"OUT-1","risk_amount":500,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"水&茶<柜>"}`
	if code, out, errOut := runCLI(t, sale, "create", "--config", cfg); code != 0 {
		t.Fatalf("create: exit %d %s %s", code, out, errOut)
	}
	// The plugin status starts has sent nothing: its network status is UNKNOWN.
	code, out, errOut := runCLI(t, "", "status", "--config", cfg)
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("status: exit %d, %v: %s %s", code, err, out, errOut)
	}
	for key, want := range map[string]any{"network_status": "NETWORK_STATUS_UNKNOWN", "queued_count": 0.0, "failed_count": 0.0, "pending_count": 0.0, "last_error": ""} {
		if got, ok := st[key]; !ok || got != want {
			t.Errorf("status %s = %#v (present %v), want %#v", key, got, ok, want)
		}
	}

	code, out, errOut = runCLI(t, "", "query", "--config", cfg, "--out-order-no", "OUT-1")
	if code != 0 {
		t.Fatalf("query: exit %d %s %s", code, out, errOut)
	}
	if !strings.Contains(out, `"state": "CREATED"`) || !strings.Contains(out, `"risk_amount": 500`) || !strings.Contains(out, `水&茶<柜>`) || strings.Contains(out, `\u00`) {
		t.Errorf("query printed:\n%s", out)
	}

	// Queued: the order has no state at WeChat Pay yet; queued says where it is.
	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	queued := `{"out_order_no":"OUT-2","risk_amount":700,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`
	if code, out, errOut := runCLI(t, queued, "create", "--config", cfg, "--offline", "force-offline"); code != 0 {
		t.Fatalf("force-offline create: exit %d %s %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "", "query", "--config", cfg, "--out-order-no", "OUT-2")
	var q struct {
		Order  map[string]any `json:"order"`
		Queued map[string]any `json:"queued"`
	}
	if err := json.Unmarshal([]byte(out), &q); code != 0 || err != nil {
		t.Fatalf("query queued: exit %d, %v: %s %s", code, err, out, errOut)
	}
	if _, ok := q.Order["state"]; !ok {
		t.Errorf("a queued order's query has no order.state:\n%s", out)
	}
	for _, key := range []string{"local_state", "attempts", "last_error"} {
		if _, ok := q.Queued[key]; !ok {
			t.Errorf("a queued order's query has no queued.%s:\n%s", key, out)
		}
	}
	if q.Queued["amount"] != 700.0 {
		t.Errorf("queued.amount = %#v, want the number 700", q.Queued["amount"])
	}
}

// Fields print in the order of the .proto, 64-bit integers as numbers
// (exactly, beyond 2^53), enums by name, timestamps as protojson does.
func TestMessageJSON(t *testing.T) {
	var out bytes.Buffer
	printJSON(&out, nil, &v1.QueryOrderResponse{
		Order:  &v1.Order{OutOrderNo: "K1", RiskAmount: 9007199254740993, Fees: []*v1.Fee{{FeeName: "a&b", FeeAmount: 1}}},
		Queued: &v1.QueuedOrder{LocalState: v1.LocalState_LOCAL_STATE_FAILED, FailureCode: "NO_AUTH"},
	})
	want := `{
  "order": {
    "out_order_no": "K1",
    "state": "",
    "fees": [
      {
        "fee_name": "a&b",
        "fee_amount": 1
      }
    ],
    "risk_amount": 9007199254740993,
    "order_id": "",
    "query_id": ""
  },
  "queued": {
    "local_state": "LOCAL_STATE_FAILED",
    "attempts": 0,
    "last_error": "",
    "failure_code": "NO_AUTH"
  }
}
`
	if out.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	printJSON(&out, nil, &v1.ListQueueResponse{})
	if out.String() != "{\n  \"orders\": []\n}\n" {
		t.Errorf("an empty list printed %q", out.String())
	}
}
