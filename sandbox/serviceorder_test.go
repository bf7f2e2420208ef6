package sandbox

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// soFlow drives every service-order endpoint through a plain SDK client,
// which verifies each answer's signature (it refuses one it cannot verify).
func soFlow(t *testing.T, srv *Server, cl *core.Client, wantSerial string) {
	ctx := context.Background()
	c := srv.Credentials
	sb := srv.Sandbox

	cr := soCreate(t, cl, srv, soCreateBody(c, "so-1"))
	if cr["state"] != ServiceOrderCreated || cr["mchid"] != c.MchID || cr["out_order_no"] != "so-1" ||
		cr["notify_url"] != offMachineNotifyURL || cr["package"] == "" || cr["order_id"] == "" {
		t.Fatalf("create answer: %v", cr)
	}
	for _, k := range []string{"state_description", "total_amount", "collection", "openid"} {
		if _, ok := cr[k]; ok {
			t.Errorf("a CREATED order's create answer has %s: %v", k, cr)
		}
	}

	res, err := cl.Get(ctx, soQueryURL(srv, "out_order_no", "so-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Response.Header.Get("Wechatpay-Serial"); got != wantSerial {
		t.Fatalf("Wechatpay-Serial %q, want %q", got, wantSerial)
	}
	if res.Response.Header.Get("Request-Id") == "" {
		t.Fatal("no Request-ID")
	}
	q := decode(t, res)
	if q["state"] != ServiceOrderCreated || q["order_id"] != cr["order_id"] || q["service_introduction"] != "Smart shelf" {
		t.Fatalf("query answer: %v", q)
	}
	if rf := q["risk_fund"].(map[string]any); rf["name"] != "ESTIMATE_ORDER_COST" || rf["amount"] != 5000.0 {
		t.Fatalf("risk_fund: %v", q["risk_fund"])
	}
	o, _ := sb.ServiceOrder("so-1")
	res, err = cl.Get(ctx, soQueryURL(srv, "query_id", o.QueryID))
	if err != nil {
		t.Fatal(err)
	}
	if q := decode(t, res); q["out_order_no"] != "so-1" {
		t.Fatalf("query by query_id: %v", q)
	}

	// Completing before the customer confirms is refused.
	_, err = soPost(cl, srv, "so-1", "complete", soCompleteBody(c))
	apiErr(t, err, 400, "INVALID_ORDER_STATE")

	if err := sb.AcceptServiceOrder("so-1"); err != nil {
		t.Fatal(err)
	}
	q = soQuery(t, cl, srv, "so-1")
	if q["state"] != ServiceOrderDoing || q["state_description"] != DescUserConfirm || q["openid"] == nil {
		t.Fatalf("confirmed: %v", q)
	}

	done := soOK(t, cl, srv, "so-1", "complete", soCompleteBody(c))
	if done["state"] != ServiceOrderDoing || done["state_description"] != DescMchComplete ||
		done["total_amount"] != 900.0 || done["need_collection"] != true || done["order_id"] != cr["order_id"] {
		t.Fatalf("complete answer: %v", done)
	}
	if _, ok := done["collection"]; ok {
		t.Errorf("complete's answer has a collection (not in its model): %v", done)
	}
	if pp := done["post_payments"].([]any); len(pp) != 2 || pp[0].(map[string]any)["name"] != RetailItemName {
		t.Fatalf("post_payments: %v", done["post_payments"])
	}
	q = soQuery(t, cl, srv, "so-1")
	col := q["collection"].(map[string]any)
	if col["state"] != CollectionUserPaying || col["total_amount"] != 900.0 || col["paying_amount"] != 900.0 || col["paid_amount"] != 0.0 {
		t.Fatalf("collection after complete: %v", col)
	}

	m := soOK(t, cl, srv, "so-1", "modify", soModifyBody(c, 600, 100))
	if col := m["collection"].(map[string]any); m["total_amount"] != 700.0 || col["total_amount"] != 700.0 || col["paying_amount"] != 700.0 {
		t.Fatalf("modify answer: %v", m)
	}

	p := soOK(t, cl, srv, "so-1", "pay", soIDsBody(c))
	if keys(p) != "appid,order_id,out_order_no,service_id" || p["order_id"] != cr["order_id"] {
		t.Fatalf("pay answer: %v", p)
	}
	q = soQuery(t, cl, srv, "so-1")
	col = q["collection"].(map[string]any)
	details, _ := col["details"].([]any)
	if q["state"] != ServiceOrderDone || q["state_description"] != nil || col["state"] != CollectionUserPaid ||
		col["paid_amount"] != 700.0 || col["paying_amount"] != 0.0 || len(details) != 1 {
		t.Fatalf("paid: %v", q)
	}
	d := details[0].(map[string]any)
	if d["seq"] != 1.0 || d["amount"] != 700.0 || d["paid_type"] != PaidTypeNewton || d["transaction_id"] == nil {
		t.Fatalf("detail: %v", d)
	}
	if _, ok := parseWechatTime(d["paid_time"].(string)); !ok {
		t.Fatalf("paid_time %v", d["paid_time"])
	}
	_, err = soPost(cl, srv, "so-1", "sync", soSyncBody(c, "20250101"))
	apiErr(t, err, 400, "ORDER_DONE")

	// 免确认: DOING+USER_CONFIRM from the create; paid by other means (sync).
	body := with(soCreateBody(c, "so-2"), map[string]any{"need_user_confirm": false, "openid": "oUser2"})
	if cr := soCreate(t, cl, srv, body); cr["state"] != ServiceOrderDoing || cr["state_description"] != DescUserConfirm {
		t.Fatalf("免确认 create: %v", cr)
	}
	soOK(t, cl, srv, "so-2", "complete", soCompleteBody(c))
	paidAt := formatWechatTime(time.Now())
	sy := soOK(t, cl, srv, "so-2", "sync", soSyncBody(c, paidAt))
	col = sy["collection"].(map[string]any)
	d = col["details"].([]any)[0].(map[string]any)
	if sy["state"] != ServiceOrderDone || col["state"] != CollectionUserPaid || d["paid_type"] != PaidTypeMCH ||
		d["paid_time"] != paidAt || d["amount"] != 900.0 || col["paid_amount"] != 900.0 {
		t.Fatalf("sync answer: %v", sy)
	}

	// Cancel, its re-entry, and a different reason afterwards.
	soCreate(t, cl, srv, soCreateBody(c, "so-3"))
	ca := soOK(t, cl, srv, "so-3", "cancel", soCancelBody(c, "customer left"))
	if keys(ca) != "appid,mchid,order_id,out_order_no,service_id" || ca["out_order_no"] != "so-3" {
		t.Fatalf("cancel answer: %v", ca)
	}
	if again := soOK(t, cl, srv, "so-3", "cancel", soCancelBody(c, "customer left")); again["order_id"] != ca["order_id"] {
		t.Fatalf("repeated cancel: %v", again)
	}
	_, err = soPost(cl, srv, "so-3", "cancel", soCancelBody(c, "another reason"))
	apiErr(t, err, 400, "ORDER_CANCELED")
	if q := soQuery(t, cl, srv, "so-3"); q["state"] != ServiceOrderRevoked {
		t.Fatalf("cancelled: %v", q)
	}

	_, err = cl.Get(ctx, soQueryURL(srv, "out_order_no", "so-none"))
	apiErr(t, err, 404, "ORDER_NOT_EXIST")
	_, err = soPost(cl, srv, "so-none", "pay", soIDsBody(c))
	apiErr(t, err, 404, "ORDER_NOT_EXIST")
}

func TestServiceOrderSDKPublicKeyMode(t *testing.T) {
	srv := startServer(t, Options{})
	soFlow(t, srv, pubKeyClient(t, srv.Credentials), srv.Credentials.PublicKeyID)
}

func TestServiceOrderSDKCertificateMode(t *testing.T) {
	srv := startServer(t, Options{})
	soFlow(t, srv, certClient(t, srv.Credentials), srv.Credentials.PlatformCertificateSerial())
}

// A client trusting another platform key refuses the service-order answers.
func TestServiceOrderAnswersAreSignedByThePlatformKey(t *testing.T) {
	srv := startServer(t, Options{})
	other, err := GenerateCredentials()
	if err != nil {
		t.Fatal(err)
	}
	c := *srv.Credentials
	c.PlatformPrivateKey = other.PlatformPrivateKey
	_, err = pubKeyClient(t, &c).Post(context.Background(), soURL(srv), soCreateBody(srv.Credentials, "so-k"))
	if err == nil {
		t.Fatal("the SDK accepted an answer signed with a key it does not trust")
	}
	// A request signed with another merchant key is refused unsigned.
	c = *srv.Credentials
	c.MerchantPrivateKey = other.MerchantPrivateKey
	_, err = pubKeyClient(t, &c).Get(context.Background(), soQueryURL(srv, "out_order_no", "so-k"))
	apiErr(t, err, 401, "SIGN_ERROR")
}

// The operation matrix of the fact sheet's section 3, each cell on a fresh
// order: what each call answers in each state and the state it leaves.
func TestServiceOrderStateMachine(t *testing.T) {
	clk := newClock()
	srv := startServer(t, Options{Now: clk.Now})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox

	// Each state, reached on a fresh order.
	states := map[string]func(no string){
		"CREATED": func(no string) { soCreate(t, cl, srv, soCreateBody(c, no)) },
		"DOING+USER_CONFIRM": func(no string) {
			soCreate(t, cl, srv, soCreateBody(c, no))
			if err := sb.AcceptServiceOrder(no); err != nil {
				t.Fatal(err)
			}
		},
		"DOING+MCH_COMPLETE": func(no string) { soCompleted(t, cl, srv, no) },
		"DONE": func(no string) {
			soCompleted(t, cl, srv, no)
			if err := sb.PayServiceOrder(no); err != nil {
				t.Fatal(err)
			}
		},
		"REVOKED": func(no string) {
			soCreate(t, cl, srv, soCreateBody(c, no))
			soOK(t, cl, srv, no, "cancel", soCancelBody(c, "first"))
		},
		"EXPIRED": func(no string) {
			soCreate(t, cl, srv, soCreateBody(c, no))
			if err := sb.ExpireServiceOrder(no); err != nil {
				t.Fatal(err)
			}
		},
	}
	ops := map[string]any{
		"cancel":   soCancelBody(c, "second"),
		"modify":   soModifyBody(c, 500),
		"complete": soCompleteBody(c),
		"pay":      soIDsBody(c),
		"sync":     soSyncBody(c, "20250102"),
	}
	const ok = ""
	// want[state][op] = the error code ("" = 200) and the state after.
	want := map[string]map[string][2]string{
		"CREATED": {"cancel": {ok, "REVOKED"}, "modify": {"INVALID_ORDER_STATE", "CREATED"},
			"complete": {"INVALID_ORDER_STATE", "CREATED"}, "pay": {"INVALID_ORDER_STATE", "CREATED"}, "sync": {"INVALID_ORDER_STATE", "CREATED"}},
		"DOING+USER_CONFIRM": {"cancel": {ok, "REVOKED"}, "modify": {"INVALID_ORDER_STATE", "DOING+USER_CONFIRM"},
			"complete": {ok, "DOING+MCH_COMPLETE"}, "pay": {"INVALID_ORDER_STATE", "DOING+USER_CONFIRM"}, "sync": {"INVALID_ORDER_STATE", "DOING+USER_CONFIRM"}},
		// cancel while awaiting payment: allowed, as the official page says (doc.go).
		"DOING+MCH_COMPLETE": {"cancel": {ok, "REVOKED"}, "modify": {ok, "DOING+MCH_COMPLETE"},
			"complete": {"INVALID_ORDER_STATE", "DOING+MCH_COMPLETE"}, "pay": {ok, "DONE"}, "sync": {ok, "DONE"}},
		"DONE": {"cancel": {"ORDER_DONE", "DONE"}, "modify": {"ORDER_DONE", "DONE"},
			"complete": {"ORDER_DONE", "DONE"}, "pay": {"ORDER_DONE", "DONE"}, "sync": {"ORDER_DONE", "DONE"}},
		"REVOKED": {"cancel": {"ORDER_CANCELED", "REVOKED"}, "modify": {"ORDER_CANCELED", "REVOKED"},
			"complete": {"ORDER_CANCELED", "REVOKED"}, "pay": {"ORDER_CANCELED", "REVOKED"}, "sync": {"ORDER_CANCELED", "REVOKED"}},
		"EXPIRED": {"cancel": {"INVALID_ORDER_STATE", "EXPIRED"}, "modify": {"INVALID_ORDER_STATE", "EXPIRED"},
			"complete": {"INVALID_ORDER_STATE", "EXPIRED"}, "pay": {"INVALID_ORDER_STATE", "EXPIRED"}, "sync": {"INVALID_ORDER_STATE", "EXPIRED"}},
	}
	n := 0
	for state, ops2 := range want {
		for op, w := range ops2 {
			n++
			no := "sm-" + strings.NewReplacer("+", "-", "_", "").Replace(state) + "-" + op
			states[state](no)
			if got := soState(t, sb, no); got != state {
				t.Fatalf("%s: reached %s", no, got)
			}
			body := ops[op]
			if op == "complete" {
				body = soCompleteBody(c) // its end time now: after the confirmation, whatever second that fell in
			}
			_, err := soPost(cl, srv, no, op, body)
			if w[0] == ok {
				if err != nil {
					t.Errorf("%s in %s: %v", op, state, err)
				}
			} else {
				var e *core.APIError
				if !errors.As(err, &e) || e.StatusCode != 400 || e.Code != w[0] {
					t.Errorf("%s in %s: want 400 %s, got %v", op, state, w[0], err)
				}
			}
			if got := soState(t, sb, no); got != w[1] {
				t.Errorf("%s in %s: left %s, want %s", op, state, got, w[1])
			}
		}
	}
	if n != 30 {
		t.Fatalf("%d cells", n)
	}

	// The customer's and Pay Score's moves (Go API).
	soCreate(t, cl, srv, soCreateBody(c, "sm-go"))
	for _, f := range []func(string) error{sb.PayServiceOrder} {
		if err := f("sm-go"); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("pay CREATED: %v", err)
		}
	}
	if err := sb.AcceptServiceOrder("sm-none"); !errors.Is(err, ErrOrderNotExist) {
		t.Fatalf("accept unknown: %v", err)
	}
	if err := sb.AcceptServiceOrder("sm-go"); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(string) error{"accept": sb.AcceptServiceOrder, "expire": sb.ExpireServiceOrder, "pay": sb.PayServiceOrder} {
		if err := f("sm-go"); !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s DOING+USER_CONFIRM: %v", name, err)
		}
	}

	// Modify: only lower, and only once (doc.go, conflicts).
	soCompleted(t, cl, srv, "sm-mod")
	_, err := soPost(cl, srv, "sm-mod", "modify", soModifyBody(c, 900))
	if e := apiErr(t, err, 400, "PARAM_ERROR"); detailOf(t, e)["field"] != "/total_amount" {
		t.Fatalf("an equal amount: %s", e.Body)
	}
	_, err = soPost(cl, srv, "sm-mod", "modify", soModifyBody(c, 1000))
	apiErr(t, err, 400, "PARAM_ERROR")
	soOK(t, cl, srv, "sm-mod", "modify", soModifyBody(c, 800))
	_, err = soPost(cl, srv, "sm-mod", "modify", soModifyBody(c, 700))
	if e := apiErr(t, err, 400, "INVALID_ORDER_STATE"); !contains(e.Message, "once") {
		t.Fatalf("second modify: %s", e.Message)
	}
	if o, _ := sb.ServiceOrder("sm-mod"); *o.TotalAmount != 800 || o.Collection.PayingAmount != 800 || o.Modifications != 1 || o.ModifyReason != "one returned" {
		t.Fatalf("after modify: %+v %+v", o, o.Collection)
	}

	// A completion at 0 has nothing to collect: DONE at once (assumed, doc.go).
	soCreate(t, cl, srv, soCreateBody(c, "sm-zero"))
	_ = sb.AcceptServiceOrder("sm-zero")
	zero := with(soCompleteBody(c), map[string]any{"post_payments": soItems(0), "post_discounts": nil, "total_amount": 0})
	if a := soOK(t, cl, srv, "sm-zero", "complete", zero); a["state"] != ServiceOrderDone || a["need_collection"] != false {
		t.Fatalf("complete at 0: %v", a)
	}
}

