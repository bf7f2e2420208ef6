package plugin_test

import (
	"context"
	"net/http"
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

// The contract's RPCs on each of WeChat Pay's two APIs, through go-plugin's
// gRPC connection, against the sandbox: the host sends the same requests
// and reads the same answers whichever API the merchant has.

// apiEnv is a plugin configured for one API, and the sandbox's customer
// moves on that API.
type apiEnv struct {
	*offlineEnv
	api    string
	accept func(no string) error
	pay    func(no string) error
	posts  atomic.Int64 // POSTs (creates and operations) that reached WeChat Pay
}

func newAPIEnv(t *testing.T, api string) *apiEnv {
	t.Helper()
	e := &apiEnv{api: api}
	e.offlineEnv = newEnvWithFront(t, func(c *v1.Config) {
		c.PayscoreApi = api
		if api == "serviceorder" {
			c.NotifyUrl = "https://merchant.example/payscore/notify"
		}
	}, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v3/") && e.sb.Faults().Mode == sandbox.FaultNone {
			e.posts.Add(1)
		}
		next.ServeHTTP(w, r)
	})
	e.accept, e.pay = e.sb.Accept, e.sb.Pay
	if api == "serviceorder" {
		e.accept, e.pay = e.sb.AcceptServiceOrder, e.sb.PayServiceOrder
	}
	return e
}

// wechatState is the order's state as WeChat Pay (the sandbox) keeps it,
// on the env's API: "" when it has no such order.
func (e *apiEnv) wechatState(no string) string {
	if e.api == "serviceorder" {
		o, ok := e.sb.ServiceOrder(no)
		if !ok {
			return ""
		}
		if o.StateDescription != "" {
			return o.State + "/" + o.StateDescription
		}
		return o.State
	}
	o, ok := e.sb.Order(no)
	if !ok {
		return ""
	}
	return o.State
}

func eachAPI(t *testing.T, test func(t *testing.T, e *apiEnv)) {
	for _, api := range []string{"smartretail", "serviceorder"} {
		t.Run(api, func(t *testing.T) { test(t, newAPIEnv(t, api)) })
	}
}

func TestCreateQueryCompleteOnEitherAPI(t *testing.T) {
	eachAPI(t, func(t *testing.T, e *apiEnv) {
		ctx := testkit.Context(t)
		created, err := e.create(t, withConfirm("API-1", 2000), 0)
		if err != nil {
			t.Fatal(err)
		}
		if created.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED || created.GetOrder().GetPackage() == "" || created.GetOrder().GetOrderId() == "" {
			t.Fatalf("create: %v", created)
		}
		// The same create again is the same order (out_order_no is the key).
		again, err := e.create(t, withConfirm("API-1", 2000), 0)
		if err != nil || again.GetOrder().GetOrderId() != created.GetOrder().GetOrderId() {
			t.Fatalf("the same create again: %v, %v", again, err)
		}
		q, err := e.o.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "API-1"})
		if err != nil {
			t.Fatal(err)
		}
		if q.GetOrder().GetStage() != v1.LifecycleStage_LIFECYCLE_STAGE_CREATED || q.GetOrder().GetRiskAmount() != 2000 || q.GetOrder().GetServiceIntroduction() != "无人零售柜" {
			t.Errorf("query after create: %v", q.GetOrder())
		}
		if err := e.accept("API-1"); err != nil {
			t.Fatal(err)
		}
		fen := int64(450)
		done, err := e.o.CompleteOrder(ctx, &v1.CompleteOrderRequest{OutOrderNo: "API-1", FinishType: 2, TotalAmount: &fen,
			Fees: []*v1.Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: 300}, {FeeName: "薯片", FeeCount: 1, FeeAmount: 150}}})
		if err != nil {
			t.Fatal(err)
		}
		if done.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED || done.GetOrder().GetOutOrderNo() != "API-1" {
			t.Errorf("complete: %v", done)
		}
		q, err = e.o.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "API-1"})
		if err != nil {
			t.Fatal(err)
		}
		got := q.GetOrder()
		if got.GetStage() != v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT || got.GetTotalAmount() != 450 || len(got.GetFees()) != 2 || got.GetFees()[0].GetFeeName() != "可乐" {
			t.Errorf("query after complete: %v", got)
		}
		if err := e.pay("API-1"); err != nil {
			t.Fatal(err)
		}
		q, err = e.o.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "API-1"})
		if err != nil || q.GetOrder().GetStage() != v1.LifecycleStage_LIFECYCLE_STAGE_PAID {
			t.Errorf("query after payment: %v, %v", q.GetOrder(), err)
		}
		if e.api == "serviceorder" && (q.GetOrder().GetCollection().GetPaidAmount() != 450 || q.GetOrder().GetState() != "DONE") {
			t.Errorf("a paid service order's collection: %v", q.GetOrder())
		}
	})
}

