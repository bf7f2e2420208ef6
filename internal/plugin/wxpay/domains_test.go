package wxpay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// With the main domain down, every request goes to the backup, which
// serves the same orders; the domain in use is reported. With both down,
// the error is a network one, as with no backup.
func TestTheBackupDomainTakesOver(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	srv.StartBackup(t)
	var changes []string
	s := srv.Settings()
	s.OnDomainChange = func(u string) { changes = append(changes, u) }
	wx, err := wxpay.New(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	confirm := false
	create := wxpay.CreateRequest{OutOrderNo: "BK-1", ServiceStartTime: "OnAccept", ServiceStartLocation: "K-17",
		ServiceIntroduction: "无人零售柜", RiskAmount: 1000, NeedUserConfirm: &confirm, OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
	srv.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := wx.Create(ctx, create); err != nil {
		t.Fatalf("create with the main domain down: %v", err)
	}
	if wx.InUse() != srv.BackupURL || len(changes) != 1 || changes[0] != srv.BackupURL {
		t.Errorf("in use %s, changes %v; want the backup %s", wx.InUse(), changes, srv.BackupURL)
	}
	mainCalls := srv.Calls.Load()
	if _, err := wx.Query(ctx, wxpay.QueryRequest{OutOrderNo: "BK-1"}); err != nil {
		t.Fatalf("query on the backup: %v", err)
	}
	if srv.Calls.Load() != mainCalls {
		t.Error("a request went to the main domain while the backup is in use")
	}
	if so, _ := srv.Order("BK-1"); so.CreateRequests != 1 {
		t.Errorf("the create reached WeChat Pay %d times", so.CreateRequests)
	}
	if err := srv.Backup().SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	_, err = wx.Query(ctx, wxpay.QueryRequest{OutOrderNo: "BK-1"})
	if !isClass(err, wxpay.Network) {
		t.Errorf("both domains down: %v", err)
	}
}

// Without a backup nothing changes: one request, one domain.
func TestNoBackupNoSecondRequest(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	wx := srv.WeChat(t)
	srv.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := wx.Query(context.Background(), wxpay.QueryRequest{OutOrderNo: "NB-1"}); !isClass(err, wxpay.Network) {
		t.Fatalf("query: %v", err)
	}
	if n := srv.Calls.Load(); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func isClass(err error, c wxpay.Class) bool {
	var e *wxpay.Error
	return errors.As(err, &e) && e.Class == c
}

// After a quiet while on the backup, the main domain is tried first again.
func TestBackToTheMainDomain(t *testing.T) {
	var kiosk testkit.Clock
	srv := testkit.Start(t, sandbox.Options{Now: kiosk.True})
	srv.StartBackup(t)
	s := srv.Settings()
	s.Clock = clock.New(&kiosk)
	wx, err := wxpay.New(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := wx.Query(ctx, wxpay.QueryRequest{OutOrderNo: "BM-1"}); !isClass(err, wxpay.NotFound) {
		t.Fatalf("query through the backup: %v", err)
	}
	srv.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	kiosk.Advance(wxpay.BackToMainAfter - time.Second)
	if wx.InUse() != srv.BackupURL {
		t.Fatalf("back on %s before the quiet while", wx.InUse())
	}
	kiosk.Advance(time.Second)
	before := srv.Calls.Load()
	if _, err := wx.Query(ctx, wxpay.QueryRequest{OutOrderNo: "BM-1"}); !isClass(err, wxpay.NotFound) {
		t.Fatal(err)
	}
	if wx.InUse() != srv.URL || srv.Calls.Load() != before+1 {
		t.Errorf("after the quiet while: in use %s, %d requests to the main domain", wx.InUse(), srv.Calls.Load()-before)
	}
}
