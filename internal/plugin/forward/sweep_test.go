package forward_test

import (
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
)

// The expiry sweep went round for ever on an old order a person had put
// back from the failed list (stored long ago, retried since): it skipped
// the order without marking it seen, read it again, and the forwarder
// never sent anything.
func TestARetriedOldOrderDoesNotStopTheForwarder(t *testing.T) {
	e := setup(t, time.Hour)
	e.stop()
	long := time.Now().Add(-48 * time.Hour)
	o := &outbox.Order{OutOrderNo: "OLD-1", Amount: 100, StoredAt: long, RetriedAt: time.Now(),
		Ops: []outbox.Op{pending(outbox.OpCreate, createBody("OLD-1", false))}}
	if _, _, err := e.store.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
		t.Fatal(err)
	}
	e.recordCalls(t, time.Hour) // a forwarder starting on it: it sweeps first
	e.waitSettled(t, 10*time.Second)
	if so, ok := e.srv.Sandbox.Order("OLD-1"); !ok || so.CreateRequests != 1 {
		t.Errorf("OLD-1 at the sandbox: %+v", so)
	}
}