// Failed deductions leave the order awaiting payment: the merchant's pay
// is taken and changes nothing, Pay Score's (the Go API) is refused, and
// once they succeed again either pays it.
func TestServiceOrderFailedDeductions(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox
	soCompleted(t, cl, srv, "fd-1")
	if err := sb.FailServiceOrderDeductions("fd-1", true); err != nil {
		t.Fatal(err)
	}
	if err := sb.FailServiceOrderDeductions("fd-none", true); !errors.Is(err, ErrOrderNotExist) {
		t.Fatalf("unknown order: %v", err)
	}
	soOK(t, cl, srv, "fd-1", "pay", soIDsBody(c))
	if err := sb.PayServiceOrder("fd-1"); !errors.Is(err, ErrInvalidState) || !contains(err.Error(), "deductions") {
		t.Fatalf("Pay with failing deductions: %v", err)
	}
	o, _ := sb.ServiceOrder("fd-1")
	if o.stateName() != "DOING+MCH_COMPLETE" || o.Collection.State != CollectionUserPaying || o.Collection.PayingAmount != 900 {
		t.Fatalf("after failed deductions: %s %+v", o.stateName(), o.Collection)
	}
	// It can still be modified and paid by other means meanwhile.
	soOK(t, cl, srv, "fd-1", "modify", soModifyBody(c, 500))
	if err := sb.FailServiceOrderDeductions("fd-1", false); err != nil {
		t.Fatal(err)
	}
	soOK(t, cl, srv, "fd-1", "pay", soIDsBody(c))
	o, _ = sb.ServiceOrder("fd-1")
	if o.State != ServiceOrderDone || o.Collection.PaidAmount != 500 || o.Collection.Details[0].PaidType != PaidTypeNewton {
		t.Fatalf("paid after deductions succeed: %+v %+v", o, o.Collection)
	}

	// The Go API's Pay (and Sandbox.Pay, which finds a service order when
	// no smart-retail order has the number) once they succeed.
	soCompleted(t, cl, srv, "fd-2")
	_ = sb.FailServiceOrderDeductions("fd-2", true)
	if err := sb.Pay("fd-2"); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("Pay: %v", err)
	}
	_ = sb.FailServiceOrderDeductions("fd-2", false)
	if err := sb.Pay("fd-2"); err != nil {
		t.Fatal(err)
	}
	if soState(t, sb, "fd-2") != ServiceOrderDone {
		t.Fatal(soState(t, sb, "fd-2"))
	}
}

