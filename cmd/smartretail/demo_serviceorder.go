package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/notify"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
	"google.golang.org/grpc/codes"
)

// What differs between the two Pay Score APIs in the demo: the sandbox's
// customer moves and state, the states a query answers, and the chapters
// or steps only one API has.

// serviceOrders says whether the plugin speaks the service-order API.
func (d *demo) serviceOrders() bool { return d.api == config.APIServiceOrder }

// accept is the customer confirming order no in WeChat.
func (d *demo) accept(no string) error {
	if d.serviceOrders() {
		return d.srv.Sandbox.AcceptServiceOrder(no)
	}
	return d.srv.Sandbox.Accept(no)
}

// pay is Pay Score's deduction of a completed order succeeding.
func (d *demo) pay(no string) error {
	if d.serviceOrders() {
		return d.srv.Sandbox.PayServiceOrder(no)
	}
	return d.srv.Sandbox.Pay(no)
}

// sandboxOrder is an order as WeChat Pay (the sandbox) holds it, on
// either API.
type sandboxOrder struct {
	no, state string // a service order's DOING carries its description: DOING+MCH_COMPLETE
	creates   int    // create requests received for it
}

func (d *demo) atWeChatPay(no string) (sandboxOrder, bool) {
	if d.serviceOrders() {
		o, ok := d.srv.Sandbox.ServiceOrder(no)
		return sandboxOrder{o.OutOrderNo, joinState(o.State, o.StateDescription), o.CreateRequests}, ok
	}
	o, ok := d.srv.Sandbox.Order(no)
	return sandboxOrder{o.OutOrderNo, o.State, o.CreateRequests}, ok
}

// sandboxOrders are WeChat Pay's orders of the demo's API, oldest first.
func (d *demo) sandboxOrders() []sandboxOrder {
	var out []sandboxOrder
	if d.serviceOrders() {
		for _, o := range d.srv.Sandbox.ServiceOrders() {
			out = append(out, sandboxOrder{o.OutOrderNo, joinState(o.State, o.StateDescription), o.CreateRequests})
		}
		return out
	}
	for _, o := range d.srv.Sandbox.Orders() {
		out = append(out, sandboxOrder{o.OutOrderNo, o.State, o.CreateRequests})
	}
	return out
}

// completedState is the sandbox's state of an order completed, not paid.
func (d *demo) completedState() string {
	if d.serviceOrders() {
		return joinState(sandbox.ServiceOrderDoing, sandbox.DescMchComplete)
	}
	return sandbox.StateFinished
}

func joinState(state, description string) string {
	if description != "" {
		return state + "+" + description
	}
	return state
}

// stageStates are the states each API's query answers in the stages the
// demo's orders reach: the stage is the same on both, the state WeChat
// Pay's own.
var stageStates = map[string]map[v1.LifecycleStage]string{
	config.APISmartRetail: {
		v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED:        "USER_ACCEPTED",
		v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT: "FINISHED",
		v1.LifecycleStage_LIFECYCLE_STAGE_PAID:             "USER_PAID",
		v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED:          "REVOKED",
	},
	config.APIServiceOrder: {
		v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED:        "DOING+USER_CONFIRM",
		v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT: "DOING+MCH_COMPLETE",
		v1.LifecycleStage_LIFECYCLE_STAGE_PAID:             "DONE",
		v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED:          "REVOKED",
	},
}

// inStage says whether a queried order is in stage with the state its API
// gives that stage.
func (d *demo) inStage(o *v1.Order, stage v1.LifecycleStage) error {
	return errors.Join(want(o.GetStage(), stage), want(joinState(o.GetState(), o.GetStateDescription()), stageStates[d.api][stage]))
}

// stageText is what inStage checks, for a check's line.
func (d *demo) stageText(stage v1.LifecycleStage) string {
	return fmt.Sprintf("state is %s (stage %s)", stageStates[d.api][stage], stageName(stage))
}

func stageName(s v1.LifecycleStage) string {
	return strings.TrimPrefix(s.String(), "LIFECYCLE_STAGE_")
}

// collectionText shows what a service order's collection holds.
func collectionText(c *v1.Collection) string {
	s := fmt.Sprintf("%d fen due, %d paying, %d paid", c.GetTotalAmount(), c.GetPayingAmount(), c.GetPaidAmount())
	for _, p := range c.GetDetails() {
		s += fmt.Sprintf("; payment %d: %d fen by %s at %s", p.GetSeq(), p.GetAmount(), p.GetPaidType(), p.GetPaidTime())
	}
	return s
}

