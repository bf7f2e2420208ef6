package plugin_test

// Issue 10, item 2: cancel means "do not charge". WeChat Pay takes a cancel
// only before the customer confirms (CREATED); an order they confirmed is
// ended uncharged by a complete with finish_type 1.

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

func endedUncharged(t *testing.T, sb interface {
	Order(string) (sandbox.Order, bool)
}, no, reason string) {
	t.Helper()
	so, ok := sb.Order(no)
	if !ok || so.State != sandbox.StateFinished || so.FinishType != 1 || so.TotalAmount == nil || *so.TotalAmount != 0 || so.CancelReason != reason {
		t.Errorf("%s at the sandbox: %+v, want FINISHED with finish_type 1, nothing charged, cancel_reason %q", no, so, reason)
	}
}

func TestCancelOfAConfirmedOrderEndsItUncharged(t *testing.T) {
	e := newOfflineEnv(t, nil)
	if _, err := e.create(t, noConfirm("CX-1", 1000), 0); err != nil { // USER_ACCEPTED at once
		t.Fatal(err)
	}
	req := &v1.CancelOrderRequest{OutOrderNo: "CX-1", Reason: "未取货"}
	resp, err := e.o.CancelOrder(testkit.Context(t), req)
	if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED || resp.GetSentOperation() != "complete" {
		t.Fatalf("cancel: %v, %v", resp, err)
	}
	endedUncharged(t, e.sb, "CX-1", "未取货")
	// The same cancel again is its first outcome.
	if again, err := e.o.CancelOrder(testkit.Context(t), req); err != nil || again.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED || again.GetSentOperation() != "complete" {
		t.Errorf("the same cancel again: %v, %v", again, err)
	}

	// Not yet confirmed: a cancel.
	confirm := noConfirm("CX-2", 1000)
	confirm.NeedUserConfirm = nil
	if _, err := e.create(t, confirm, v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: "CX-2", Reason: "未取货"}); err != nil || resp.GetSentOperation() != "cancel" {
		t.Fatalf("cancel of CX-2: %v, %v", resp, err)
	}
	if so, _ := e.sb.Order("CX-2"); so.State != sandbox.StateRevoked {
		t.Errorf("CX-2: %s, want REVOKED", so.State)
	}
}

func TestAQueuedCancelOfAConfirmedOrderEndsItUncharged(t *testing.T) {
	e := newOfflineEnv(t, nil)
	if _, err := e.create(t, noConfirm("CQ-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "CQ-1"}) // learns it is offline
	resp, err := e.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: "CQ-1", Reason: "门未开"})
	if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("cancel offline: %v, %v", resp, err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 10*time.Second)
	endedUncharged(t, e.sb, "CQ-1", "门未开")
	// The host hears how it ended.
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	told := false
	e.svc.WatchEvents(c, &v1.WatchEventsRequest{}, func(ev *v1.Event) error {
		told = told || ev.GetOutOrderNo() == "CQ-1" && ev.GetType() == v1.EventType_EVENT_TYPE_OPERATION_SUBMITTED && strings.Contains(ev.GetMessage(), "finish_type 1")
		return nil
	})
	if !told {
		t.Error("no OPERATION_SUBMITTED event says the cancel ended the order by a complete")
	}
	if st := e.status(t); st.GetFailedCount() != 0 {
		t.Errorf("failed: %v", st)
	}
}

func TestACancelOfAnEndedOrderIsRefusedWithItsState(t *testing.T) {
	e := newOfflineEnv(t, nil)
	for _, no := range []string{"CE-FIN", "CE-EXP"} {
		if _, err := e.create(t, noConfirm(no, 1000), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.o.CompleteOrder(testkit.Context(t), charge("CE-FIN", 100)); err != nil {
		t.Fatal(err)
	}
	confirm := noConfirm("CE-EXP", 1000)
	confirm.OutOrderNo, confirm.NeedUserConfirm = "CE-EXP2", nil
	if _, err := e.create(t, confirm, v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.Expire("CE-EXP2"); err != nil {
		t.Fatal(err)
	}
	for no, state := range map[string]string{"CE-FIN": "FINISHED", "CE-EXP2": "EXPIRED"} {
		_, err := e.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: no, Reason: "未取货"})
		if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); se.Reason != "ORDER_STATE_"+state {
			t.Errorf("cancel of a %s order: %+v", state, se)
		}
	}
	if so, _ := e.sb.Order("CE-FIN"); so.TotalAmount == nil || *so.TotalAmount != 100 {
		t.Errorf("CE-FIN: %+v", so)
	}
}