// A complete that charges nothing (finish_type 1) ends the order on both
// APIs: a smart-retail complete, a service order's cancel.
func TestAnUnchargedEndOnEitherAPI(t *testing.T) {
	eachAPI(t, func(t *testing.T, e *apiEnv) {
		ctx := testkit.Context(t)
		if _, err := e.create(t, noConfirm("API-F", 1000), 0); err != nil {
			t.Fatal(err)
		}
		zero := int64(0)
		if _, err := e.o.CompleteOrder(ctx, &v1.CompleteOrderRequest{OutOrderNo: "API-F", FinishType: 1, CancelReason: "未取货", TotalAmount: &zero}); err != nil {
			t.Fatal(err)
		}
		q, err := e.o.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "API-F"})
		if err != nil || q.GetOrder().GetStage() != v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED {
			t.Errorf("after an uncharged end: %v, %v (WeChat Pay: %s)", q.GetOrder(), err, e.wechatState("API-F"))
		}
		// And a plain cancel of an order not confirmed yet.
		if _, err := e.create(t, withConfirm("API-C", 1000), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.o.CancelOrder(ctx, &v1.CancelOrderRequest{OutOrderNo: "API-C", Reason: "顾客离开"}); err != nil {
			t.Fatal(err)
		}
		if got := e.wechatState("API-C"); got != "REVOKED" {
			t.Errorf("cancelled: WeChat Pay shows %s", got)
		}
	})
}

// Queued while WeChat Pay cannot be reached, a create and its complete
// reach WeChat Pay in order once it can, on either API; the query answers
// from the outbox meanwhile.
func TestQueuedOrdersDrainOnEitherAPI(t *testing.T) {
	eachAPI(t, func(t *testing.T, e *apiEnv) {
		ctx := testkit.Context(t)
		e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
		r, err := e.create(t, noConfirm("API-Q", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE)
		if err != nil || r.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("queued create: %v, %v", r, err)
		}
		c, err := e.o.CompleteOrder(ctx, charge("API-Q", 600))
		if err != nil || c.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("queued complete: %v, %v", c, err)
		}
		q, err := e.o.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "API-Q"})
		if err != nil || q.GetQueued().GetLocalState() == v1.LocalState_LOCAL_STATE_SUBMITTED || len(q.GetQueued().GetPendingOperations()) != 2 || q.GetOrder().GetRiskAmount() != 1000 {
			t.Fatalf("query while queued: %v, %v", q, err)
		}
		e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
		e.waitPending(t, 30*time.Second)
		want := map[string]string{"smartretail": "FINISHED", "serviceorder": "DOING/MCH_COMPLETE"}[e.api]
		if l, _ := e.o.ListQueue(ctx, &v1.ListQueueRequest{Failed: true}); len(l.GetOrders()) > 0 {
			t.Logf("failed: %v", l.GetOrders())
		}
		if got := e.wechatState("API-Q"); got != want {
			t.Errorf("after the drain WeChat Pay shows %q, want %q", got, want)
		}
		if n := e.posts.Load(); n != 2 {
			t.Errorf("%d POSTs reached WeChat Pay, want 2 (the create and the complete, once each)", n)
		}
	})
}

