package plugin_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// offlineEnv is a configured plugin (in-process, over gRPC) in front of a
// sandbox that counts the WeChat Pay requests reaching it (sb.Calls).
type offlineEnv struct {
	clock testkit.Clock // the plugin's
	// wechatOffset is how far WeChat Pay's clock is from the test world's
	// (a time.Duration).
	wechatOffset atomic.Int64
	// failQueries makes every WeChat Pay query fail (the connection is
	// dropped), to take away the plugin's means of checking.
	failQueries atomic.Bool
	o           shared.Orders
	svc         *plugin.Service
	sb          *testkit.Sandbox
	cfg         *v1.Config
	log         syncBuffer // the plugin's log, debug lines included
}

func newOfflineEnv(t *testing.T, edit func(*v1.Config)) *offlineEnv {
	t.Helper()
	return newEnvWithFront(t, edit, nil)
}

// newEnvWithFront is newOfflineEnv with front standing between the plugin
// and the sandbox, for a test that makes WeChat Pay slow, forgetful or
// changeable at a chosen request; nil passes every request on.
func newEnvWithFront(t *testing.T, edit func(*v1.Config), front testkit.Front) *offlineEnv {
	t.Helper()
	e := &offlineEnv{}
	// WeChat Pay's clock is the test world's time (the kiosk's clock less
	// its jumps), off by wechatOffset.
	e.sb = testkit.Start(t, sandbox.Options{Now: func() time.Time { return e.clock.True().Add(time.Duration(e.wechatOffset.Load())) }})
	e.sb.SetFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasPrefix(r.URL.Path, "/v3/") && r.Method == http.MethodGet && e.failQueries.Load() {
			panic(http.ErrAbortHandler) // no answer
		}
		if front != nil {
			front(w, r, next)
			return
		}
		next.ServeHTTP(w, r)
	})
	e.cfg = e.sb.Config(t)
	if edit != nil {
		edit(e.cfg)
	}
	logger := hclog.New(&hclog.LoggerOptions{Output: &e.log, Level: hclog.Debug})
	e.o, e.svc = harnessLogged(t, logger, plugin.WithClock(&e.clock))
	if _, err := e.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg}); err != nil {
		t.Fatal(err)
	}
	return e
}

// waitLog waits for the plugin to log a line holding text.
func (e *offlineEnv) waitLog(t *testing.T, text string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "the plugin logs "+strconv.Quote(text), func() bool {
		return strings.Contains(e.log.String(), text)
	})
}

func noConfirm(no string, risk int64) *v1.NewOrder {
	f := false
	return &v1.NewOrder{OutOrderNo: no, ServiceStartTime: "OnAccept", RiskAmount: risk, NeedUserConfirm: &f,
		Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", ServiceStartLocation: "K-17", ServiceIntroduction: "无人零售柜"}
}

// withConfirm is an order the customer must confirm (need_user_confirm
// left out: true), meeting every rule WeChat Pay has for a create.
func withConfirm(no string, risk int64) *v1.NewOrder {
	return &v1.NewOrder{OutOrderNo: no, ServiceStartTime: "OnAccept", RiskAmount: risk,
		ServiceStartLocation: "K-17", ServiceIntroduction: "无人零售柜"}
}

func (e *offlineEnv) create(t *testing.T, order *v1.NewOrder, b v1.OfflineBehavior) (*v1.CreateOrderResponse, error) {
	t.Helper()
	return e.o.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: order, OfflineBehavior: b})
}

func (e *offlineEnv) status(t *testing.T) *v1.GetStatusResponse {
	t.Helper()
	return testkit.Status(t, e.o)
}

// waitOffline waits until the plugin has found WeChat Pay unreachable and
// no attempt is still out (every order tried has its error): the
// forwarder then backs off before it tries again.
func (e *offlineEnv) waitOffline(t *testing.T) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "offline with no attempt out", func() bool {
		if e.status(t).GetNetworkStatus() != v1.NetworkStatus_NETWORK_STATUS_OFFLINE {
			return false
		}
		l, err := e.o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range l.GetOrders() {
			if q.GetAttempts() > 0 && q.GetLastError() == "" {
				return false // out now
			}
		}
		return true
	})
}

