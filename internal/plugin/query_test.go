package plugin_test

import (
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// A query shows what matters: WeChat Pay's order_id once the outbox knows
// it (the smart-retail query answer has none), and the query_id it was
// asked by.
func TestAQueryShowsTheOrderIDAndQueryID(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := e.create(t, noConfirm("QI-1", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 10*time.Second)
	so, _ := e.sb.Order("QI-1")
	q, err := e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "QI-1"})
	if err != nil || q.GetOrder().GetOrderId() != so.OrderID || so.OrderID == "" {
		t.Fatalf("query by out_order_no: order_id %q, WeChat Pay's %q (%v)", q.GetOrder().GetOrderId(), so.OrderID, err)
	}
	q, err = e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{QueryId: so.QueryID})
	if err != nil || q.GetOrder().GetQueryId() != so.QueryID || q.GetOrder().GetOrderId() != so.OrderID || q.GetQueued().GetLocalState() != v1.LocalState_LOCAL_STATE_SUBMITTED {
		t.Errorf("query by query_id: %v (%v)", q, err)
	}
}
