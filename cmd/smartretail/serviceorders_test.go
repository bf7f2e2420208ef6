package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// serviceOrderConfig is the sandbox's config file switched to the
// service-order API.
func serviceOrderConfig(t *testing.T, srv *testkit.Sandbox) string {
	t.Helper()
	path, _ := srv.ConfigFile(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["payscore_api"], m["notify_url"] = "serviceorder", "https://merchant.example/payscore/notify"
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The service-order commands, as an operator runs them on a kiosk whose
// merchant has service orders: a modify, a collect after a failed
// deduction, a sync; on the smart-retail API they say UNIMPLEMENTED.
func TestServiceOrderCommands(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg := serviceOrderConfig(t, srv)
	for _, no := range []string{"CLI-M", "CLI-S"} {
		if code, out, errOut := runCLI(t, `{"out_order_no":"`+no+`","risk_amount":500,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","need_user_confirm":false,"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`,
			"create", "--config", cfg); code != 0 {
			t.Fatalf("create exit %d: %s %s", code, out, errOut)
		}
		if code, out, errOut := runCLI(t, `{"out_order_no":"`+no+`","finish_type":2,"fees":[{"fee_name":"水","fee_count":2,"fee_amount":400}],"total_amount":400}`,
			"complete", "--config", cfg); code != 0 {
			t.Fatalf("complete exit %d: %s %s", code, out, errOut)
		}
	}
	if err := srv.Sandbox.FailServiceOrderDeductions("CLI-M", true); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, `{"out_order_no":"CLI-M","fees":[{"fee_name":"水","fee_count":1,"fee_amount":200}],"reason":"少拿一瓶"}`, "modify", "--config", cfg); code != 0 || !strings.Contains(out, "DISPOSITION_SUBMITTED") {
		t.Fatalf("modify exit %d: %s %s", code, out, errOut)
	}
	if so, _ := srv.Sandbox.ServiceOrder("CLI-M"); so.TotalAmount == nil || *so.TotalAmount != 200 {
		t.Errorf("after modify WeChat Pay charges %v, want 200", so.TotalAmount)
	}
	if err := srv.Sandbox.FailServiceOrderDeductions("CLI-M", false); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, `{"out_order_no":"CLI-M"}`, "collect", "--config", cfg); code != 0 || !strings.Contains(out, `"out_order_no": "CLI-M"`) {
		t.Fatalf("collect exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, `{"out_order_no":"CLI-S","paid_time":"20261129"}`, "sync-paid", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"stage": "LIFECYCLE_STAGE_PAID"`) || !strings.Contains(out, `"paid_type": "MCH"`) {
		t.Fatalf("sync-paid exit %d: %s %s", code, out, errOut)
	}

	plain, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	code, out, errOut = runCLI(t, `{"out_order_no":"CLI-S"}`, "collect", "--config", plain)
	if code != 1 || !strings.Contains(errOut, "UNIMPLEMENTED") || !strings.Contains(errOut, "serviceorder") {
		t.Errorf("collect on smart retail: exit %d: %s %s", code, out, errOut)
	}
}