// The service-order-only calls: a modify lowers a completed order's
// amount (queued while offline, like a complete), a collect asks WeChat
// Pay to deduct again, a sync records a payment made another way.
func TestModifyCollectAndSyncOnServiceOrders(t *testing.T) {
	e := newAPIEnv(t, "serviceorder")
	ctx := testkit.Context(t)
	for _, no := range []string{"SO-M", "SO-S"} {
		if _, err := e.create(t, noConfirm(no, 1000), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.o.CompleteOrder(ctx, charge(no, 600)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.sb.FailServiceOrderDeductions("SO-M", true); err != nil {
		t.Fatal(err)
	}
	m, err := e.o.ModifyOrder(ctx, &v1.ModifyOrderRequest{OutOrderNo: "SO-M", Reason: "少拿一瓶",
		Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 400}}})
	if err != nil || m.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Fatalf("modify: %v, %v", m, err)
	}
	if o, _ := e.sb.ServiceOrder("SO-M"); o.TotalAmount == nil || *o.TotalAmount != 400 {
		t.Errorf("modified: WeChat Pay charges %v, want 400", o.TotalAmount)
	}
	// Raising the amount is refused before anything is sent.
	before := e.posts.Load()
	_, err = e.o.ModifyOrder(ctx, &v1.ModifyOrderRequest{OutOrderNo: "SO-M", Reason: "多拿一瓶",
		Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 500}}})
	se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	if !strings.Contains(se.Message, "only lowers") || e.posts.Load() != before {
		t.Errorf("raising modify: %v (POSTs %d -> %d)", se, before, e.posts.Load())
	}
	// The deduction failed: ask for it again, once the customer can pay.
	if err := e.sb.FailServiceOrderDeductions("SO-M", false); err != nil {
		t.Fatal(err)
	}
	p, err := e.o.CollectPayment(ctx, &v1.CollectPaymentRequest{OutOrderNo: "SO-M"})
	if err != nil || p.GetOrder().GetOutOrderNo() != "SO-M" {
		t.Fatalf("collect: %v, %v", p, err)
	}
	// Paid at the counter instead.
	s, err := e.o.SyncOrderPaid(ctx, &v1.SyncOrderPaidRequest{OutOrderNo: "SO-S", PaidTime: time.Now().In(cst).Format("20060102150405")})
	if err != nil {
		t.Fatal(err)
	}
	if s.GetOrder().GetStage() != v1.LifecycleStage_LIFECYCLE_STAGE_PAID || len(s.GetOrder().GetCollection().GetDetails()) != 1 || s.GetOrder().GetCollection().GetDetails()[0].GetPaidType() != "MCH" {
		t.Errorf("synced: %v", s.GetOrder())
	}
	// Neither is queued: offline, the host is told it did not go.
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	_, err = e.o.SyncOrderPaid(ctx, &v1.SyncOrderPaidRequest{OutOrderNo: "SO-M", PaidTime: "20261129"})
	if se := testkit.WantError(t, err, codes.Unavailable, shared.ClassNetwork); se.OutOrderNo != "SO-M" {
		t.Errorf("offline sync: %+v", se)
	}
}

// A modify made while WeChat Pay cannot be reached waits behind the
// order's complete and goes after it.
func TestAQueuedModifyGoesAfterItsComplete(t *testing.T) {
	e := newAPIEnv(t, "serviceorder")
	ctx := testkit.Context(t)
	if _, err := e.create(t, noConfirm("SO-QM", 1000), 0); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.FailServiceOrderDeductions("SO-QM", true); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if r, err := e.o.CompleteOrder(ctx, charge("SO-QM", 800)); err != nil || r.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("complete: %v, %v", r, err)
	}
	m, err := e.o.ModifyOrder(ctx, &v1.ModifyOrderRequest{OutOrderNo: "SO-QM", Reason: "退一件",
		Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 500}}})
	if err != nil || m.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("modify: %v, %v", m, err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 30*time.Second)
	if o, _ := e.sb.ServiceOrder("SO-QM"); o.TotalAmount == nil || *o.TotalAmount != 500 || o.StateDescription != "MCH_COMPLETE" {
		t.Errorf("WeChat Pay shows %s/%s charging %v, want the modify's 500 awaiting payment", o.State, o.StateDescription, o.TotalAmount)
	}
}

