package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// Issue 9, item 5: a damaged outbox made the plugin panic or die with
// SIGSEGV at Configure, on every start; the host saw only "error reading
// from server: EOF". Now it is refused with INVALID on config.outbox_path
// saying what to do, and "queue salvage" is the way out.
func TestDamagedOutboxIsRefusedAndSalvaged(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)
	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	for i := range 40 {
		body := fmt.Sprintf(`{"out_order_no":"DMG-%02d","risk_amount":100,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`, i)
		if code, out, errOut := runCLI(t, body, "create", "--config", cfg, "--offline", "force-offline"); code != 0 {
			t.Fatalf("create: %d %s %s", code, out, errOut)
		}
	}
	path := filepath.Join(filepath.Dir(cfg), "outbox.db")
	damagePage(t, path)
	for _, args := range [][]string{{"queue", "status"}, {"create", "--offline", "force-offline"}} {
		code, out, errOut := runCLI(t, `{"out_order_no":"DMG-NEW","risk_amount":100,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`, append(args, "--config", cfg)...)
		var got struct {
			Error struct {
				Class      string `json:"class"`
				Message    string `json:"message"`
				Violations []struct {
					Field       string `json:"field"`
					Description string `json:"description"`
				} `json:"violations"`
			} `json:"error"`
		}
		if code != 1 || json.Unmarshal([]byte(errOut), &got) != nil || got.Error.Class != "INVALID" || len(got.Error.Violations) != 1 ||
			got.Error.Violations[0].Field != "config.outbox_path" || !strings.Contains(got.Error.Violations[0].Description, "damaged") ||
			!strings.Contains(got.Error.Message, "smartretail queue salvage") {
			t.Fatalf("%v on a damaged outbox: exit %d\n%s\n%s", args, code, out, errOut)
		}
	}

	code, out, errOut := runCLI(t, "", "queue", "salvage", "--config", cfg)
	if code != 0 {
		t.Fatalf("salvage: %d %s %s", code, out, errOut)
	}
	var rep salvageReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.DamagedCopy == "" {
		t.Fatalf("salvage report: %v\n%s", err, out)
	}
	if _, err := os.Stat(rep.DamagedCopy); err != nil {
		t.Errorf("the damaged copy is not kept: %v", err)
	}
	code, out, errOut = runCLI(t, "", "queue", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"queued_count": %d,`, len(rep.Orders))) && len(rep.Orders) > 0 {
		t.Errorf("status after salvage (%d orders copied): %d %s %s", len(rep.Orders), code, out, errOut)
	}
	if len(rep.Orders) == 0 || len(rep.Unreadable) == 0 {
		t.Errorf("salvage copied %d of 40 orders; unreadable: %v", len(rep.Orders), rep.Unreadable)
	}
	t.Logf("salvage copied %d of 40 orders; unreadable: %v", len(rep.Orders), rep.Unreadable)
	code, out, errOut = runCLI(t, `{"out_order_no":"DMG-AFTER","risk_amount":100,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`, "create", "--config", cfg, "--offline", "force-offline")
	if code != 0 {
		t.Errorf("a sale after the salvage: %d %s %s", code, out, errOut)
	}
}

// damagePage breaks the stored page number of the first page in use (one
// whose damage the file check finds), as a flipped bit would: the rest of
// the outbox stays readable.
func damagePage(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	for p := 2; p < len(raw)/pageSize; p++ {
		broken := append([]byte(nil), raw...)
		broken[p*pageSize] ^= 0x40 // the low byte of the page's own id
		if err := os.WriteFile(path, broken, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := outbox.CheckFile(path); errors.Is(err, outbox.ErrDamaged) {
			return
		}
	}
	t.Fatal("no page whose damage the check finds")
}
