package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// An invalid create whose violations number in the tens of thousands once
// made a gRPC trailer too big for HTTP/2 (COMPRESSION_ERROR): the connection
// dropped, and a sale sent at the same time came back NETWORK with
// reached_server. The refusal must be small and leave the other sales alone,
// whether the plugin refuses it for its violations (listed up to a bound,
// the rest counted) or the message for its size.
func TestHugeViolationListLeavesConcurrentCreatesAlone(t *testing.T) {
	c, env := startHost(t, host.Options{})
	// Each fee is wrong three ways: no name, a negative count and amount.
	wrongFees := func(n int) []*v1.Fee {
		fees := make([]*v1.Fee, n)
		for i := range fees {
			fees[i] = &v1.Fee{FeeCount: -1, FeeAmount: -1}
		}
		return fees
	}
	cases := []struct {
		name string
		fees int
		code codes.Code
		more int // the count of violations not listed, 0 for none
	}{
		// 30,001 violations (too many fees, then three per fee) in a message
		// the plugin accepts (240 KB): 20 listed, the rest counted.
		{"10,000 wrong fees", 10000, codes.InvalidArgument, 30001 - shared.MaxListedViolations},
		// 180,001 violations, as in the trial that dropped the connection;
		// the message (1.4 MB) is now too large to be sent at all.
		{"60,000 wrong fees", 60000, codes.ResourceExhausted, 0},
	}
	// Each sale waits 300 ms at the sandbox, so one is surely in flight on
	// the connection while the refusal is made and answered.
	if err := env.srv.Sandbox.SetFaults(sandboxLatency(300)); err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testkit.Context(t)
			bad := newSale(fmt.Sprintf("SIZE-BAD-%d", i), 100, nil)
			bad.Fees = wrongFees(tc.fees)
			inFlight := make(chan struct{})
			stop := make(chan struct{})
			done := make(chan struct{})
			var failures []string
			sent := 0
			go func() {
				defer close(done)
				// Sales one after another until the refusal has come back,
				// and one more after it.
				for n := 0; ; n++ {
					last := false
					select {
					case <-stop:
						last = true
					default:
					}
					if n == 0 {
						close(inFlight)
					}
					no := fmt.Sprintf("SIZE-OK-%d-%d", i, n)
					resp, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: newSale(no, 100, nil)})
					sent++
					switch {
					case err != nil:
						failures = append(failures, fmt.Sprintf("%s: %.300v", no, err))
					case resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED:
						failures = append(failures, fmt.Sprintf("%s: disposition %v", no, resp.GetDisposition()))
					}
					if last || ctx.Err() != nil {
						return
					}
				}
			}()
			<-inFlight
			_, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: bad})
			close(stop)
			<-done

			for _, f := range failures {
				t.Errorf("concurrent create: %s", f)
			}
			if sent < 2 {
				t.Errorf("%d concurrent creates sent, want one during the refusal and one after", sent)
			}
			var se *shared.Error
			if !errors.As(err, &se) || se.Code != tc.code || se.Class != shared.ClassInvalid {
				t.Fatalf("refusal: %.500v; want %v, class INVALID", err, tc.code)
			}
			if n := len(se.Violations); n > shared.MaxListedViolations+1 {
				t.Errorf("%d violations came back, want at most %d", n, shared.MaxListedViolations+1)
			}
			if tc.more > 0 && !strings.Contains(se.Error(), shared.MoreViolations(tc.more)) {
				t.Errorf("the error does not count the %d violations it leaves out: %.2000s", tc.more, se)
			}
			if len(se.Error()) > 8<<10 {
				t.Errorf("the error is %d bytes", len(se.Error()))
			}
			if _, ok := env.srv.Sandbox.Order(bad.OutOrderNo); ok {
				t.Error("the invalid order reached the sandbox")
			}
		})
	}
}

// Sizes WeChat Pay refuses are refused before the outbox keeps the order:
// FORCE_OFFLINE would otherwise answer QUEUED for a sale that fails only
// when the queue drains, after the customer has left.
func TestOversizedCreatesAreRefusedNotQueued(t *testing.T) {
	c, env := startHost(t, host.Options{})
	ctx := testkit.Context(t)
	noConfirm := false
	order := func(no string) *v1.NewOrder {
		return newSale(no, 100, &noConfirm)
	}
	manyFees := func(n int) []*v1.Fee {
		fees := make([]*v1.Fee, n)
		for i := range fees {
			fees[i] = &v1.Fee{FeeName: fmt.Sprint("水", i), FeeCount: 1, FeeAmount: 1}
		}
		return fees
	}
	cases := []struct {
		name  string
		edit  func(*v1.NewOrder)
		field string // "" when the message is refused whole, for its size
	}{
		{"101 fees", func(o *v1.NewOrder) { o.Fees = manyFees(101) }, "order.fees"},
		{"100,000 fees", func(o *v1.NewOrder) { o.Fees = manyFees(100000) }, ""},
		{"33-character service_id", func(o *v1.NewOrder) { o.ServiceId = strings.Repeat("5", 33) }, "order.service_id"},
		{"33-character appid", func(o *v1.NewOrder) { o.Appid = "wx" + strings.Repeat("a", 31) }, "order.appid"},
		{"15 MiB service_id", func(o *v1.NewOrder) { o.ServiceId = strings.Repeat("5", 15<<20) }, ""},
		{"200 KiB attach", func(o *v1.NewOrder) { o.Attach = strings.Repeat("a", 200<<10) }, "order.attach"},
		{"15 MiB service_end_time", func(o *v1.NewOrder) { o.ServiceEndTime = strings.Repeat("2", 15<<20) }, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			no := fmt.Sprintf("SIZE-Q%d", i)
			o := order(no)
			tc.edit(o)
			_, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: o, OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE})
			if tc.field == "" {
				se := testkit.WantError(t, err, codes.ResourceExhausted, shared.ClassInvalid)
				if !strings.Contains(se.Message, "too large") {
					t.Errorf("message %q does not say the request is too large", se.Message)
				}
			} else {
				se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
				if len(se.Violations) == 0 || se.Violations[0].Field != tc.field {
					t.Errorf("violations %v, want %s first", se.Violations, tc.field)
				}
				if len(se.Error()) > 4<<10 {
					t.Errorf("the error is %d bytes: values must not be echoed", len(se.Error()))
				}
			}
			queued, err := c.ListQueue(ctx, &v1.ListQueueRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range queued.GetOrders() {
				if q.GetOutOrderNo() == no {
					t.Errorf("%s was queued", no)
				}
			}
		})
	}
	// The plugin is still there and sells.
	if _, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: order("SIZE-AFTER")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := env.srv.Sandbox.Order("SIZE-AFTER"); !ok {
		t.Error("the sale after the refusals did not reach the sandbox")
	}
}

