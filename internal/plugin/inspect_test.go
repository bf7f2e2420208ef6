package plugin_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Issue 9, item 8: a plugin configured to inspect answers GetStatus and
// ListQueue from the outbox and refuses everything that sends or changes.
func TestInspectOnlyLooks(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := e.create(t, noConfirm("INS-1", 100), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	o, _ := harnessWith(t)
	if _, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg, Inspect: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := o.GetStatus(testkit.Context(t), &v1.GetStatusRequest{}); err != nil || st.GetQueuedCount() != 1 {
		t.Errorf("status: %v, %v", st, err)
	}
	if l, err := o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{}); err != nil || len(l.GetOrders()) != 1 {
		t.Errorf("list: %v, %v", l, err)
	}
	_, err := o.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: noConfirm("INS-2", 100)})
	testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassNotConfigured)
	_, err = o.Drain(testkit.Context(t), &v1.DrainRequest{})
	testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassNotConfigured)
	_, err = o.CompactOutbox(testkit.Context(t), &v1.CompactOutboxRequest{})
	testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassNotConfigured)
	if _, ok := e.sb.Order("INS-1"); ok {
		t.Error("an inspecting plugin sent the queued order")
	}
}
