package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestStateMachine(t *testing.T) {
	clk := newClock()
	srv := startServer(t, Options{Now: clk.Now})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox
	ctx := context.Background()
	cancel := func(no string) error {
		_, err := cl.Post(ctx, ordersURL(srv)+"/"+no+"/cancel", map[string]any{"appid": c.AppID, "service_id": c.ServiceID, "reason": "r"})
		return err
	}
	complete := func(no string, body map[string]any) error {
		_, err := cl.Post(ctx, ordersURL(srv)+"/"+no+"/complete", ticketed(srv, no, body))
		return err
	}
	state := func(no string) string {
		o, ok := sb.Order(no)
		if !ok {
			t.Fatalf("no order %s", no)
		}
		return o.State
	}

	// Forbidden customer moves on a CREATED order.
	sdkCreate(t, cl, srv, "s-1")
	if err := sb.Pay("s-1"); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("pay CREATED: %v", err)
	}
	if err := sb.Accept("nope"); !errors.Is(err, ErrOrderNotExist) {
		t.Fatalf("accept unknown: %v", err)
	}
	// cancel in CREATED -> REVOKED; then everything is refused.
	if err := cancel("s-1"); err != nil {
		t.Fatal(err)
	}
	if state("s-1") != StateRevoked {
		t.Fatal(state("s-1"))
	}
	apiErr(t, cancel("s-1"), 400, "INVALID_REQUEST")
	apiErr(t, complete("s-1", completeBody(c)), 400, "INVALID_REQUEST")
	for _, f := range []func(string) error{sb.Accept, sb.Pay, sb.Expire} {
		if err := f("s-1"); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("REVOKED: %v", err)
		}
	}

	// cancel in USER_ACCEPTED is refused: only before the customer
	// confirms (wechatpay.js.org cancel.md); it stays USER_ACCEPTED.
	sdkCreate(t, cl, srv, "s-2")
	if err := sb.Accept("s-2"); err != nil {
		t.Fatal(err)
	}
	if o, _ := sb.Order("s-2"); o.RealServiceStartTime == "" {
		t.Fatal("accept did not set real_service_start_time")
	}
	if err := sb.Accept("s-2"); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("accept twice: %v", err)
	}
	if err := sb.Expire("s-2"); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("expire USER_ACCEPTED: %v", err)
	}
	if e := apiErr(t, cancel("s-2"), 400, "INVALID_REQUEST"); !contains(e.Message, "order state") || state("s-2") != StateUserAccepted {
		t.Fatal(e.Message, state("s-2"))
	}

	// finish_type 1: FINISHED, total 0, not payable; no cancel afterwards.
	sdkCreate(t, cl, srv, "s-3")
	_ = sb.Accept("s-3")
	if err := complete("s-3", map[string]any{"appid": c.AppID, "service_id": c.ServiceID, "finish_type": 1, "cancel_reason": "nothing taken",
		"total_amount": 0, "profit_sharing": false}); err != nil {
		t.Fatal(err)
	}
	o, _ := sb.Order("s-3")
	if o.State != StateFinished || o.FinishType != 1 || o.TotalAmount == nil || *o.TotalAmount != 0 || o.CancelReason != "nothing taken" {
		t.Fatalf("%+v", o)
	}
	if err := sb.Pay("s-3"); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("pay finish_type 1: %v", err)
	}
	apiErr(t, cancel("s-3"), 400, "INVALID_REQUEST")
	apiErr(t, complete("s-3", completeBody(c)), 400, "INVALID_REQUEST")

	// finish_type 2 -> pay -> USER_PAID, then nothing more.
	sdkCreate(t, cl, srv, "s-4")
	_ = sb.Accept("s-4")
	if err := complete("s-4", completeBody(c)); err != nil {
		t.Fatal(err)
	}
	if err := sb.Pay("s-4"); err != nil || state("s-4") != StateUserPaid {
		t.Fatal(err, state("s-4"))
	}
	if err := sb.Pay("s-4"); !errors.Is(err, ErrInvalidState) {
		t.Fatal(err)
	}
	apiErr(t, cancel("s-4"), 400, "INVALID_REQUEST")

	// need_user_confirm=false starts in USER_ACCEPTED and can be completed at once.
	b := createBody(c, "s-5")
	b["need_user_confirm"] = false
	b["openid"] = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	if _, err := cl.Post(ctx, ordersURL(srv), b); err != nil {
		t.Fatal(err)
	}
	if state("s-5") != StateUserAccepted {
		t.Fatal(state("s-5"))
	}
	if err := complete("s-5", completeBody(c)); err != nil {
		t.Fatal(err)
	}

	// Expire: admin, and lazily after one hour (by Now).
	sdkCreate(t, cl, srv, "s-6")
	if err := sb.Expire("s-6"); err != nil || state("s-6") != StateExpired {
		t.Fatal(err, state("s-6"))
	}
	if err := sb.Accept("s-6"); !errors.Is(err, ErrInvalidState) {
		t.Fatal(err)
	}
	sdkCreate(t, cl, srv, "s-7")
	clk.Add(59 * time.Minute)
	if state("s-7") != StateCreated {
		t.Fatal("expired early")
	}
	clk.Add(time.Minute)
	if state("s-7") != StateExpired {
		t.Fatal("not expired after 1 hour")
	}
	if err := sb.Accept("s-7"); !errors.Is(err, ErrInvalidState) {
		t.Fatal(err)
	}
	// Expiry is seen by the API too (the SDK clock must follow Now, so reset it).
	clk.Add(-time.Hour)
	apiErr(t, cancel("s-7"), 400, "INVALID_REQUEST")
	// An accepted order never expires.
	if state("s-2") != StateUserAccepted || state("s-5") != StateFinished {
		t.Fatal("expiry touched a non-CREATED order")
	}
}