// collected says whether a collection is total fen paid in one payment of
// paidType.
func collected(c *v1.Collection, total int64, paidType string) error {
	if n := len(c.GetDetails()); n != 1 {
		return fmt.Errorf("collection has %d payments, want 1", n)
	}
	p := c.GetDetails()[0]
	return errors.Join(want(c.GetState(), sandbox.CollectionUserPaid), want(c.GetPaidAmount(), total),
		want(c.GetPayingAmount(), int64(0)), want(p.GetAmount(), total), want(p.GetPaidType(), paidType))
}

func firstPaidTime(c *v1.Collection) string {
	if len(c.GetDetails()) == 0 {
		return ""
	}
	return c.GetDetails()[0].GetPaidTime()
}

// awaiting says whether a collection waits for total fen, none paid.
func awaiting(c *v1.Collection, total int64) error {
	return errors.Join(want(c.GetState(), sandbox.CollectionUserPaying), want(c.GetTotalAmount(), total),
		want(c.GetPayingAmount(), total), want(c.GetPaidAmount(), int64(0)))
}

// lowerWhilePending is the first chapter's step that only service orders
// have: the customer brings one water back before the charge, and the
// kiosk lowers the amount (a modify, allowed while payment is pending).
// It returns the new amount, 0 if a check failed.
func (d *demo) lowerWhilePending(ctx context.Context, no string, total int64) int64 {
	q, err := d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	o := q.GetOrder()
	if !d.check("kiosk queries the order", err) ||
		!d.check(fmt.Sprintf("%s, collection %s: %s", d.stageText(v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT),
			o.GetCollection().GetState(), collectionText(o.GetCollection())),
			errors.Join(d.inStage(o, v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT), awaiting(o.GetCollection(), total))) {
		return 0
	}
	d.say("   Before the charge, the customer brings one water back to the cabinet. The kiosk lowers the")
	d.say("   amount while the payment is pending (a modify; WeChat Pay takes one, and only lower).")
	lowered := int64(450)
	m, err := d.kiosk.ModifyOrder(ctx, &v1.ModifyOrderRequest{
		OutOrderNo: no,
		Fees: []*v1.Fee{
			{FeeName: "可口可乐 330ml", FeeCount: 1, FeeAmount: 350},
			{FeeName: "农夫山泉 550ml", FeeCount: 1, FeeAmount: 200},
		},
		Discounts:   []*v1.Discount{{DiscountName: "早餐时段立减", DiscountDesc: "7-9点减1元", DiscountAmount: 100}},
		TotalAmount: lowered,
		Reason:      "顾客退回一瓶农夫山泉",
	})
	if !d.check("kiosk lowers the amount: 3.50 + 2.00 - 1.00 = 4.50 CNY", errors.Join(err, want(m.GetDisposition(), v1.Disposition_DISPOSITION_SUBMITTED))) {
		return 0
	}
	q, err = d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	o = q.GetOrder()
	if !d.check("kiosk queries the order", err) ||
		!d.check(fmt.Sprintf("total_amount %d fen, still %s, collection %s", o.GetTotalAmount(), stageStates[d.api][v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT],
			collectionText(o.GetCollection())),
			errors.Join(want(o.GetTotalAmount(), lowered), d.inStage(o, v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT), awaiting(o.GetCollection(), lowered))) {
		return 0
	}
	return lowered
}

// badPriceAtComplete is the bad-request chapter on service orders, whose
// products and prices come at complete, not at create.
func (d *demo) badPriceAtComplete(ctx context.Context) {
	d.say("   On service orders the products and their prices are named at complete, not at create.")
	order := demoOrder()
	order.Fees = []*v1.Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: -350}}
	_, err := d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: order})
	d.check("a create naming products refused before reaching WeChat Pay, as INVALID_ARGUMENT naming order.fees", invalidField(err, "order.fees"))
	no, _, err := d.openSale(ctx)
	if !d.check("a sale: created, confirmed "+no, err) {
		return
	}
	_, err = d.kiosk.CompleteOrder(ctx, &v1.CompleteOrderRequest{OutOrderNo: no, FinishType: 2,
		Fees: []*v1.Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: -350}}})
	var se *shared.Error
	if errors.As(err, &se) {
		d.say("         error: %v", se)
	}
	d.check("its complete at -3.50 CNY refused, as INVALID_ARGUMENT naming fees[0].fee_amount", invalidField(err, "fees[0].fee_amount"))
	o, ok := d.atWeChatPay(no)
	d.check("it did not reach WeChat Pay: the order there is still "+o.state, errors.Join(want(ok, true),
		want(o.state, stageStates[d.api][v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED])))
	_, err = d.kiosk.CancelOrder(ctx, &v1.CancelOrderRequest{OutOrderNo: no, Reason: "价格错误"})
	d.check("kiosk cancels the sale", err)
}