// The contract's field names are what a refused service-order request
// names, not the wire's.
func TestServiceOrderRefusalsNameTheContractsFields(t *testing.T) {
	e := newAPIEnv(t, "serviceorder")
	ctx := testkit.Context(t)
	order := noConfirm("SO-BAD", 0)
	order.ServiceStartTime = "tomorrow"
	_, err := e.create(t, order, 0)
	se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	fields := map[string]bool{}
	for _, v := range se.Violations {
		fields[v.Field] = true
	}
	if !fields["order.service_start_time"] || !fields["order.risk_amount"] {
		t.Errorf("create violations %+v, want order.service_start_time and order.risk_amount", se.Violations)
	}
	fen := int64(100)
	_, err = e.o.CompleteOrder(ctx, &v1.CompleteOrderRequest{OutOrderNo: "SO-BAD", FinishType: 2, TotalAmount: &fen,
		Fees: []*v1.Fee{{FeeName: "", FeeCount: 1, FeeAmount: 100}}})
	se = testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	if len(se.Violations) == 0 || se.Violations[0].Field != "fees[0].fee_name" {
		t.Errorf("complete violations %+v, want fees[0].fee_name", se.Violations)
	}
}

var cst = time.FixedZone("CST", 8*3600)

// A merchant who changes payscore_api while orders wait: each queued
// order still goes to the API it was made for (its body is that API's),
// new orders go to the new one, and a request for an old order is refused
// with what to do rather than sent on the wrong API.
func TestQueuedOrdersKeepTheirAPIWhenTheConfigChanges(t *testing.T) {
	e := newAPIEnv(t, "smartretail")
	ctx := testkit.Context(t)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if r, err := e.create(t, noConfirm("OLD-1", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil || r.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("queued create: %v, %v", r, err)
	}
	cfg := e.cfg
	cfg.PayscoreApi, cfg.NotifyUrl = "serviceorder", "https://merchant.example/payscore/notify"
	if _, err := e.o.Configure(ctx, &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	_, err := e.o.CompleteOrder(ctx, charge("OLD-1", 500))
	if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); !strings.Contains(se.Message, "made on WeChat Pay's smartretail API") {
		t.Errorf("complete of the old order: %v", se)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 30*time.Second)
	if o, ok := e.sb.Order("OLD-1"); !ok || o.State != "USER_ACCEPTED" {
		t.Errorf("the queued smart-retail order: %+v, %v", o, ok)
	}
	if _, ok := e.sb.ServiceOrder("OLD-1"); ok {
		t.Error("the smart-retail order was made a service order too")
	}
	q, err := e.o.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "OLD-1"})
	if err != nil || q.GetOrder().GetState() != "USER_ACCEPTED" {
		t.Errorf("query of the old order: %v, %v", q.GetOrder(), err)
	}
	if _, err := e.create(t, noConfirm("NEW-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.sb.ServiceOrder("NEW-1"); !ok {
		t.Error("a new order did not go to the service-order API")
	}
}

// A deposit (先免) risk fund caps what a complete charges: one queued
// above it is refused when asked, not after the customer has left; an
// estimate (先享, the default) is capped only by the service's limit,
// which WeChat Pay alone knows.
func TestADepositCapsAQueuedServiceOrderComplete(t *testing.T) {
	for _, fund := range []string{"DEPOSIT", "ESTIMATE_ORDER_COST"} {
		t.Run(fund, func(t *testing.T) {
			e := newAPIEnv(t, "serviceorder")
			cfg := e.cfg
			cfg.RiskFundName = fund
			if _, err := e.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
				t.Fatal(err)
			}
			e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
			if _, err := e.create(t, noConfirm("SO-R", 500), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
				t.Fatal(err)
			}
			r, err := e.o.CompleteOrder(testkit.Context(t), charge("SO-R", 600))
			if fund == "DEPOSIT" {
				if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); se.Reason != shared.ReasonTotalAboveRisk {
					t.Errorf("above the deposit: %+v", se)
				}
				return
			}
			if err != nil || r.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
				t.Errorf("above an estimate: %v, %v", r, err)
			}
		})
	}
}

