package plugin_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// With WeChat Pay's main domain down every sale goes through the backup;
// with the backup down too they queue, and drain when a domain answers.
// No order reaches WeChat Pay twice.
func TestSalesGoThroughTheBackupDomain(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.cfg.ApiBackupBaseUrl = e.sb.StartBackup(t)
	if _, err := e.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg}); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	for i := range 5 {
		no := fmt.Sprintf("BK-%d", i)
		if resp, err := e.create(t, noConfirm(no, 1000), 0); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
			t.Fatalf("%s with the main domain down: %v, %v", no, resp, err)
		}
	}
	if st := e.status(t); st.GetApiBaseUrlInUse() != e.sb.BackupURL || st.GetNetworkStatus() != v1.NetworkStatus_NETWORK_STATUS_ONLINE {
		t.Errorf("status: in use %q, network %v", st.GetApiBaseUrlInUse(), st.GetNetworkStatus())
	}
	if ev := findEvent(t, e, v1.EventType_EVENT_TYPE_API_DOMAIN_CHANGED); ev.GetApiBaseUrl() != e.sb.BackupURL {
		t.Errorf("API_DOMAIN_CHANGED event: %v", ev)
	}
	if err := e.sb.Backup().SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		no := fmt.Sprintf("BQ-%d", i)
		if resp, err := e.create(t, noConfirm(no, 1000), 0); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("%s with both domains down: %v, %v", no, resp, err)
		}
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 20*time.Second)
	for _, p := range []string{"BK", "BQ"} {
		for i := range 5 {
			if so, ok := e.sb.Order(fmt.Sprintf("%s-%d", p, i)); !ok || so.CreateRequests != 1 {
				t.Errorf("%s-%d at WeChat Pay: %+v", p, i, so)
			}
		}
	}
	if st := e.status(t); st.GetApiBaseUrlInUse() != e.sb.URL || st.GetFailedCount() != 0 {
		t.Errorf("after the main domain came back: in use %q, %d failed", st.GetApiBaseUrlInUse(), st.GetFailedCount())
	}
}
