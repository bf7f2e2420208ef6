package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/notify"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// demoClockOff is how far the kiosk's clock is off in the clock chapter:
// twice WeChat Pay's 5-minute window.
const demoClockOff = 10 * time.Minute

// clockOff is the demo's clock chapter: the kiosk's clock is 10 minutes
// slow, and sales go through on WeChat Pay's time.
func (d *demo) clockOff(ctx context.Context) {
	d.say("")
	d.say("4. The kiosk's clock is 10 minutes slow (its board lost the time). The demo cannot move this")
	d.say("   machine's clock, so it moves WeChat Pay's (the sandbox's) 10 minutes ahead: to the plugin the")
	d.say("   two are the same. WeChat Pay refuses a request 5 minutes or more off its time.")
	events, err := d.watch(ctx)
	if err != nil {
		d.check("watching events", err)
		return
	}
	defer events.close()
	if err := d.srv.Sandbox.SetClockOffset(demoClockOff); err != nil {
		d.check("sandbox clock set 10 minutes ahead", err)
		return
	}

	no, err := d.sell(ctx, 350)
	if !d.check("a sale goes through: created, confirmed, completed (3.50 CNY) "+no, err) {
		d.check("sandbox clock set right", d.srv.Sandbox.SetClockOffset(0))
		return
	}
	st, err := d.kiosk.GetStatus(ctx, &v1.GetStatusRequest{})
	d.check(fmt.Sprintf("status: clock_offset %v (WeChat Pay's time less the kiosk's), clock_offset_known", offsetOf(st)),
		errors.Join(err, want(st.GetClockOffsetKnown(), true), near(st.GetClockOffset().AsDuration(), demoClockOff)))
	d.checkSkewEvent(events, demoClockOff)
	if d.merchant != nil {
		// Waited for before the sandbox's clock goes back: the notification
		// is signed on WeChat Pay's time, which the merchant's server keeps.
		d.checkNotified(no, notify.EventUserConfirm, func(o *notify.ServiceOrder) error {
			return want(joinState(o.State, o.StateDescription), stageStates[d.api][v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED])
		})
	}

	d.say("   The clock is set right again (the sandbox's, here); the next answer tells the plugin.")
	if err := d.srv.Sandbox.SetClockOffset(0); err != nil {
		d.check("sandbox clock set right", err)
		return
	}
	_, err = d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	d.check("kiosk queries "+no, err)
	st, err = d.kiosk.GetStatus(ctx, &v1.GetStatusRequest{})
	d.check(fmt.Sprintf("status: clock_offset %v", offsetOf(st)), errors.Join(err, near(st.GetClockOffset().AsDuration(), 0)))
	d.checkSkewEvent(events, 0)
}

// checkSkewEvent checks that a CLOCK_SKEW event came saying the offset is
// about off.
func (d *demo) checkSkewEvent(events *eventWatch, off time.Duration) {
	match := func(ev *v1.Event) bool { return near(ev.GetClockOffset().AsDuration(), off) == nil }
	var ev *v1.Event
	events.until(5*time.Second, func() bool {
		ev = events.find(v1.EventType_EVENT_TYPE_CLOCK_SKEW, match)
		return ev != nil
	})
	if ev == nil {
		d.check("a CLOCK_SKEW event", fmt.Errorf("none came with a clock_offset within a second of %v", off))
		return
	}
	d.check("a CLOCK_SKEW event: "+ev.GetMessage(), nil)
}

// mainDomainDown is the demo's domain chapter: WeChat Pay's main API domain
// cannot be reached, and sales go through the backup.
func (d *demo) mainDomainDown(ctx context.Context) {
	d.say("")
	d.say("5. WeChat Pay's main API domain cannot be reached (the sandbox's main listener resets every")
	d.say("   connection); its backup domain answers.")
	events, err := d.watch(ctx)
	if err != nil {
		d.check("watching events", err)
		return
	}
	defer events.close()
	if err := d.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		d.check("main domain down (sandbox offline)", err)
		return
	}

	if no, err := d.sell(ctx, 400); d.check("a sale goes through: created, confirmed, completed (4.00 CNY) "+no, err) {
		d.wentThroughBackup(ctx, events, no)
	}

	if err := d.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone}); err != nil {
		d.check("main domain back (sandbox faults none)", err)
		return
	}
	d.say("   The main domain answers again. The plugin stays on the backup (the same service) for %v,", wxpay.BackToMainAfter)
	d.say("   then tries the main one first again.")
}