// The outbox's RPCs and the rest work the same on either API: a queued
// order WeChat Pay refuses lands on the failed list, is retried and
// dropped; the events say so (ORDER_SUBMITTED with order_id and package);
// status, compaction and the customer's authorisation answer.
func TestTheOtherRPCsOnEitherAPI(t *testing.T) {
	eachAPI(t, func(t *testing.T, e *apiEnv) {
		ctx := testkit.Context(t)
		e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
		bad := noConfirm("API-BAD", 500)
		bad.Appid = "wx0000000000000000" // not the merchant's: refused when sent
		for _, o := range []*v1.NewOrder{noConfirm("API-OK", 500), bad} {
			if _, err := e.create(t, o, v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
				t.Fatal(err)
			}
		}
		if st := e.status(t); st.GetQueuedCount() != 2 || st.GetQueuedAmount() != 1000 {
			t.Errorf("status while queued: %v", st)
		}
		e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
		if _, err := e.o.Drain(ctx, &v1.DrainRequest{}); err != nil {
			t.Fatal(err)
		}
		e.waitPending(t, 30*time.Second)
		failed, err := e.o.ListQueue(ctx, &v1.ListQueueRequest{Failed: true})
		if err != nil || len(failed.GetOrders()) != 1 || failed.GetOrders()[0].GetOutOrderNo() != "API-BAD" || failed.GetOrders()[0].GetFailureCode() == "" {
			t.Fatalf("failed list: %v, %v", failed, err)
		}
		if _, err := e.o.RetryFailed(ctx, &v1.RetryFailedRequest{OutOrderNo: "API-BAD"}); err != nil {
			t.Fatal(err)
		}
		e.waitPending(t, 30*time.Second)
		if _, err := e.o.DropFailed(ctx, &v1.DropFailedRequest{OutOrderNo: "API-BAD"}); err != nil {
			t.Fatal(err)
		}
		if st := e.status(t); st.GetFailedCount() != 0 || st.GetQueuedCount() != 0 {
			t.Errorf("status after the drop: %v", st)
		}
		c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		var submitted, failedEvents int
		e.o.WatchEvents(c, &v1.WatchEventsRequest{}, func(ev *v1.Event) error {
			switch {
			case ev.GetType() == v1.EventType_EVENT_TYPE_ORDER_SUBMITTED && ev.GetOutOrderNo() == "API-OK":
				if ev.GetOrderId() != "" && ev.GetPackage() != "" {
					submitted++
				}
			case ev.GetType() == v1.EventType_EVENT_TYPE_ORDER_FAILED && ev.GetOutOrderNo() == "API-BAD":
				failedEvents++
			}
			return nil
		})
		if submitted != 1 || failedEvents != 2 {
			t.Errorf("events: %d ORDER_SUBMITTED with order_id and package for API-OK (want 1), %d ORDER_FAILED for API-BAD (want 2)", submitted, failedEvents)
		}
		if r, err := e.o.CompactOutbox(ctx, &v1.CompactOutboxRequest{}); err != nil || r.GetSizeAfter() == 0 {
			t.Errorf("compact: %v, %v", r, err)
		}
		if u, err := e.o.GetUserServiceState(ctx, &v1.GetUserServiceStateRequest{Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}); err != nil || u.GetUseServiceState() != "AVAILABLE" {
			t.Errorf("user state: %v, %v", u, err)
		}
	})
}

// A second, different complete of a service order is refused naming the
// first as it asked (what it charges), not as a smart-retail complete.
func TestAConflictNamesTheServiceOrderCompleteItMeets(t *testing.T) {
	e := newAPIEnv(t, "serviceorder")
	ctx := testkit.Context(t)
	if _, err := e.create(t, noConfirm("SO-2C", 1000), 0); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := e.o.CompleteOrder(ctx, charge("SO-2C", 600)); err != nil {
		t.Fatal(err)
	}
	_, err := e.o.CompleteOrder(ctx, charge("SO-2C", 500))
	if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); !strings.Contains(se.Message, "complete charging 600 fen queued") {
		t.Errorf("second complete: %v", se)
	}
}