// waitPending waits until no order has work left in the outbox, waking
// the forwarder while some has.
func (e *offlineEnv) waitPending(t *testing.T, within time.Duration) {
	t.Helper()
	testkit.WaitStatus(t, e.o, within, "nothing pending", func(st *v1.GetStatusResponse) bool {
		if st.GetPendingCount() == 0 {
			return true
		}
		e.o.Drain(testkit.Context(t), &v1.DrainRequest{})
		return false
	})
}

func TestForceOfflineQueuesThenDrains(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	resp, err := e.create(t, noConfirm("FO-1", 500), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED || resp.GetStoredAt() == nil || resp.GetOrder().GetOutOrderNo() != "FO-1" {
		t.Fatalf("create: %v", resp)
	}
	q, err := e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "FO-1"})
	if err != nil {
		t.Fatal(err)
	}
	// QUEUED, or SUBMITTING once the forwarder has tried it against the offline sandbox.
	if ls := q.GetQueued().GetLocalState(); (ls != v1.LocalState_LOCAL_STATE_QUEUED && ls != v1.LocalState_LOCAL_STATE_SUBMITTING) ||
		q.GetOrder().GetRiskAmount() != 500 || q.GetOrder().GetState() != "" {
		t.Errorf("query of a queued order: %v", q)
	}
	// A complete now waits behind its create.
	total := int64(300)
	comp, err := e.o.CompleteOrder(testkit.Context(t), &v1.CompleteOrderRequest{OutOrderNo: "FO-1", FinishType: 2,
		Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}}, TotalAmount: &total})
	if err != nil || comp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("complete behind a queued create: %v, %v", comp, err)
	}
	st := e.status(t)
	if st.GetQueuedCount() != 1 || st.GetQueuedAmount() != 500 || st.GetPendingCount() != 1 {
		t.Errorf("status while queued: %v", st)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 15*time.Second)
	so, ok := e.sb.Order("FO-1")
	if !ok || so.State != sandbox.StateFinished || so.CreateRequests != 1 {
		t.Fatalf("at the sandbox: %+v", so)
	}
	q, err = e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "FO-1"})
	if err != nil || q.GetOrder().GetState() != "FINISHED" || q.GetQueued().GetLocalState() != v1.LocalState_LOCAL_STATE_SUBMITTED {
		t.Errorf("query once sent: %v, %v", q, err)
	}
}

func TestPreferOnlineQueuesWhenOfflineAndThenAtOnce(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	first, err := e.create(t, noConfirm("PO-1", 100), v1.OfflineBehavior_OFFLINE_BEHAVIOR_UNSPECIFIED)
	if err != nil || first.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("first sale offline: %v, %v", first, err)
	}
	if e.status(t).GetNetworkStatus() != v1.NetworkStatus_NETWORK_STATUS_OFFLINE {
		t.Fatalf("status %v", e.status(t))
	}
	before := e.sb.Calls.Load()
	for i := 2; i <= 4; i++ {
		resp, err := e.create(t, noConfirm("PO-"+string(rune('0'+i)), 100), v1.OfflineBehavior_OFFLINE_BEHAVIOR_PREFER_ONLINE)
		if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("sale %d: %v, %v", i, resp, err)
		}
	}
	// Known offline: the next sales were queued without trying WeChat Pay
	// (the forwarder's own attempts are at most one at a time).
	if tried := e.sb.Calls.Load() - before; tried > 2 {
		t.Errorf("%d requests went out for 3 sales while known offline", tried)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 15*time.Second)
	for _, no := range []string{"PO-1", "PO-2", "PO-3", "PO-4"} {
		if so, ok := e.sb.Order(no); !ok || so.CreateRequests != 1 {
			t.Errorf("%s: %+v", no, so)
		}
	}
	if e.status(t).GetNetworkStatus() != v1.NetworkStatus_NETWORK_STATUS_ONLINE {
		t.Errorf("status after the drain %v", e.status(t))
	}
}