// Accept, Pay and Expire act on a service order when no smart-retail order
// has the number, and on the smart-retail order when one does.
func TestCustomerMovesFindTheServiceOrder(t *testing.T) {
	srv := startServer(t, Options{})
	cl := pubKeyClient(t, srv.Credentials)
	sb := srv.Sandbox
	soCreate(t, cl, srv, soCreateBody(srv.Credentials, "cm-1"))
	if err := sb.Accept("cm-1"); err != nil {
		t.Fatal(err)
	}
	if soState(t, sb, "cm-1") != "DOING+USER_CONFIRM" {
		t.Fatal(soState(t, sb, "cm-1"))
	}
	soCreate(t, cl, srv, soCreateBody(srv.Credentials, "cm-2"))
	if err := sb.Expire("cm-2"); err != nil || soState(t, sb, "cm-2") != ServiceOrderExpired {
		t.Fatal(err, soState(t, sb, "cm-2"))
	}
	// The same number in both APIs: the smart-retail order moves.
	sdkCreate(t, cl, srv, "cm-3")
	soCreate(t, cl, srv, soCreateBody(srv.Credentials, "cm-3"))
	if err := sb.Accept("cm-3"); err != nil {
		t.Fatal(err)
	}
	if o, _ := sb.Order("cm-3"); o.State != StateUserAccepted || soState(t, sb, "cm-3") != ServiceOrderCreated {
		t.Fatalf("smart retail %s, service order %s", o.State, soState(t, sb, "cm-3"))
	}
	if err := sb.Accept("cm-none"); !errors.Is(err, ErrOrderNotExist) {
		t.Fatal(err)
	}
}