func TestLazyExpiryOnList(t *testing.T) {
	clk := newClock()
	srv := startServer(t, Options{Now: clk.Now})
	sdkCreate(t, pubKeyClient(t, srv.Credentials), srv, "e-1")
	clk.Add(2 * time.Hour)
	orders := srv.Sandbox.Orders()
	if len(orders) != 1 || orders[0].State != StateExpired {
		t.Fatalf("%+v", orders)
	}
	a := admin(t, srv, "GET", "/sandbox/orders/e-1", "")
	if a.JSON["state"] != StateExpired {
		t.Fatalf("%s", a.Body)
	}
}

func TestIdempotentCreate(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	first := sdkCreate(t, cl, srv, "idem-1")
	// Same parameters in another key order and with the default spelled out.
	b := createBody(c, "idem-1")
	b["need_user_confirm"] = true
	second := sdkCreate(t, cl, srv, "idem-1")
	third, err := cl.Post(context.Background(), ordersURL(srv), b)
	if err != nil {
		t.Fatal(err)
	}
	thirdM := decode(t, third)
	for _, m := range []map[string]any{second, thirdM} {
		if m["order_id"] != first["order_id"] || m["package"] != first["package"] {
			t.Fatalf("repeat answered another order: %v vs %v", m, first)
		}
	}
	if o, _ := srv.Sandbox.Order("idem-1"); o.CreateRequests != 3 {
		t.Fatalf("create_requests %d, want 3", o.CreateRequests)
	}
	if n := len(srv.Sandbox.Orders()); n != 1 {
		t.Fatalf("%d orders", n)
	}

	b = createBody(c, "idem-1")
	b["risk_amount"] = 5001
	_, err = cl.Post(context.Background(), ordersURL(srv), b)
	e := apiErr(t, err, 400, "INVALID_REQUEST")
	if !contains(e.Message, "different parameters") {
		t.Fatal(e.Message)
	}
	if o, _ := srv.Sandbox.Order("idem-1"); o.RiskAmount == nil || *o.RiskAmount != 5000 || o.OrderID != first["order_id"] {
		t.Fatalf("conflicting create changed the order: %+v", o)
	}
}

// Concurrent clients: repeats of one out_order_no and distinct orders.
func TestConcurrentCreates(t *testing.T) {
	srv := startServer(t, Options{Logf: func(string, ...any) {}})
	cl := pubKeyClient(t, srv.Credentials)
	var wg sync.WaitGroup
	ids := make(chan any, 20)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			res, err := cl.Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, "same"))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- decode(t, res)["order_id"]
		}()
		go func(i int) {
			defer wg.Done()
			if _, err := cl.Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, fmt.Sprintf("own-%d", i))); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	close(ids)
	first := <-ids
	for id := range ids {
		if id != first {
			t.Fatal("repeats answered different orders")
		}
	}
	if o, _ := srv.Sandbox.Order("same"); o.CreateRequests != 20 {
		t.Fatalf("create_requests %d", o.CreateRequests)
	}
	if n := len(srv.Sandbox.Orders()); n != 21 {
		t.Fatalf("%d orders", n)
	}
}