// wechatTimes are the real start and end WeChat Pay keeps for a completed
// order, on either API.
func (e *apiEnv) wechatTimes(no string) (start, end string) {
	if e.api == "serviceorder" {
		o, _ := e.sb.ServiceOrder(no)
		return o.TimeRange.StartTime, o.TimeRange.EndTime
	}
	o, _ := e.sb.Order(no)
	return o.RealServiceStartTime, o.RealServiceEndTime
}

// A sale made while WeChat Pay could not be reached, and completed an hour
// before the network came back (its create reaches WeChat Pay an hour
// late, when OnAccept starts it): the complete tells WeChat Pay when the
// sale began (the create's moment) and ended (the host's own end time),
// and WeChat Pay takes it, on either API.
func TestAQueuedSaleTellsWhenItHappened(t *testing.T) {
	eachAPI(t, func(t *testing.T, e *apiEnv) {
		ctx := testkit.Context(t)
		e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
		sold := e.clock.Now()
		if _, err := e.create(t, noConfirm("WAIT-1", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(5 * time.Minute) // the door closes
		closed := e.clock.Now()
		done := charge("WAIT-1", 600)
		done.RealServiceEndTime = wxpayTime(closed)
		if r, err := e.o.CompleteOrder(ctx, done); err != nil || r.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("complete: %v, %v", r, err)
		}
		e.clock.Advance(time.Hour) // the network comes back an hour later
		e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
		e.waitPending(t, 30*time.Second)
		if l, _ := e.o.ListQueue(ctx, &v1.ListQueueRequest{Failed: true}); len(l.GetOrders()) > 0 {
			t.Fatalf("refused: %v", l.GetOrders()[0].GetFailureMessage())
		}
		// The end is the host's own; the start is the plugin's stamp of the
		// sale placed on WeChat Pay's time, which the plugin knows to about
		// a second (learnt from whole-second timestamps).
		start, end := e.wechatTimes("WAIT-1")
		began, err := time.ParseInLocation("20060102150405", start, cst)
		if err != nil || began.Sub(sold) > time.Second || sold.Sub(began) > 2*time.Second || end != wxpayTime(closed) {
			t.Errorf("WeChat Pay keeps %s .. %s, want the sale's %s (to about a second) .. %s", start, end, wxpayTime(sold), wxpayTime(closed))
		}
	})
}

// A kiosk whose clock runs 10 minutes ahead of WeChat Pay's completes
// online and queued sales with end times off its own clock, without a
// refusal: they are moved onto WeChat Pay's clock.
func TestAKioskTenMinutesAheadCompletesWithoutARefusal(t *testing.T) {
	eachAPI(t, func(t *testing.T, e *apiEnv) {
		ctx := testkit.Context(t)
		e.wechatOffset.Store(int64(-10 * time.Minute))
		for _, no := range []string{"AHEAD-ON", "AHEAD-Q"} {
			b := v1.OfflineBehavior_OFFLINE_BEHAVIOR_UNSPECIFIED
			if no == "AHEAD-Q" {
				e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
				b = v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE
			}
			if _, err := e.create(t, noConfirm(no, 1000), b); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Minute)
			done := charge(no, 600)
			done.RealServiceEndTime = wxpayTime(e.clock.Now()) // the kiosk's clock: 10 minutes in WeChat Pay's future
			if _, err := e.o.CompleteOrder(ctx, done); err != nil {
				t.Fatalf("%s: %v", no, err)
			}
		}
		e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
		e.waitPending(t, 30*time.Second)
		if l, _ := e.o.ListQueue(ctx, &v1.ListQueueRequest{Failed: true}); len(l.GetOrders()) > 0 {
			t.Fatalf("refused: %v", l.GetOrders()[0].GetFailureMessage())
		}
		for _, no := range []string{"AHEAD-ON", "AHEAD-Q"} {
			want := map[string]string{"smartretail": "FINISHED", "serviceorder": "DOING/MCH_COMPLETE"}[e.api]
			if got := e.wechatState(no); got != want {
				t.Errorf("%s: WeChat Pay shows %s, want %s", no, got, want)
			}
		}
	})
}

func wxpayTime(t time.Time) string { return t.In(cst).Format("20060102150405") }