// unpaid is the chapter of a customer who cannot pay: on service orders
// the kiosk asks WeChat Pay to collect again, then reports a payment taken
// at the counter; on smart retail it has no such calls.
func (d *demo) unpaid(ctx context.Context) {
	d.say("")
	if !d.serviceOrders() {
		d.say("8. A customer cannot pay. On smart retail WeChat Pay collects by itself: lowering the amount, asking")
		d.say("   it to collect again and reporting a payment taken at the counter are service-order calls")
		d.say("   (payscore_api serviceorder), which the plugin answers here with UNIMPLEMENTED.")
		no, err := d.sell(ctx, 500)
		if !d.check("a sale goes through: created, confirmed, completed (5.00 CNY) "+no, err) {
			return
		}
		_, err = d.kiosk.ModifyOrder(ctx, &v1.ModifyOrderRequest{OutOrderNo: no, TotalAmount: 300, Reason: "顾客退货",
			Fees: []*v1.Fee{{FeeName: "可口可乐 330ml", FeeCount: 1, FeeAmount: 300}}})
		var se *shared.Error
		if errors.As(err, &se) {
			d.say("         error: %s", firstSentence(se.Message))
		}
		d.check("ModifyOrder answers UNIMPLEMENTED", unimplemented(err))
		_, err = d.kiosk.CollectPayment(ctx, &v1.CollectPaymentRequest{OutOrderNo: no})
		d.check("CollectPayment answers UNIMPLEMENTED", unimplemented(err))
		_, err = d.kiosk.SyncOrderPaid(ctx, &v1.SyncOrderPaidRequest{OutOrderNo: no, PaidTime: wxpay.FormatTime(time.Now())})
		d.check("SyncOrderPaid answers UNIMPLEMENTED", unimplemented(err))
		return
	}
	d.say("8. A customer's Pay Score deduction fails. The kiosk asks WeChat Pay to collect again; then the")
	d.say("   customer pays at the counter and the kiosk tells WeChat Pay.")
	const total = 500
	no, err := d.sell(ctx, total)
	if !d.check("a sale goes through: created, confirmed, completed (5.00 CNY) "+no, err) {
		return
	}
	if !d.check("the customer's Pay Score cannot pay (sandbox FailServiceOrderDeductions)", d.srv.Sandbox.FailServiceOrderDeductions(no, true)) {
		return
	}
	err = d.pay(no)
	if err == nil {
		err = errors.New("the deduction went through")
	} else if errors.Is(err, sandbox.ErrInvalidState) {
		err = nil
	}
	d.check("Pay Score's deduction fails (sandbox pay refused)", err)
	_, err = d.kiosk.CollectPayment(ctx, &v1.CollectPaymentRequest{OutOrderNo: no})
	if !d.check("kiosk asks WeChat Pay to collect again (CollectPayment)", err) {
		return
	}
	q, err := d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	o := q.GetOrder()
	if !d.check("kiosk queries the order", err) {
		return
	}
	d.check(fmt.Sprintf("the deduction failed again: still %s, collection %s: %s", stageStates[d.api][v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT],
		o.GetCollection().GetState(), collectionText(o.GetCollection())),
		errors.Join(d.inStage(o, v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT), awaiting(o.GetCollection(), total)))

	d.say("   The customer pays 5.00 CNY in cash at the counter.")
	paidAt := wxpay.FormatTime(time.Now())
	s, err := d.kiosk.SyncOrderPaid(ctx, &v1.SyncOrderPaidRequest{OutOrderNo: no, PaidTime: paidAt})
	if !d.check("kiosk tells WeChat Pay it was paid at "+paidAt+" (SyncOrderPaid)", err) {
		return
	}
	o = s.GetOrder()
	d.check(fmt.Sprintf("WeChat Pay answers %s (stage %s), collection %s: %s", joinState(o.GetState(), o.GetStateDescription()),
		stageName(o.GetStage()), o.GetCollection().GetState(), collectionText(o.GetCollection())),
		errors.Join(d.inStage(o, v1.LifecycleStage_LIFECYCLE_STAGE_PAID), collected(o.GetCollection(), total, sandbox.PaidTypeMCH),
			want(firstPaidTime(o.GetCollection()), paidAt)))
}