// A create repeated with the same parameters is the same order (key order
// and a spelled-out default do not matter); other parameters under the
// same out_order_no are 400 INVALID_REQUEST and change nothing.
func TestServiceOrderIdempotentCreate(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	first := soCreate(t, cl, srv, soCreateBody(c, "id-1"))
	again := soCreate(t, cl, srv, with(soCreateBody(c, "id-1"), map[string]any{"need_user_confirm": nil}))
	if again["order_id"] != first["order_id"] || again["package"] != first["package"] {
		t.Fatalf("repeat answered another order: %v vs %v", again, first)
	}
	// Other key order, raw.
	raw := `{"need_user_confirm":true,"notify_url":"` + offMachineNotifyURL + `","attach":"a",` +
		`"risk_fund":{"description":"cabinet","amount":5000,"name":"ESTIMATE_ORDER_COST"},"location":{"start_location":"Kiosk 7"},` +
		`"time_range":{"start_time":"OnAccept"},"service_introduction":"Smart shelf","service_id":"` + c.ServiceID +
		`","appid":"` + c.AppID + `","out_order_no":"id-1"}`
	a := do(t, signedRequest(t, c, "POST", soURL(srv), raw, time.Now(), nil))
	if a.Status != 200 || a.JSON["order_id"] != first["order_id"] {
		t.Fatalf("reordered repeat: %d %s", a.Status, a.Body)
	}
	_, err := cl.Post(context.Background(), soURL(srv), with(soCreateBody(c, "id-1"), map[string]any{"attach": "b"}))
	if e := apiErr(t, err, 400, "INVALID_REQUEST"); !contains(e.Message, "different parameters") {
		t.Fatal(e.Message)
	}
	o, _ := srv.Sandbox.ServiceOrder("id-1")
	if o.CreateRequests != 4 || o.Attach != "a" || o.OrderID != first["order_id"] {
		t.Fatalf("after repeats: create_requests %d attach %q", o.CreateRequests, o.Attach)
	}
	// A repeat after the order moved on answers it as it is now.
	_ = srv.Sandbox.AcceptServiceOrder("id-1")
	if r := soCreate(t, cl, srv, soCreateBody(c, "id-1")); r["state"] != ServiceOrderDoing || r["order_id"] != first["order_id"] {
		t.Fatalf("repeat after confirm: %v", r)
	}
	// The two APIs' numbers are apart: a smart-retail order of the same
	// number is another order.
	sr := sdkCreate(t, cl, srv, "id-1")
	if sr["order_id"] == first["order_id"] {
		t.Fatal("the smart-retail create answered the service order")
	}
}

