package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The demo's offline limits (config.json): small, so that one shows.
const (
	demoMaxOrders      = 8
	demoMaxOrderAmount = 30000 // fen: 300 CNY for one order
)

// offline is the demo's offline chapter: the network drops, sales go on,
// the network comes back flaky, the queue drains.
func (d *demo) offline(ctx context.Context) {
	d.say("")
	d.say("6. The cabinet's network drops. Sales go on: the plugin keeps them in its outbox.")
	if err := d.setNetwork(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		d.check("network down (both sandbox domains offline)", err)
		return
	}
	// Watch events from now on, as a kiosk's UI would.
	events, err := d.watch(ctx)
	if err != nil {
		d.check("watching events", err)
		return
	}
	defer events.close()

	f := false
	// offlineOrder needs no confirmation (it may wait offline) and so names
	// the customer (openid), as WeChat Pay then requires.
	offlineOrder := func(no string, risk int64) *v1.NewOrder {
		o := demoOrder()
		o.RiskAmount, o.NeedUserConfirm, o.Openid = risk, &f, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
		if no != "" {
			o.OutOrderNo = no
		}
		return o
	}
	var sales []string
	var cancelled string
	queuedOrders, queuedOps := 0, 0 // each is an ORDER_SUBMITTED or OPERATION_SUBMITTED event when sent
	for i := 1; i <= 5; i++ {
		no := fmt.Sprintf("OFF-%d-%d", time.Now().Unix(), i)
		resp, err := d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: offlineOrder(no, 20000)})
		if !d.check(fmt.Sprintf("sale %d queued offline", i), errors.Join(err, want(resp.GetDisposition(), v1.Disposition_DISPOSITION_QUEUED))) {
			continue
		}
		queuedOrders++
		if i == 5 {
			// The customer takes nothing. The order needs no confirmation, so
			// WeChat Pay will hold it as confirmed: the queued cancel goes as
			// a complete that charges nothing on smart retail, as the
			// cancel of a DOING order on service orders.
			c, err := d.kiosk.CancelOrder(ctx, &v1.CancelOrderRequest{OutOrderNo: no, Reason: "顾客未取商品"})
			if d.check("   the customer takes nothing: its cancel queued behind it", errors.Join(err, want(c.GetDisposition(), v1.Disposition_DISPOSITION_QUEUED))) {
				cancelled = no
				queuedOps++
			}
			continue
		}
		total := int64(100 * (i + 2))
		comp, err := d.kiosk.CompleteOrder(ctx, &v1.CompleteOrderRequest{OutOrderNo: no, FinishType: 2,
			Fees: []*v1.Fee{{FeeName: "矿泉水", FeeCount: int64(i), FeeAmount: total}}, TotalAmount: &total})
		if d.check(fmt.Sprintf("   its complete (%d fen) queued behind it", total), errors.Join(err, want(comp.GetDisposition(), v1.Disposition_DISPOSITION_QUEUED))) {
			sales = append(sales, no)
			queuedOps++
		}
	}
	st, err := d.kiosk.GetStatus(ctx, &v1.GetStatusRequest{})
	if d.check("status", err) {
		d.say("         network %s, %d orders queued, %d fen at risk, oldest %v; limits: %d orders, %d fen for one order",
			strings.TrimPrefix(st.GetNetworkStatus().String(), "NETWORK_STATUS_"), st.GetQueuedCount(), st.GetQueuedAmount(),
			st.GetOldestQueuedAge().AsDuration().Round(time.Millisecond), demoMaxOrders, demoMaxOrderAmount)
	}

	d.say("   A customer fills a trolley worth more than the offline limit for one order.")
	_, err = d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: offlineOrder("", demoMaxOrderAmount+1)})
	var se *shared.Error
	if errors.As(err, &se) {
		d.say("         refused: %s (%s)", se.Reason, se.Message)
	}
	d.check("refused with OFFLINE_LIMIT / MAX_ORDER_AMOUNT", errors.Join(wantClass(err, shared.ClassOfflineLimit), want(reasonOf(err), "MAX_ORDER_AMOUNT")))

	d.say("   A customer whose order needs confirmation in WeChat (need_user_confirm) tries to buy.")
	_, err = d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: demoOrder()})
	if errors.As(err, &se) {
		d.say("         refused: %s: %s", se.Reason, firstSentence(se.Message))
	}
	d.check("refused with NEEDS_CONFIRMATION_ONLINE, not queued", want(reasonOf(err), "NEEDS_CONFIRMATION_ONLINE"))

	d.say("")
	d.say("7. The network comes back, flaky: a third of the answers are lost on the way back.")
	if err := d.setNetwork(sandbox.Faults{Mode: sandbox.FaultDropResponse, Probability: 0.3}); err != nil {
		d.check("flaky network (sandbox drop_response)", err)
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	last := int64(-1)
	for {
		dr, err := d.kiosk.Drain(ctx, &v1.DrainRequest{})
		if err != nil {
			d.check("drain", err)
			break
		}
		pending := dr.GetPendingCount()
		if pending != last {
			d.say("         draining: %d orders with work left", pending)
			last = pending
		}
		if pending == 0 || time.Now().After(deadline) {
			d.check("the queue drained", want(pending, int64(0)))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := d.setNetwork(sandbox.Faults{Mode: sandbox.FaultNone}); err != nil {
		d.check("network back (sandbox faults none)", err)
	}
	// The queue drained: wait for the event of every queued order and
	// operation sent.
	allSeen := events.until(5*time.Second, func() bool {
		return events.count(v1.EventType_EVENT_TYPE_ORDER_SUBMITTED) >= queuedOrders &&
			events.count(v1.EventType_EVENT_TYPE_OPERATION_SUBMITTED) >= queuedOps
	})
	d.check("an event for every queued order and operation sent", want(allSeen, true))
	d.say("         events seen: %d ORDER_SUBMITTED, %d OPERATION_SUBMITTED, %d NETWORK_STATUS_CHANGED, %d ORDER_FAILED",
		events.count(v1.EventType_EVENT_TYPE_ORDER_SUBMITTED), events.count(v1.EventType_EVENT_TYPE_OPERATION_SUBMITTED),
		events.count(v1.EventType_EVENT_TYPE_NETWORK_STATUS_CHANGED), events.count(v1.EventType_EVENT_TYPE_ORDER_FAILED))
	for _, no := range sales {
		o, ok := d.atWeChatPay(no)
		d.check(fmt.Sprintf("%s at WeChat Pay: %s, one order (%d create requests)", no, d.completedState(), o.creates),
			errors.Join(want(ok, true), want(o.state, d.completedState())))
	}
	if cancelled != "" {
		q, err := d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: cancelled})
		what, uncharged := d.uncharged(q.GetOrder())
		d.check(cancelled+" at WeChat Pay: "+what, errors.Join(err, uncharged))
	}
	if st, err := d.kiosk.GetStatus(ctx, &v1.GetStatusRequest{}); d.check("final status", err) {
		d.check("nothing failed, nothing left", errors.Join(want(st.GetFailedCount(), int64(0)), want(st.GetPendingCount(), int64(0))))
	}
}

// setNetwork sets the faults of both WeChat Pay domains: the cabinet's
// network reaches both or neither.
func (d *demo) setNetwork(f sandbox.Faults) error {
	return errors.Join(d.srv.Sandbox.SetFaults(f), d.srv.Sandbox.Backup().SetFaults(f))
}

func wantClass(err error, class shared.Class) error {
	var se *shared.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("got %v, want a %s error", err, class)
	}
	return want(se.Class, class)
}

func reasonOf(err error) string {
	var se *shared.Error
	if errors.As(err, &se) {
		return se.Reason
	}
	return ""
}

func firstSentence(s string) string {
	if i := strings.Index(s, ";"); i > 0 {
		return s[:i]
	}
	return s
}
