package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// newSale is an order that meets every rule WeChat Pay has for a create
// (sandbox/doc.go): a start time, location and introduction, a risk amount,
// and the customer's openid when it needs no confirmation (confirm false;
// nil leaves need_user_confirm out: true). An empty no lets the plugin mint one.
func newSale(no string, risk int64, confirm *bool) *v1.NewOrder {
	o := &v1.NewOrder{OutOrderNo: no, ServiceStartTime: "OnAccept", ServiceStartLocation: "柜机 K-17",
		ServiceIntroduction: "智慧零售柜", RiskAmount: risk, NeedUserConfirm: confirm}
	if confirm != nil && !*confirm {
		o.Openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	}
	return o
}

// endedUncharged says whether a cancelled sale ended as WeChat Pay allows:
// revoked before the customer confirmed, or after, by a complete with the
// cancel flag that charged nothing.
func endedUncharged(o sandbox.Order) bool {
	return o.State == sandbox.StateRevoked ||
		o.State == sandbox.StateFinished && o.FinishType == sandbox.FinishTypeCancel && o.TotalAmount != nil && *o.TotalAmount == 0
}

// A queue of orders built to sit at every limit the kiosk knows (the
// longest names and texts, 100 fees counting 100 each, 5 discounts, a total
// at the risk amount and the risk amount at the service's, the smallest
// amounts, the cancel flag with the longest reason, a cancel that must go as
// a complete) drains with none refused: what the plugin answers QUEUED for,
// WeChat Pay takes (issue 10: a rule known at the kiosk is never found only
// when the queue drains, after the customer has left).
func TestAQueueAtEveryLimitDrainsWithNoneRefused(t *testing.T) {
	c, env := startHost(t, host.Options{})
	ctx := testkit.Context(t)
	sb := env.srv.Sandbox
	noConfirm := false
	text := func(n int) string { return strings.Repeat("字", n) }
	// named is a name of n characters, distinct for each i.
	named := func(n, i int) string { return text(n-3) + fmt.Sprintf("%03d", i) }

	type op struct {
		cancel   *v1.CancelOrderRequest
		complete *v1.CompleteOrderRequest
	}
	type queued struct {
		order      *v1.NewOrder
		op         op
		finishType int
		total      int64
		fees       int
	}
	var sales []queued

	// 1. Everything at its longest, the total at the risk amount, and the
	// risk amount at the service's configured one (also the plugin's
	// default offline limit for one order).
	{
		risk := int64(sandbox.DefaultMaxRiskAmount)
		o := newSale(strings.Repeat("L", wxpay.MaxOutOrderNoLen), risk, &noConfirm)
		o.ServiceStartTime, o.ServiceEndTime = "20261126093000", "20261231"
		o.ServiceStartLocation, o.ServiceEndLocation = text(wxpay.MaxLocationLen), named(wxpay.MaxLocationLen, 1)
		o.ServiceIntroduction, o.Attach = text(wxpay.MaxIntroductionLen), strings.Repeat("a", wxpay.MaxAttachLen)
		o.Openid = strings.Repeat("o", wxpay.MaxOpenIDLen)
		var fees, created []*v1.Fee
		var sum int64
		for i := 0; i < wxpay.MaxFees; i++ {
			f := &v1.Fee{FeeName: named(wxpay.MaxFeeNameLen, i), FeeCount: wxpay.MaxFeeCount, FeeAmount: 1000, FeeDesc: text(wxpay.MaxDescLen)}
			if i == 0 {
				f.FeeAmount = 1000 + wxpay.MaxDiscounts // the discounts' 1 fen each
			}
			sum += f.FeeAmount
			fees = append(fees, f)
			created = append(created, &v1.Fee{FeeName: f.FeeName, FeeCount: f.FeeCount, FeeAmount: f.FeeAmount, FeeDesc: f.FeeDesc})
		}
		var ds, createDs []*v1.Discount
		for i := 0; i < wxpay.MaxDiscounts; i++ {
			ds = append(ds, &v1.Discount{DiscountName: named(wxpay.MaxDiscountNameLen, i), DiscountDesc: text(wxpay.MaxDescLen), DiscountAmount: 1})
			createDs = append(createDs, &v1.Discount{DiscountName: named(wxpay.MaxDiscountNameLen, i), DiscountDesc: text(wxpay.MaxDescLen)})
		}
		o.Fees, o.Discounts = created, createDs
		total := sum - wxpay.MaxDiscounts
		if total != risk {
			t.Fatalf("the fixture charges %d, not its risk amount %d", total, risk)
		}
		sales = append(sales, queued{order: o, finishType: 2, total: total, fees: wxpay.MaxFees, op: op{complete: &v1.CompleteOrderRequest{
			OutOrderNo: o.OutOrderNo, FinishType: 2, CancelReason: text(wxpay.MaxReasonLen),
			RealServiceStartTime: "20261126093000", RealServiceEndTime: "20261126",
			RealServiceEndLocation: named(wxpay.MaxRealEndLocationLen, 2), Fees: fees, Discounts: ds,
			TotalAmount: &total, ProfitSharing: true}}})
	}
	// 2. The smallest: risk 1 fen, a fee of 0 beside one of 1 fen and no
	// fee_count (it counts 1), total_amount left for the plugin to send.
	{
		o := newSale("LIM-SMALLEST", 1, &noConfirm)
		sales = append(sales, queued{order: o, finishType: 2, total: 1, fees: 2, op: op{complete: &v1.CompleteOrderRequest{
			OutOrderNo: o.OutOrderNo, FinishType: 2,
			Fees: []*v1.Fee{{FeeName: "袋", FeeAmount: 0}, {FeeName: "糖", FeeAmount: 1}}}}})
	}
	// 3. The cancel flag with the longest cancel_reason, total 0 given.
	{
		o := newSale("LIM-CANCEL-FLAG", 500, &noConfirm)
		zero := int64(0)
		sales = append(sales, queued{order: o, finishType: 1, op: op{complete: &v1.CompleteOrderRequest{
			OutOrderNo: o.OutOrderNo, FinishType: 1, CancelReason: text(wxpay.MaxReasonLen), TotalAmount: &zero}}})
	}
	// 4. A cancel with the longest reason the kiosk may give: the order
	// needs no confirmation, so WeChat Pay holds it confirmed and the cancel
	// goes as a complete whose cancel_reason it becomes.
	{
		o := newSale("LIM-CANCEL", 500, &noConfirm)
		sales = append(sales, queued{order: o, finishType: 1, op: op{cancel: &v1.CancelOrderRequest{
			OutOrderNo: o.OutOrderNo, Reason: text(wxpay.MaxReasonLen)}}})
	}
	// 5. A real end location equal to the start: to be left out, sent anyway.
	{
		o := newSale("LIM-SAME-PLACE", 300, &noConfirm)
		total := int64(300)
		sales = append(sales, queued{order: o, finishType: 2, total: total, fees: 1, op: op{complete: &v1.CompleteOrderRequest{
			OutOrderNo: o.OutOrderNo, FinishType: 2, RealServiceEndLocation: o.ServiceStartLocation,
			Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}}, TotalAmount: &total}}})
	}

	// Queued, every one, while WeChat Pay cannot be reached.
	if err := sb.SetFaults(sandboxFaults(sandbox.FaultOffline)); err != nil {
		t.Fatal(err)
	}
	from := uint64(0)
	if st, err := c.GetStatus(ctx, &v1.GetStatusRequest{}); err == nil {
		from = st.GetLastEventSequence()
	} else {
		t.Fatal(err)
	}
	for _, s := range sales {
		resp, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: s.order, OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE})
		if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("%s: %v, %.500v", s.order.OutOrderNo, resp.GetDisposition(), err)
		}
		var disp v1.Disposition
		if s.op.cancel != nil {
			r, err := c.CancelOrder(ctx, s.op.cancel)
			if err != nil {
				t.Fatalf("%s: cancel: %.500v", s.order.OutOrderNo, err)
			}
			disp = r.GetDisposition()
		} else {
			r, err := c.CompleteOrder(ctx, s.op.complete)
			if err != nil {
				t.Fatalf("%s: complete: %.500v", s.order.OutOrderNo, err)
			}
			disp = r.GetDisposition()
		}
		if disp != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("%s: its operation is %v, want QUEUED", s.order.OutOrderNo, disp)
		}
	}

	// WeChat Pay answers again; the queue drains. Each order's create and
	// operation end in an event: submitted, or failed (a refusal).
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	events := make(chan *v1.Event, 64)
	go func() {
		_ = c.WatchEvents(wctx, &v1.WatchEventsRequest{AfterSequence: from}, func(ev *v1.Event) error {
			select {
			case events <- ev:
			case <-wctx.Done():
			}
			return nil
		})
	}()
	if err := sb.SetFaults(sandboxFaults(sandbox.FaultNone)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Drain(ctx, &v1.DrainRequest{}); err != nil {
		t.Fatal(err)
	}
	submitted, operated := 0, 0
	for submitted < len(sales) || operated < len(sales) {
		select {
		case ev := <-events:
			switch ev.GetType() {
			case v1.EventType_EVENT_TYPE_ORDER_SUBMITTED:
				submitted++
			case v1.EventType_EVENT_TYPE_OPERATION_SUBMITTED:
				operated++
			case v1.EventType_EVENT_TYPE_ORDER_FAILED, v1.EventType_EVENT_TYPE_EVENTS_LOST:
				t.Fatalf("refused when the queue drained: %v", ev)
			}
		case <-ctx.Done():
			t.Fatalf("the queue did not drain: %d of %d creates and %d of %d operations submitted", submitted, len(sales), operated, len(sales))
		}
	}
	if st, err := c.GetStatus(ctx, &v1.GetStatusRequest{}); err != nil || st.GetFailedCount() != 0 || st.GetPendingCount() != 0 {
		t.Errorf("status after the drain: %v, %v", st, err)
	}

	for _, s := range sales {
		o, ok := sb.Order(s.order.OutOrderNo)
		switch {
		case !ok:
			t.Errorf("%s is not at WeChat Pay", s.order.OutOrderNo)
		case s.finishType == 1 && !endedUncharged(o):
			t.Errorf("%s: %s, finish_type %d, total %v: want ended without charge", o.OutOrderNo, o.State, o.FinishType, o.TotalAmount)
		case s.finishType == 2 && (o.State != sandbox.StateFinished || o.FinishType != 2 || o.TotalAmount == nil ||
			*o.TotalAmount != s.total || len(o.Fees) != s.fees):
			t.Errorf("%s: %s, finish_type %d, total %v, %d fees: want FINISHED, %d fen, %d fees",
				o.OutOrderNo, o.State, o.FinishType, o.TotalAmount, len(o.Fees), s.total, s.fees)
		case o.CreateRequests != 1:
			t.Errorf("%s: %d create requests", o.OutOrderNo, o.CreateRequests)
		}
	}
	if o, _ := sb.Order("LIM-CANCEL"); o.CancelReason != text(wxpay.MaxReasonLen) {
		t.Errorf("the cancel's reason did not become the complete's cancel_reason: %q", o.CancelReason)
	}
}