// CREATED and unchanged for 30 days is EXPIRED, on the sandbox's clock;
// a confirmed order never expires.
func TestServiceOrderExpiry(t *testing.T) {
	clk := newClock()
	srv := startServer(t, Options{Now: clk.Now})
	cl := pubKeyClient(t, srv.Credentials)
	sb := srv.Sandbox
	soCreate(t, cl, srv, soCreateBody(srv.Credentials, "ex-1"))
	soCreate(t, cl, srv, soCreateBody(srv.Credentials, "ex-2"))
	_ = sb.AcceptServiceOrder("ex-2")
	clk.Add(ServiceOrderExpireAfter - time.Minute)
	if soState(t, sb, "ex-1") != ServiceOrderCreated {
		t.Fatal(soState(t, sb, "ex-1"))
	}
	clk.Add(time.Minute)
	if soState(t, sb, "ex-1") != ServiceOrderExpired || soState(t, sb, "ex-2") != "DOING+USER_CONFIRM" {
		t.Fatal(soState(t, sb, "ex-1"), soState(t, sb, "ex-2"))
	}
	// The clock offset too, and a query sees it (clock set back to the
	// client's so that signatures verify).
	clk.Add(-ServiceOrderExpireAfter)
	soCreate(t, cl, srv, soCreateBody(srv.Credentials, "ex-3"))
	if err := sb.SetClockOffset(ServiceOrderExpireAfter); err != nil {
		t.Fatal(err)
	}
	if soState(t, sb, "ex-3") != ServiceOrderExpired {
		t.Fatal(soState(t, sb, "ex-3"))
	}
	_ = sb.SetClockOffset(0)
	if q := soQuery(t, cl, srv, "ex-3"); q["state"] != ServiceOrderExpired {
		t.Fatalf("query: %v", q)
	}
	_, err := soPost(cl, srv, "ex-3", "cancel", soCancelBody(srv.Credentials, "late"))
	apiErr(t, err, 400, "INVALID_ORDER_STATE")
}