// wentThroughBackup checks what shows that sale no went through the backup.
func (d *demo) wentThroughBackup(ctx context.Context, events *eventWatch, no string) {
	o, ok := d.atWeChatPay(no)
	d.check(fmt.Sprintf("at WeChat Pay: %s, one order (%d create requests)", o.state, o.creates),
		errors.Join(want(ok, true), want(o.state, d.completedState()), want(o.creates, 1)))
	st, err := d.kiosk.GetStatus(ctx, &v1.GetStatusRequest{})
	d.check("status: api_base_url_in_use "+st.GetApiBaseUrlInUse()+", the backup", errors.Join(err, want(st.GetApiBaseUrlInUse(), d.srv.BackupURL)))
	var ev *v1.Event
	events.until(5*time.Second, func() bool {
		ev = events.find(v1.EventType_EVENT_TYPE_API_DOMAIN_CHANGED, func(ev *v1.Event) bool { return ev.GetApiBaseUrl() == d.srv.BackupURL })
		return ev != nil
	})
	if ev == nil {
		d.check("an API_DOMAIN_CHANGED event", errors.New("none came naming the backup"))
		return
	}
	d.check("an API_DOMAIN_CHANGED event: "+ev.GetMessage(), nil)
}

// sell is a sale made online from start to end: opened (openSale),
// completed for total fen. It returns the order's out_order_no.
func (d *demo) sell(ctx context.Context, total int64) (string, error) {
	no, o, err := d.openSale(ctx)
	if err != nil {
		return no, err
	}
	_, err = d.kiosk.CompleteOrder(ctx, &v1.CompleteOrderRequest{OutOrderNo: no, FinishType: 2,
		Fees: []*v1.Fee{{FeeName: "可口可乐 330ml", FeeCount: 1, FeeAmount: total}}, TotalAmount: &total,
		FinishTicket: o.GetFinishTicket()})
	if err != nil {
		return no, fmt.Errorf("complete: %w", err)
	}
	return no, nil
}

// openSale is a sale's start online: created at WeChat Pay, confirmed by
// the customer, queried for its state. It returns the order's
// out_order_no and the query's answer.
func (d *demo) openSale(ctx context.Context) (string, *v1.Order, error) {
	order := demoOrder()
	no := order.GetOutOrderNo()
	resp, err := d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: order})
	if err != nil {
		return no, nil, fmt.Errorf("create: %w", err)
	}
	if err := want(resp.GetDisposition(), v1.Disposition_DISPOSITION_SUBMITTED); err != nil {
		return no, nil, fmt.Errorf("create: %w", err)
	}
	if err := d.accept(no); err != nil {
		return no, nil, fmt.Errorf("customer confirms (sandbox accept): %w", err)
	}
	q, err := d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	if err != nil {
		return no, nil, fmt.Errorf("query: %w", err)
	}
	if err := d.inStage(q.GetOrder(), v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED); err != nil {
		return no, nil, fmt.Errorf("query: %w", err)
	}
	return no, q.GetOrder(), nil
}

// offsetOf is the status's clock_offset, rounded for reading.
func offsetOf(st *v1.GetStatusResponse) time.Duration {
	return st.GetClockOffset().AsDuration().Round(time.Millisecond)
}

// near says whether got is within a second of wanted: the offset learnt
// from answers is as good as their timestamps, which are in seconds.
func near(got, wanted time.Duration) error {
	if d := got - wanted; d > time.Second || d < -time.Second {
		return fmt.Errorf("got %v, want %v within a second", got, wanted)
	}
	return nil
}