// unimplemented says whether err is the plugin's answer to a call its API
// does not have.
func unimplemented(err error) error {
	var se *shared.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("got %v, want a typed UNIMPLEMENTED error", err)
	}
	return errors.Join(want(se.Code, codes.Unimplemented), want(se.Class, shared.ClassUnsupported))
}

// merchantServer is the merchant's server at notify_url: it verifies and
// decrypts what WeChat Pay (the sandbox) posts, with the public notify
// package, as a merchant's own server would.
type merchantServer struct {
	ts       *httptest.Server
	verifier *notify.Verifier
	wechat   atomic.Pointer[sandbox.Sandbox] // WeChat Pay's clock, once followClock
	arrived  chan struct{}                   // a notification came since the last look

	mu       sync.Mutex
	verified []*notify.Notification
	refused  []error
}

// startMerchantServer starts the merchant's server on a loopback address
// with a certificate of its own; client trusts it.
func startMerchantServer(creds *sandbox.Credentials) (*merchantServer, error) {
	m := &merchantServer{arrived: make(chan struct{}, 1)}
	v, err := notify.NewVerifier(notify.Config{PublicKeyID: creds.PublicKeyID, PublicKey: creds.WechatPayPublicKey(),
		APIv3Key: creds.APIv3Key, Now: m.now})
	if err != nil {
		return nil, err
	}
	m.verifier = v
	m.ts = httptest.NewTLSServer(http.HandlerFunc(m.serveHTTP))
	return m, nil
}

// followClock sets the server's clock to WeChat Pay's. The demo moves the
// sandbox's clock to stand for a kiosk whose clock is off; the merchant's
// server keeps the right time, WeChat Pay's.
func (m *merchantServer) followClock(sb *sandbox.Sandbox) { m.wechat.Store(sb) }

func (m *merchantServer) now() time.Time {
	if sb := m.wechat.Load(); sb != nil {
		return time.Now().Add(sb.ClockOffset())
	}
	return time.Now()
}

func (m *merchantServer) client() *http.Client { return m.ts.Client() }

func (m *merchantServer) notifyURL() string { return m.ts.URL + "/payscore/notify" }

func (m *merchantServer) close() { m.ts.Close() }

// serveHTTP answers WeChat Pay as its notification rules ask: 2xx for a
// notification taken, anything else and it posts again later.
func (m *merchantServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := m.verifier.FromRequest(r)
	m.mu.Lock()
	if err != nil {
		m.refused = append(m.refused, err)
	} else {
		m.verified = append(m.verified, n)
	}
	m.mu.Unlock()
	select {
	case m.arrived <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "FAIL", "message": err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// find is the verified notification of event about order no, nil if none
// came.
func (m *merchantServer) find(event, no string) *notify.Notification {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.verified {
		if n.EventType == event && n.ServiceOrder != nil && n.ServiceOrder.OutOrderNo == no {
			return n
		}
	}
	return nil
}

// until waits up to within for cond to hold, looking again as
// notifications come; it reports whether it held.
func (m *merchantServer) until(within time.Duration, cond func() bool) bool {
	deadline := time.After(within)
	for !cond() {
		select {
		case <-m.arrived:
		case <-deadline:
			return cond()
		}
	}
	return true
}

// checkNotified checks that the merchant's server got, verified and
// decrypted WeChat Pay's notification of event about order no, and that
// the order in it passes order.
func (d *demo) checkNotified(no, event string, order func(*notify.ServiceOrder) error) {
	var n *notify.Notification
	d.merchant.until(10*time.Second, func() bool { n = d.merchant.find(event, no); return n != nil })
	if n == nil {
		d.check("WeChat Pay's "+event+" notification at notify_url", fmt.Errorf("none verified for %s within 10s", no))
		return
	}
	o := n.ServiceOrder
	paid := ""
	if o.Collection != nil {
		paid = fmt.Sprintf(", %d fen paid", o.Collection.PaidAmount)
	}
	d.check(fmt.Sprintf("notify_url got %s (%s) for it: signature verified, decrypted: %s%s", n.EventType, n.Summary,
		joinState(o.State, o.StateDescription), paid), order(o))
}

// notificationsVerified checks, on service orders, that every notification
// the merchant's server got so far verified.
func (d *demo) notificationsVerified() {
	if d.merchant == nil {
		return
	}
	d.merchant.mu.Lock()
	verified, refused := len(d.merchant.verified), errors.Join(d.merchant.refused...)
	d.merchant.mu.Unlock()
	d.say("")
	d.check(fmt.Sprintf("the merchant's server verified and decrypted every notification WeChat Pay posted (%d)", verified), refused)
}