func TestWhatIsNotQueued(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	// An order that needs the customer's confirmation needs its package now.
	_, err := e.create(t, withConfirm("NC-1", 100), v1.OfflineBehavior_OFFLINE_BEHAVIOR_PREFER_ONLINE)
	se := testkit.WantError(t, err, codes.Unavailable, shared.ClassNetwork)
	// (A reset connection may have carried the request: it is kept to be
	// reconciled, never sent again, and does not count as queued.)
	if se.Reason != plugin.ReasonNeedsConfirmationOnline || se.OutOrderNo != "NC-1" {
		t.Errorf("need_user_confirm offline: %+v", se)
	}
	_, err = e.create(t, withConfirm("NC-2", 100), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE)
	if se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid); se.Reason != plugin.ReasonNeedsConfirmationOnline {
		t.Errorf("need_user_confirm forced offline: %+v", se)
	}
	_, err = e.create(t, noConfirm("RO-1", 100), v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE)
	if se := testkit.WantError(t, err, codes.Unavailable, shared.ClassNetwork); se.Reason != plugin.ReasonOffline {
		t.Errorf("require online: %+v", se)
	}
	if st := e.status(t); st.GetQueuedCount() != 0 {
		t.Errorf("something was queued: %v", st)
	}
	// With the switch on, confirmation orders may wait too.
	e2 := newOfflineEnv(t, func(c *v1.Config) { c.OfflineAllowUserConfirm = true })
	e2.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if resp, err := e2.create(t, withConfirm("NC-3", 100), 0); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Errorf("offline_allow_user_confirm: %v, %v", resp, err)
	}
}

func TestAmbiguousCreateIsQueuedAndReconciled(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultDropResponse})
	resp, err := e.create(t, noConfirm("AMB-1", 100), 0)
	if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("ambiguous create: %v, %v", resp, err)
	}
	q, _ := e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "AMB-1"})
	if q.GetQueued().GetLocalState() != v1.LocalState_LOCAL_STATE_SUBMITTING {
		t.Errorf("an ambiguous create is %v, want SUBMITTING", q.GetQueued())
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 15*time.Second)
	so, _ := e.sb.Order("AMB-1")
	if so.CreateRequests > 2 {
		t.Errorf("create requests %d", so.CreateRequests)
	}
	// REQUIRE_ONLINE: never queued, but not lost either: reconciled only.
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultDropResponse})
	_, err = e.create(t, noConfirm("AMB-2", 100), v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE)
	se := testkit.WantError(t, err, codes.Unavailable, shared.ClassNetwork)
	if !se.ReachedServer || se.OutOrderNo != "AMB-2" {
		t.Errorf("require-online ambiguous: %+v", se)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 15*time.Second)
	q, err = e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "AMB-2"})
	if err != nil || q.GetOrder().GetState() != "USER_ACCEPTED" {
		t.Errorf("the require-online order that did arrive: %v, %v", q, err)
	}
	if so, _ := e.sb.Order("AMB-2"); so.CreateRequests != 1 {
		t.Errorf("a reconcile-only create was resent: %d requests", so.CreateRequests)
	}
}

func TestOfflineLimits(t *testing.T) {
	e := newOfflineEnv(t, func(c *v1.Config) {
		c.OfflineMaxOrders, c.OfflineMaxOrderAmount, c.OfflineMaxTotalAmount = 3, 1000, 1500
	})
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	force := v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE
	for _, tc := range []struct {
		no     string
		amount int64
		reason string
	}{
		{"LIM-1", 1001, "MAX_ORDER_AMOUNT"},
		{"LIM-1", 1000, ""},
		{"LIM-2", 501, "MAX_QUEUED_AMOUNT"},
		{"LIM-2", 400, ""},
		{"LIM-3", 100, ""},
		{"LIM-4", 1, "MAX_QUEUED_ORDERS"},
	} {
		_, err := e.create(t, noConfirm(tc.no, tc.amount), force)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s %d: %v", tc.no, tc.amount, err)
			}
			continue
		}
		se := testkit.WantError(t, err, codes.ResourceExhausted, shared.ClassOfflineLimit)
		if se.Reason != tc.reason || se.OutOrderNo != tc.no {
			t.Errorf("%s %d: %+v, want %s", tc.no, tc.amount, se, tc.reason)
		}
	}
}