// The largest valid requests, every text at its bound in 4-byte characters,
// are far inside the message size the plugin accepts, and pass end to end.
func TestLargestValidRequestsPass(t *testing.T) {
	c, env := startHost(t, host.Options{})
	ctx := testkit.Context(t)
	creds := env.srv.Credentials
	wide := func(n int) string { return strings.Repeat("𠀀", n) } // 4 bytes each in UTF-8
	// Names are unique in an order: wide ones told apart by a last digit.
	name := func(n, i int) string { return wide(n-3) + fmt.Sprintf("%03d", i) }
	fees := make([]*v1.Fee, wxpay.MaxFees)
	for i := range fees {
		fees[i] = &v1.Fee{FeeName: name(wxpay.MaxFeeNameLen, i), FeeCount: wxpay.MaxFeeCount, FeeAmount: 1, FeeDesc: wide(wxpay.MaxDescLen)}
	}
	var discounts []*v1.Discount
	for i := 0; i < wxpay.MaxDiscounts; i++ {
		discounts = append(discounts, &v1.Discount{DiscountName: name(wxpay.MaxDiscountNameLen, i), DiscountDesc: wide(wxpay.MaxDescLen)})
	}
	noConfirm := false
	order := &v1.NewOrder{OutOrderNo: strings.Repeat("L", wxpay.MaxOutOrderNoLen), Appid: creds.AppID, ServiceId: creds.ServiceID,
		ServiceStartTime: "20261126093000", ServiceEndTime: "20261126183000",
		ServiceStartLocation: wide(wxpay.MaxLocationLen), ServiceEndLocation: wide(wxpay.MaxLocationLen),
		ServiceIntroduction: wide(wxpay.MaxIntroductionLen), Fees: fees, Discounts: discounts, RiskAmount: 100,
		Attach: wide(wxpay.MaxAttachLen), NeedUserConfirm: &noConfirm, Openid: wide(wxpay.MaxOpenIDLen)}
	atBound := proto.Clone(order).(*v1.NewOrder)
	atBound.Appid, atBound.ServiceId = wide(wxpay.MaxAppIDLen), wide(wxpay.MaxServiceIDLen)
	t.Logf("largest valid create: %d bytes", proto.Size(&v1.CreateOrderRequest{Order: atBound}))
	if n := proto.Size(&v1.CreateOrderRequest{Order: atBound}); n > shared.MaxRequestBytes/4 {
		t.Errorf("the largest valid create is %d bytes, near the %d accepted", n, shared.MaxRequestBytes)
	}
	if _, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: order}); err != nil {
		t.Fatalf("%.500v", err)
	}

	for _, d := range discounts {
		d.DiscountAmount = 1
	}
	complete := &v1.CompleteOrderRequest{OutOrderNo: order.OutOrderNo, Appid: wide(wxpay.MaxAppIDLen), ServiceId: wide(wxpay.MaxServiceIDLen),
		FinishType: 2, CancelReason: wide(wxpay.MaxReasonLen), RealServiceStartTime: "20261126093000", RealServiceEndTime: "20261126183000",
		RealServiceEndLocation: wide(wxpay.MaxRealEndLocationLen), Fees: fees, Discounts: discounts, FinishTicket: wide(wxpay.MaxFinishTicketLen)}
	t.Logf("largest valid complete: %d bytes", proto.Size(complete))
	if n := proto.Size(complete); n > shared.MaxRequestBytes/4 {
		t.Errorf("the largest valid complete is %d bytes, near the %d accepted", n, shared.MaxRequestBytes)
	}
	got, err := c.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: order.OutOrderNo})
	if err != nil {
		t.Fatal(err)
	}
	complete.Appid, complete.ServiceId, complete.FinishTicket = creds.AppID, creds.ServiceID, got.GetOrder().GetFinishTicket()
	if _, err := c.CompleteOrder(ctx, complete); err != nil {
		t.Fatalf("%.500v", err)
	}
	if o, _ := env.srv.Sandbox.Order(order.OutOrderNo); o.State != "FINISHED" || len(o.Fees) != wxpay.MaxFees {
		t.Errorf("state %s, %d fees", o.State, len(o.Fees))
	}
}
