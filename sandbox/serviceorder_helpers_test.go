package sandbox

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

// A service order's notify_url that is never posted to (not loopback, so
// the default client does not even look it up).
const offMachineNotifyURL = "https://merchant.example.com/payscore/notify"

func soURL(srv *Server) string { return srv.URL + serviceOrderPath }

func soQueryURL(srv *Server, key, val string) string {
	c := srv.Credentials
	q := url.Values{"service_id": {c.ServiceID}, "appid": {c.AppID}, key: {val}}
	return soURL(srv) + "?" + q.Encode()
}

// soCreateBody is a 需确认 smart-retail service order: no post_payments,
// start OnAccept, a 先享 risk fund.
func soCreateBody(c *Credentials, outNo string) map[string]any {
	return map[string]any{
		"out_order_no":         outNo,
		"appid":                c.AppID,
		"service_id":           c.ServiceID,
		"service_introduction": "Smart shelf",
		"time_range":           map[string]any{"start_time": "OnAccept"},
		"location":             map[string]any{"start_location": "Kiosk 7"},
		"risk_fund":            map[string]any{"name": "ESTIMATE_ORDER_COST", "amount": 5000, "description": "cabinet"},
		"attach":               "a",
		"notify_url":           offMachineNotifyURL,
		"need_user_confirm":    true,
	}
}

// soItems is the smart-retail profile's post_payments: one 商品信息 line
// per product.
func soItems(amounts ...int) []any {
	var out []any
	for i, a := range amounts {
		out = append(out, map[string]any{"name": RetailItemName, "amount": a, "description": "product " + string(rune('A'+i)), "count": 1})
	}
	return out
}

// soCompleteBody completes at 900: 600 + 400 less a 100 discount.
func soCompleteBody(c *Credentials) map[string]any {
	return map[string]any{
		"appid":          c.AppID,
		"service_id":     c.ServiceID,
		"post_payments":  soItems(600, 400),
		"post_discounts": []any{map[string]any{"name": "promo", "description": "1 off", "amount": 100}},
		"total_amount":   900,
		"time_range":     map[string]any{"end_time": formatWechatTime(time.Now())},
	}
}

func soModifyBody(c *Credentials, amounts ...int) map[string]any {
	total := 0
	for _, a := range amounts {
		total += a
	}
	return map[string]any{"appid": c.AppID, "service_id": c.ServiceID, "post_payments": soItems(amounts...),
		"total_amount": total, "reason": "one returned"}
}

func soIDsBody(c *Credentials) map[string]any {
	return map[string]any{"appid": c.AppID, "service_id": c.ServiceID}
}

func soSyncBody(c *Credentials, paidTime string) map[string]any {
	return map[string]any{"appid": c.AppID, "service_id": c.ServiceID, "type": "Order_Paid",
		"detail": map[string]any{"paid_time": paidTime}}
}

func soCancelBody(c *Credentials, reason string) map[string]any {
	return map[string]any{"appid": c.AppID, "service_id": c.ServiceID, "reason": reason}
}

// with is body with keys set (a nil value deletes the key).
func with(body map[string]any, set map[string]any) map[string]any {
	b := make(map[string]any, len(body))
	for k, v := range body {
		b[k] = v
	}
	for k, v := range set {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return b
}

func soPost(cl *core.Client, srv *Server, no, action string, body any) (*core.APIResult, error) {
	return cl.Post(context.Background(), soURL(srv)+"/"+no+"/"+action, body)
}

func soCreate(t testing.TB, cl *core.Client, srv *Server, body map[string]any) map[string]any {
	t.Helper()
	res, err := cl.Post(context.Background(), soURL(srv), body)
	if err != nil {
		t.Fatalf("create %v: %v", body["out_order_no"], err)
	}
	return decode(t, res)
}

func soQuery(t testing.TB, cl *core.Client, srv *Server, no string) map[string]any {
	t.Helper()
	res, err := cl.Get(context.Background(), soQueryURL(srv, "out_order_no", no))
	if err != nil {
		t.Fatalf("query %s: %v", no, err)
	}
	return decode(t, res)
}

// soOK calls action and fails the test on an error.
func soOK(t testing.TB, cl *core.Client, srv *Server, no, action string, body any) map[string]any {
	t.Helper()
	res, err := soPost(cl, srv, no, action, body)
	if err != nil {
		t.Fatalf("%s %s: %v", action, no, err)
	}
	return decode(t, res)
}

// soState is the order's state as the Go API sees it ("DOING+MCH_COMPLETE").
func soState(t testing.TB, sb *Sandbox, no string) string {
	t.Helper()
	o, ok := sb.ServiceOrder(no)
	if !ok {
		t.Fatalf("no service order %s", no)
	}
	return o.stateName()
}

// soCompleted creates, confirms and completes no (at 900).
func soCompleted(t testing.TB, cl *core.Client, srv *Server, no string) {
	t.Helper()
	soCreate(t, cl, srv, soCreateBody(srv.Credentials, no))
	if err := srv.Sandbox.AcceptServiceOrder(no); err != nil {
		t.Fatal(err)
	}
	soOK(t, cl, srv, no, "complete", soCompleteBody(srv.Credentials))
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