func TestExpiryFailedListRetryAndDrop(t *testing.T) {
	e := newOfflineEnv(t, func(c *v1.Config) { c.OfflineMaxAge = "24h" })
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	force := v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE
	for _, no := range []string{"EXP-1", "EXP-2"} {
		if _, err := e.create(t, noConfirm(no, 100), force); err != nil {
			t.Fatal(err)
		}
	}
	// Once the forwarder has failed to send them (and backs off), a day
	// passes, still offline.
	e.waitOffline(t)
	e.clock.Advance(25 * time.Hour)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 10*time.Second)
	failed, err := e.o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{Failed: true})
	if err != nil || len(failed.GetOrders()) != 2 || failed.GetOrders()[0].GetFailureCode() != "EXPIRED_OFFLINE" {
		t.Fatalf("failed list: %v, %v", failed, err)
	}
	if _, ok := e.sb.Order("EXP-1"); ok {
		t.Error("an expired order was sent")
	}
	_, err = e.o.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: noConfirm("EXP-1", 100)})
	if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); se.Reason != "EXPIRED_OFFLINE" {
		t.Errorf("a create for a failed order: %+v", se)
	}
	if _, err := e.o.DropFailed(testkit.Context(t), &v1.DropFailedRequest{OutOrderNo: "EXP-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.DropFailed(testkit.Context(t), &v1.DropFailedRequest{OutOrderNo: "EXP-2"}); err == nil {
		t.Error("dropped twice")
	}
	// Retried with a longer max age, it goes.
	cfg := proto.Clone(e.cfg).(*v1.Config)
	cfg.OfflineMaxAge = "24h"
	if _, err := e.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.RetryFailed(testkit.Context(t), &v1.RetryFailedRequest{OutOrderNo: "EXP-1"}); err != nil {
		t.Fatal(err)
	}
	e.waitPending(t, 10*time.Second)
	if so, ok := e.sb.Order("EXP-1"); !ok || so.CreateRequests != 1 {
		t.Errorf("retried order at the sandbox: %+v", so)
	}
	if st := e.status(t); st.GetFailedCount() != 0 {
		t.Errorf("status %v", st)
	}
}

func TestEventsResumeBySequence(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	force := v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE
	for _, no := range []string{"EV-1", "EV-2", "EV-3"} {
		if _, err := e.create(t, noConfirm(no, 1), force); err != nil {
			t.Fatal(err)
		}
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 10*time.Second)

	collect := func(after uint64) []*v1.Event {
		c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var evs []*v1.Event
		e.o.WatchEvents(c, &v1.WatchEventsRequest{AfterSequence: after}, func(ev *v1.Event) error { evs = append(evs, ev); return nil })
		return evs
	}
	all := collect(0)
	var queued, submitted int
	for i, ev := range all {
		if i > 0 && ev.GetSequence() != all[i-1].GetSequence()+1 {
			t.Fatalf("sequence gap: %d then %d", all[i-1].GetSequence(), ev.GetSequence())
		}
		switch ev.GetType() {
		case v1.EventType_EVENT_TYPE_ORDER_QUEUED:
			queued++
		case v1.EventType_EVENT_TYPE_ORDER_SUBMITTED:
			submitted++
			if ev.GetOrderId() == "" || ev.GetPackage() == "" {
				t.Errorf("ORDER_SUBMITTED without order_id or package: %v", ev)
			}
		}
	}
	if queued != 3 || submitted != 3 {
		t.Fatalf("queued %d, submitted %d events: %v", queued, submitted, all)
	}
	mid := all[len(all)/2].GetSequence()
	rest := collect(mid)
	if len(rest) != len(all)-len(all)/2-1 || rest[0].GetSequence() != mid+1 {
		t.Errorf("resume after %d gave %d events starting at %d", mid, len(rest), rest[0].GetSequence())
	}
	// A live watcher gets new events as they happen.
	got := make(chan *v1.Event, 10)
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.o.WatchEvents(c, &v1.WatchEventsRequest{AfterSequence: all[len(all)-1].GetSequence()}, func(ev *v1.Event) error { got <- ev; return nil })
	e.create(t, noConfirm("EV-4", 1), force)
	select {
	case ev := <-got:
		if ev.GetOutOrderNo() != "EV-4" || ev.GetType() != v1.EventType_EVENT_TYPE_ORDER_QUEUED {
			t.Errorf("live event %v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no live event")
	}
}

// The outbox outlives the plugin: a new plugin on the same config sends
// what the old one queued.
func TestQueuedOrdersSurviveARestart(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := e.create(t, noConfirm("RS-1", 1), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	// Stop the first plugin, start another on the same outbox.
	svc := plugin.NewService(nil)
	if _, err := svc.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg}); err == nil {
		svc.Close()
		t.Fatal("a second plugin opened an outbox the first still holds")
	} else if se, ok := err.(*shared.Error); !ok || se.Class != shared.ClassOutbox || se.Reason != shared.ReasonOutboxLocked || len(se.Violations) == 0 ||
		se.Violations[0].Field != "config.outbox_path" || !strings.Contains(se.Violations[0].Description, "locked") {
		t.Errorf("lock error %v", err)
	}
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	if _, err := svc.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg}); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	testkit.Eventually(t, 10*time.Second, "the restarted plugin sends the queued order", func() bool {
		if so, ok := e.sb.Order("RS-1"); ok && so.CreateRequests == 1 {
			return true
		}
		svc.Drain(testkit.Context(t), &v1.DrainRequest{})
		return false
	})
}