// The same faults, the same Request-ID and both domains as the smart-retail
// endpoints.
func TestServiceOrderFaultsAndDomains(t *testing.T) {
	srv, bk := startWithBackup(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox
	soCreate(t, cl, srv, soCreateBody(c, "fl-1"))
	_ = sb.AcceptServiceOrder("fl-1")

	// drop_response: the complete is done, the answer lost.
	if err := sb.SetFaults(Faults{Mode: FaultDropResponse}); err != nil {
		t.Fatal(err)
	}
	if _, err := soPost(cl, srv, "fl-1", "complete", soCompleteBody(c)); !isConnError(err) {
		t.Fatalf("drop_response: %v", err)
	}
	_ = sb.SetFaults(Faults{Mode: FaultError})
	_, err := cl.Get(context.Background(), soQueryURL(srv, "out_order_no", "fl-1"))
	apiErr(t, err, 500, "SYSTEM_ERROR")
	_ = sb.SetFaults(Faults{Mode: FaultRateLimit})
	_, err = soPost(cl, srv, "fl-1", "pay", soIDsBody(c))
	apiErr(t, err, 429, "FREQUENCY_LIMITED")
	_ = sb.SetFaults(Faults{Mode: FaultOffline})
	if _, err := cl.Get(context.Background(), soQueryURL(srv, "out_order_no", "fl-1")); !isConnError(err) {
		t.Fatalf("offline: %v", err)
	}
	// The backup domain answers the same order, with its own Request-ID.
	res, err := cl.Get(context.Background(), soQueryURL(bk, "out_order_no", "fl-1"))
	if err != nil {
		t.Fatal(err)
	}
	if q := decode(t, res); q["state_description"] != DescMchComplete {
		t.Fatalf("the backup's query: %v", q)
	}
	if res.Response.Header.Get("Request-Id") == "" {
		t.Fatal("no Request-ID on the backup")
	}
	soOK(t, cl, bk, "fl-1", "pay", soIDsBody(c))
	_ = sb.SetFaults(Faults{Mode: FaultNone})
	if q := soQuery(t, cl, srv, "fl-1"); q["state"] != ServiceOrderDone {
		t.Fatalf("main after the backup's pay: %v", q)
	}
}

// Unknown paths and methods under /v3/payscore/serviceorder.
func TestServiceOrderRouting(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"PUT", serviceOrderPath, 405, "METHOD_NOT_ALLOWED"},
		{"GET", serviceOrderPath + "/so-1/complete", 405, "METHOD_NOT_ALLOWED"},
		{"POST", serviceOrderPath + "/so-1/refund", 404, "NOT_FOUND"},
		{"POST", serviceOrderPath + "/so-1", 404, "NOT_FOUND"},
		{"POST", serviceOrderPath + "/direct-complete", 404, "NOT_FOUND"},
		{"POST", serviceOrderPath + "/a/b/cancel", 404, "NOT_FOUND"},
	} {
		a := do(t, signedRequest(t, c, tc.method, srv.URL+tc.path, "{}", time.Now(), nil))
		if a.Status != tc.status || a.JSON["code"] != tc.code {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, a.Status, a.Body)
		}
		if a.Header.Get("Wechatpay-Signature") == "" || a.Header.Get("Request-Id") == "" {
			t.Errorf("%s %s: unsigned or no Request-ID", tc.method, tc.path)
		}
	}
	// A URI out_order_no outside the charset (the current page has no *).
	a := do(t, signedRequest(t, c, "POST", soURL(srv)+"/a*b/pay", mustJSON(soIDsBody(c)), time.Now(), nil))
	if a.Status != http.StatusBadRequest || a.JSON["code"] != "PARAM_ERROR" || !strings.Contains(string(a.Body), "uri_template") {
		t.Fatalf("out_order_no with *: %d %s", a.Status, a.Body)
	}
}
