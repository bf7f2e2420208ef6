package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

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
	const pageSize = 4096
	// A leaf of the orders bucket other than its first: salvage then has
	// orders to copy and one page it cannot read, whatever the layout (a
	// damaged root would leave nothing reachable). The orders bucket's root
	// is a branch page: a 16-byte header (id, flags, count, overflow), then
	// count elements of 16 bytes (pos, ksize uint32; pgid uint64).
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("orders"))
		if b == nil {
			return errors.New("no orders bucket")
		}
		root = uint64(b.Root())
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := raw[root*pageSize:]
	const branchFlag = 0x01
	if binary.LittleEndian.Uint16(page[8:]) != branchFlag || binary.LittleEndian.Uint16(page[10:]) < 2 {
		t.Fatal("the orders bucket's root is not a branch of two or more leaves: the test needs more orders")
	}
	leaf := binary.LittleEndian.Uint64(page[16+16+8:]) // the second element's pgid
	broken := append([]byte(nil), raw...)
	broken[leaf*pageSize] ^= 0x40 // the low byte of the page's own id
	if err := os.WriteFile(path, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := outbox.CheckFile(path); !errors.Is(err, outbox.ErrDamaged) {
		t.Fatalf("the check does not find page %d damaged: %v", leaf, err)
	}
}