// A host that retries a complete whose answer it lost (the plugin crashed)
// gets a success, not "order state invalid"; a different complete is still
// refused.
func TestRetriedCompleteIsASuccess(t *testing.T) {
	e := newOfflineEnv(t, nil)
	if _, err := e.create(t, noConfirm("RC-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	total := int64(300)
	req := &v1.CompleteOrderRequest{OutOrderNo: "RC-1", FinishType: 2, Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}}, TotalAmount: &total}
	for i := 0; i < 2; i++ {
		resp, err := e.o.CompleteOrder(testkit.Context(t), req)
		if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
			t.Fatalf("complete #%d: %v, %v", i+1, resp, err)
		}
	}
	other := proto.Clone(req).(*v1.CompleteOrderRequest)
	other.Fees[0].FeeAmount, *other.TotalAmount = 500, 500
	_, err := e.o.CompleteOrder(testkit.Context(t), other)
	// Refused with the order's state, read just before sending (the rule
	// book's Before): nothing goes to WeChat Pay.
	if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); se.Reason != shared.ReasonOrderStatePrefix+"FINISHED" &&
		se.Reason != shared.ReasonOperationConflict {
		t.Errorf("a different complete: %+v", se)
	}
}

// A retried complete that WeChat Pay refuses while its order cannot be
// checked is not reported refused: it is queued and reconciled. (The first
// attempt left no record in this outbox: it was made through another
// one. A first attempt through this outbox is recorded before it leaves,
// and its retry is answered from the record.)
func TestRefusedRetryThatCannotBeCheckedIsQueued(t *testing.T) {
	e := newOfflineEnv(t, nil)
	if _, err := e.create(t, noConfirm("RQ-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	total := int64(300)
	req := &v1.CompleteOrderRequest{OutOrderNo: "RQ-1", FinishType: 2, Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}}, TotalAmount: &total}
	if _, err := newOfflineEnvOn(t, e).CompleteOrder(testkit.Context(t), req); err != nil {
		t.Fatal(err)
	}
	e.failQueries.Store(true)
	resp, err := e.o.CompleteOrder(testkit.Context(t), req)
	if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("a retried complete that could not be checked: %v, %v", resp, err)
	}
	e.failQueries.Store(false)
	e.waitPending(t, 10*time.Second)
	if st := e.status(t); st.GetFailedCount() != 0 {
		t.Errorf("the reconciled complete failed: %v", st)
	}
}

// A host resuming after events the retention period dropped is told so
// (EVENTS_LOST), then gets the rest: nothing is skipped silently.
func TestPrunedEventsAreReportedLost(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	for _, no := range []string{"PE-1", "PE-2"} {
		if _, err := e.create(t, noConfirm(no, 1), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	// A week and more later: the events are past the retention period.
	later := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	st, err := outbox.Open(outbox.Options{Path: e.cfg.GetOutboxPath(), Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if _, events, err := st.Prune(); err != nil || events == 0 {
		t.Fatalf("prune: %d events, %v", events, err)
	}
	// One new event after the prune.
	if err := st.AppendEvent(outbox.Event{Type: outbox.EventNetworkStatusChanged, Network: "ONLINE"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	svc := plugin.NewService(nil)
	defer svc.Close()
	if _, err := svc.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg}); err != nil {
		t.Fatal(err)
	}
	status, _ := svc.GetStatus(testkit.Context(t), &v1.GetStatusRequest{})
	if status.GetFirstEventSequence() <= 2 {
		t.Fatalf("first kept event %d", status.GetFirstEventSequence())
	}
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var got []*v1.Event
	svc.WatchEvents(c, &v1.WatchEventsRequest{AfterSequence: 1}, func(ev *v1.Event) error { got = append(got, ev); return nil })
	if len(got) < 2 || got[0].GetType() != v1.EventType_EVENT_TYPE_EVENTS_LOST || got[1].GetSequence() != got[0].GetSequence()+1 {
		t.Fatalf("events after a prune: %v", got)
	}
}
