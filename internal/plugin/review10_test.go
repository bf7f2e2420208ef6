package plugin_test

// Cases an independent review of issue 10's changes found: each failed
// before its fix.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// dropEnv: an offlineEnv whose front drops the answer of the next
// complete after WeChat Pay did it, once dropComplete is set.
func dropEnv(t *testing.T, dropComplete *atomic.Bool) *offlineEnv {
	t.Helper()
	return newEnvWithFront(t, nil, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/complete") && dropComplete.CompareAndSwap(true, false) {
			next.ServeHTTP(httptest.NewRecorder(), r) // done at WeChat Pay
			panic(http.ErrAbortHandler)               // the answer is lost
		}
		next.ServeHTTP(w, r)
	})
}

// An online cancel of a confirmed order goes as a complete; its answer is
// lost, the forwarder reconciles it. The host's retry of the same cancel
// must be told a complete went (sent_operation), as when the answer came.
func TestSentOperationAfterAReconciledOnlineCancel(t *testing.T) {
	var drop atomic.Bool
	e := dropEnv(t, &drop)
	if _, err := e.create(t, noConfirm("SA-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	drop.Store(true)
	req := &v1.CancelOrderRequest{OutOrderNo: "SA-1", Reason: "未取货"}
	resp, err := e.o.CancelOrder(testkit.Context(t), req)
	t.Logf("first answer: %v, %v", resp, err)
	e.waitPending(t, 10*time.Second)
	endedUncharged(t, e.sb, "SA-1", "未取货")
	again, err := e.o.CancelOrder(testkit.Context(t), req)
	if err != nil || again.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED || again.GetSentOperation() != "complete" {
		t.Errorf("the same cancel again: %v, %v: WeChat Pay got a complete with finish_type 1", again, err)
	}
}

// A complete queued behind its queued create charged more than that
// create's risk_amount: the kiosk knows the rule and the amount, yet it
// answered QUEUED, and the sale was refused when the queue drained, after
// the customer had left with the goods. It is refused at once now.
func TestACompleteAboveTheQueuedRiskAmountIsRefusedAtOnce(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := e.create(t, noConfirm("RK-1", 500), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	_, err := e.o.CompleteOrder(testkit.Context(t), charge("RK-1", 800))
	if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); se.Reason != shared.ReasonTotalAboveRisk {
		t.Errorf("a complete of 800 behind a create with risk_amount 500: %+v", se)
	}
	if resp, err := e.o.CompleteOrder(testkit.Context(t), charge("RK-1", 500)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Errorf("a complete at the risk amount: %v, %v", resp, err)
	}
}

// Online: the customer confirms between the plugin's query (CREATED) and its
// cancel's arrival. The host was told the cancel failed, and the order
// stayed USER_ACCEPTED, open to a charge. Now the cancel is queued and the
// forwarder ends the order uncharged.
func TestAnOnlineCancelRacingTheConfirmationEndsItUncharged(t *testing.T) {
	e := newEnvWithFront(t, nil, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/cancel") {
			_ = next.(*sandbox.Sandbox).Accept(strings.Split(r.URL.Path, "/")[4]) // the customer confirms just now
		}
		next.ServeHTTP(w, r)
	})
	sb := e.sb
	if _, err := e.create(t, withConfirm("OR-1", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE); err != nil {
		t.Fatal(err)
	}
	resp, err := e.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: "OR-1", Reason: "未取货"})
	if err != nil {
		so, _ := sb.Order("OR-1")
		t.Fatalf("the host is told its cancel failed (%v), the order is %s", err, so.State)
	}
	t.Logf("cancel: %v", resp.GetDisposition())
	e.waitPending(t, 10*time.Second)
	endedUncharged(t, sb, "OR-1", "未取货")
}
