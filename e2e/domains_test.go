package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Through the real binary, with WeChat Pay's main domain down every sale
// goes through the backup (even one the customer must confirm, which could
// not queue); with the backup down too sales queue, and drain when the main
// domain is back. No order reaches WeChat Pay twice.
func TestTheBackupDomainThroughTheBinary(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	backup := srv.StartBackup(t)
	config, _ := srv.ConfigFile(t) // names api_backup_base_url
	c, _ := startHost(t, host.Options{ConfigPath: config})
	if st := testkit.Status(t, c); st.GetApiBaseUrlInUse() != srv.URL {
		t.Fatalf("at start the domain in use is %q, want the main one %q", st.GetApiBaseUrlInUse(), srv.URL)
	}
	noConfirm := false
	sell := func(no string, confirm *bool, want v1.Disposition) {
		t.Helper()
		resp, err := c.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: newSale(no, 1000, confirm)})
		if err != nil || resp.GetDisposition() != want {
			t.Fatalf("%s: %v, %v; want %v", no, resp, err, want)
		}
	}

	if err := srv.SetFaults(sandboxFaults(sandbox.FaultOffline)); err != nil {
		t.Fatal(err)
	}
	var sold []string
	for i := range 5 {
		no := fmt.Sprintf("BK-%d", i)
		sell(no, &noConfirm, v1.Disposition_DISPOSITION_SUBMITTED)
		sold = append(sold, no)
	}
	sell("BK-CONFIRM", nil, v1.Disposition_DISPOSITION_SUBMITTED)
	sold = append(sold, "BK-CONFIRM")
	if st := testkit.Status(t, c); st.GetApiBaseUrlInUse() != backup || st.GetNetworkStatus() != v1.NetworkStatus_NETWORK_STATUS_ONLINE {
		t.Errorf("main domain down: in use %q (backup %q), network %v", st.GetApiBaseUrlInUse(), backup, st.GetNetworkStatus())
	}
	if n := srv.BackupCalls.Load(); n < int64(len(sold)) {
		t.Errorf("%d requests reached the backup for %d sales", n, len(sold))
	}
	if ev := firstEvent(t, c, func(ev *v1.Event) bool { return ev.GetType() == v1.EventType_EVENT_TYPE_API_DOMAIN_CHANGED }); ev.GetApiBaseUrl() != backup {
		t.Errorf("API_DOMAIN_CHANGED event: %v, want one naming %q", ev, backup)
	}

	if err := srv.Backup().SetFaults(sandboxFaults(sandbox.FaultOffline)); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		no := fmt.Sprintf("BQ-%d", i)
		sell(no, &noConfirm, v1.Disposition_DISPOSITION_QUEUED)
		sold = append(sold, no)
	}

	if err := srv.SetFaults(sandboxFaults(sandbox.FaultNone)); err != nil {
		t.Fatal(err)
	}
	st := waitNothingPending(t, c, 30*time.Second)
	if st.GetFailedCount() != 0 || st.GetApiBaseUrlInUse() != srv.URL {
		t.Errorf("after the main domain came back: %d failed, in use %q", st.GetFailedCount(), st.GetApiBaseUrlInUse())
	}
	for _, no := range sold {
		if so, ok := srv.Order(no); !ok || so.CreateRequests != 1 {
			t.Errorf("%s at WeChat Pay: %v, %d create requests", no, ok, so.CreateRequests)
		}
	}
	back := firstEvent(t, c, func(ev *v1.Event) bool {
		return ev.GetType() == v1.EventType_EVENT_TYPE_API_DOMAIN_CHANGED && ev.GetApiBaseUrl() == srv.URL
	})
	if back == nil {
		t.Error("no API_DOMAIN_CHANGED event for the way back to the main domain")
	}
}
