package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

// paramCase is a body that breaks one rule, and the JSON pointer of the
// field the 400 PARAM_ERROR must name.
type paramCase struct {
	name  string
	body  map[string]any
	field string
}

// wantParamErrors sends each case with send and checks the answer names
// the field; nothing may change (want checks that).
func wantParamErrors(t *testing.T, send func(body map[string]any) error, cases []paramCase) {
	t.Helper()
	for _, tc := range cases {
		var e *core.APIError
		if err := send(tc.body); !errors.As(err, &e) || e.StatusCode != 400 || e.Code != "PARAM_ERROR" {
			t.Errorf("%s: want 400 PARAM_ERROR, got %v", tc.name, err)
			continue
		}
		if d, _ := e.Detail.(map[string]any); d["field"] != tc.field || d["location"] != "body" {
			t.Errorf("%s: detail %v, want field %s", tc.name, e.Detail, tc.field)
		}
	}
}

func items(n int) []any {
	var out []any
	for i := 0; i < n; i++ {
		out = append(out, map[string]any{"name": RetailItemName, "amount": 1, "description": "p", "count": 1})
	}
	return out
}

func namedDiscounts(n int, withAmount bool) []any {
	var out []any
	for i := 0; i < n; i++ {
		d := map[string]any{"name": "d" + string(rune('a'+i%26)) + string(rune('a'+i/26)), "description": "x"}
		if withAmount {
			d["amount"] = 0
		}
		out = append(out, d)
	}
	return out
}

func item(set map[string]any) []any {
	return []any{with(map[string]any{"name": RetailItemName, "amount": 900, "description": "cola", "count": 1}, set)}
}

func TestServiceOrderCreateValidation(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	n := 0
	body := func(set map[string]any) map[string]any {
		n++
		return with(soCreateBody(c, fmt.Sprintf("cv-%d", n)), set)
	}
	tr := func(set map[string]any) map[string]any { return with(map[string]any{"start_time": "OnAccept"}, set) }
	rf := func(set map[string]any) map[string]any {
		return with(map[string]any{"name": "ESTIMATE_ORDER_COST", "amount": 5000}, set)
	}
	long := func(n int) string { return strings.Repeat("长", n) }
	cases := []paramCase{
		{"out_order_no missing", body(map[string]any{"out_order_no": nil}), "/out_order_no"},
		{"out_order_no 33", body(map[string]any{"out_order_no": strings.Repeat("a", 33)}), "/out_order_no"},
		{"out_order_no with * (current merchant page)", body(map[string]any{"out_order_no": "a*b"}), "/out_order_no"},
		{"out_order_no with .", body(map[string]any{"out_order_no": "a.b"}), "/out_order_no"},
		{"appid missing", body(map[string]any{"appid": nil}), "/appid"},
		{"appid 33", body(map[string]any{"appid": strings.Repeat("w", 33)}), "/appid"},
		{"service_id missing", body(map[string]any{"service_id": nil}), "/service_id"},
		{"service_id 33", body(map[string]any{"service_id": strings.Repeat("5", 33)}), "/service_id"},
		{"service_introduction missing", body(map[string]any{"service_introduction": nil}), "/service_introduction"},
		{"service_introduction 21", body(map[string]any{"service_introduction": long(21)}), "/service_introduction"},
		{"post_payments at create (smart retail)", body(map[string]any{"post_payments": items(1)}), "/post_payments"},
		{"post_payments not an array", body(map[string]any{"post_payments": "x"}), "/post_payments"},
		{"post_discounts 31", body(map[string]any{"post_discounts": namedDiscounts(31, false)}), "/post_discounts"},
		{"discount name missing", body(map[string]any{"post_discounts": []any{map[string]any{"description": "x"}}}), "/post_discounts/0/name"},
		{"discount name 21", body(map[string]any{"post_discounts": []any{map[string]any{"name": long(21), "description": "x"}}}), "/post_discounts/0/name"},
		{"discount name repeated", body(map[string]any{"post_discounts": []any{map[string]any{"name": "a", "description": "x"}, map[string]any{"name": "a", "description": "y"}}}), "/post_discounts/1/name"},
		{"discount without description", body(map[string]any{"post_discounts": []any{map[string]any{"name": "a"}}}), "/post_discounts/0/description"},
		{"discount description 31", body(map[string]any{"post_discounts": []any{map[string]any{"name": "a", "description": long(31)}}}), "/post_discounts/0/description"},
		{"discount amount negative", body(map[string]any{"post_discounts": []any{map[string]any{"name": "a", "description": "x", "amount": -1}}}), "/post_discounts/0/amount"},
		{"time_range missing", body(map[string]any{"time_range": nil}), "/time_range"},
		{"time_range not an object", body(map[string]any{"time_range": "OnAccept"}), "/time_range"},
		{"start_time missing", body(map[string]any{"time_range": map[string]any{"end_time": "20991231"}}), "/time_range/start_time"},
		{"start_time RFC 3339", body(map[string]any{"time_range": tr(map[string]any{"start_time": "2099-01-01T10:00:00+08:00"})}), "/time_range/start_time"},
		{"start_time onaccept", body(map[string]any{"time_range": tr(map[string]any{"start_time": "onaccept"})}), "/time_range/start_time"},
		{"start_time not a date", body(map[string]any{"time_range": tr(map[string]any{"start_time": "20990230"})}), "/time_range/start_time"},
		{"start_time_remark 21", body(map[string]any{"time_range": tr(map[string]any{"start_time_remark": long(21)})}), "/time_range/start_time_remark"},
		{"end_time OnAccept", body(map[string]any{"time_range": tr(map[string]any{"end_time": "OnAccept"})}), "/time_range/end_time"},
		{"end_time 12 digits", body(map[string]any{"time_range": tr(map[string]any{"end_time": "209912312359"})}), "/time_range/end_time"},
		{"end_time_remark 21", body(map[string]any{"time_range": tr(map[string]any{"end_time": "20991231", "end_time_remark": long(21)})}), "/time_range/end_time_remark"},
		{"start_location 51", body(map[string]any{"location": map[string]any{"start_location": long(51)}}), "/location/start_location"},
		{"end_location 51", body(map[string]any{"location": map[string]any{"start_location": "a", "end_location": long(51)}}), "/location/end_location"},
		{"end_location without start_location", body(map[string]any{"location": map[string]any{"end_location": "b"}}), "/location/end_location"},
		{"risk_fund missing", body(map[string]any{"risk_fund": nil}), "/risk_fund"},
		{"risk_fund name missing", body(map[string]any{"risk_fund": rf(map[string]any{"name": nil})}), "/risk_fund/name"},
		{"risk_fund name UDEPOSIT", body(map[string]any{"risk_fund": rf(map[string]any{"name": "UDEPOSIT"})}), "/risk_fund/name"},
		{"risk_fund amount missing", body(map[string]any{"risk_fund": rf(map[string]any{"amount": nil})}), "/risk_fund/amount"},
		{"risk_fund amount 0", body(map[string]any{"risk_fund": rf(map[string]any{"amount": 0})}), "/risk_fund/amount"},
		{"risk_fund amount fractional", body(map[string]any{"risk_fund": rf(map[string]any{"amount": 1.5})}), "/risk_fund/amount"},
		{"risk_fund amount above the service's cap", body(map[string]any{"risk_fund": rf(map[string]any{"amount": DefaultMaxRiskAmount + 1})}), "/risk_fund/amount"},
		{"risk_fund description 31", body(map[string]any{"risk_fund": rf(map[string]any{"description": long(31)})}), "/risk_fund/description"},
		{"attach 257", body(map[string]any{"attach": strings.Repeat("a", 257)}), "/attach"},
		{"notify_url missing", body(map[string]any{"notify_url": nil}), "/notify_url"},
		{"notify_url http", body(map[string]any{"notify_url": "http://merchant.example.com/n"}), "/notify_url"},
		{"notify_url with a query", body(map[string]any{"notify_url": "https://merchant.example.com/n?a=1"}), "/notify_url"},
		{"notify_url with an empty query", body(map[string]any{"notify_url": "https://merchant.example.com/n?"}), "/notify_url"},
		{"notify_url 256", body(map[string]any{"notify_url": "https://merchant.example.com/" + strings.Repeat("n", 227)}), "/notify_url"},
		{"notify_url relative", body(map[string]any{"notify_url": "/notify"}), "/notify_url"},
		{"need_user_confirm a string", body(map[string]any{"need_user_confirm": "false"}), "/need_user_confirm"},
		{"openid missing without confirmation", body(map[string]any{"need_user_confirm": false}), "/openid"},
		{"openid with confirmation", body(map[string]any{"openid": "oUser"}), "/openid"},
		{"openid 129", body(map[string]any{"need_user_confirm": false, "openid": strings.Repeat("o", 129)}), "/openid"},
		{"device not an object", body(map[string]any{"device": "d1"}), "/device"},
		{"device id 65", body(map[string]any{"device": map[string]any{"start_device_id": strings.Repeat("d", 65)}}), "/device/start_device_id"},
	}
	wantParamErrors(t, func(b map[string]any) error {
		_, err := cl.Post(context.Background(), soURL(srv), b)
		return err
	}, cases)
	if got := srv.Sandbox.ServiceOrders(); len(got) != 0 {
		t.Fatalf("refused creates made %d orders", len(got))
	}
	// An openid is never echoed.
	_, err := cl.Post(context.Background(), soURL(srv), with(soCreateBody(c, "cv-oid"), map[string]any{"openid": "oSecret"}))
	if e := apiErr(t, err, 400, "PARAM_ERROR"); strings.Contains(string(e.Body), "oSecret") {
		t.Fatalf("the openid is echoed: %s", e.Body)
	}

	// What the rules allow.
	for i, set := range []map[string]any{
		{"post_payments": []any{}}, // the SDK example's empty array
		{"post_discounts": []any{map[string]any{"name": "a", "description": "x", "amount": 100, "count": 1}}}, // amount at create (SK)
		{"notify_url": "http://127.0.0.1:9/notify"},                                                           // loopback http (sandbox only)
		{"notify_url": "http://localhost/notify"},                                                             // ditto
		{"need_user_confirm": nil},                                                                            // absent means true (SK)
		{"need_user_confirm": false, "openid": strings.Repeat("o", 128)},                                      // 免确认
		{"risk_fund": rf(map[string]any{"name": "DEPOSIT", "amount": DefaultMaxRiskAmount})},
		{"location": nil, "attach": nil},
		{"time_range": tr(map[string]any{"end_time": "20991231", "end_time_remark": long(20), "start_time_remark": long(20)})},
		{"device": map[string]any{"start_device_id": strings.Repeat("d", 64), "materiel_no": "m"}},
		{"service_introduction": long(20), "out_order_no": "A-b_c|" + strings.Repeat("9", 26)},
	} {
		b := with(soCreateBody(c, "ok-"+string(rune('a'+i))), set)
		if _, err := cl.Post(context.Background(), soURL(srv), b); err != nil {
			t.Errorf("allowed create %v refused: %v", set, err)
		}
	}

	// Binding checks come after the syntax.
	_, err = cl.Post(context.Background(), soURL(srv), with(soCreateBody(c, "cv-ids"), map[string]any{"appid": "wxother"}))
	if e := apiErr(t, err, 400, "INVALID_REQUEST"); !contains(e.Message, "APPID_MCHID_NOT_MATCH") {
		t.Fatal(e.Message)
	}
	_, err = cl.Post(context.Background(), soURL(srv), with(soCreateBody(c, "cv-ids"), map[string]any{"service_id": "500"}))
	apiErr(t, err, 403, "NO_AUTH")
}

// The time rules of create and complete, against the sandbox's clock
// (requests signed on it, so that it may be moved).
func TestServiceOrderTimeRules(t *testing.T) {
	clk := newFrozenClock()
	srv := startServer(t, Options{Now: clk.Now})
	c := srv.Credentials
	send := func(path string, body map[string]any) rawAnswer {
		return do(t, signedRequest(t, c, "POST", srv.URL+path, mustJSON(body), clk.Now(), nil))
	}
	field := func(a rawAnswer) string {
		if a.Status != 400 || a.JSON["code"] != "PARAM_ERROR" {
			return "answered " + string(a.Body)
		}
		return a.JSON["detail"].(map[string]any)["field"].(string)
	}
	now := clk.Now()
	at := func(d time.Duration) string { return formatWechatTime(now.Add(d)) }
	day := func(days int) string { return now.In(cst).AddDate(0, 0, days).Format("20060102") }
	create := func(no string, tr map[string]any) rawAnswer {
		return send(serviceOrderPath, with(soCreateBody(c, no), map[string]any{"time_range": tr}))
	}
	for i, tc := range []struct {
		name  string
		tr    map[string]any
		field string // "" = created
	}{
		{"start to the second in the past", map[string]any{"start_time": at(-time.Minute)}, "/time_range/start_time"},
		{"start yesterday", map[string]any{"start_time": day(-1)}, "/time_range/start_time"},
		{"end within a minute of the call", map[string]any{"start_time": "OnAccept", "end_time": at(30 * time.Second)}, "/time_range/end_time"},
		{"end before start", map[string]any{"start_time": at(time.Hour), "end_time": at(30 * time.Minute)}, "/time_range/end_time"},
		{"end at start", map[string]any{"start_time": at(time.Hour), "end_time": at(time.Hour)}, "/time_range/end_time"},
		{"end day yesterday", map[string]any{"start_time": "OnAccept", "end_time": day(-1)}, "/time_range/end_time"},
		{"end day before start day", map[string]any{"start_time": day(2), "end_time": day(1)}, "/time_range/end_time"},
		{"start today", map[string]any{"start_time": day(0), "end_time": day(0)}, ""},
		{"start this second", map[string]any{"start_time": at(0)}, ""},
		{"start and end ahead", map[string]any{"start_time": at(time.Hour), "end_time": at(2 * time.Hour)}, ""},
	} {
		a := create(fmt.Sprintf("tr-%d", i), tc.tr)
		if tc.field == "" {
			if a.Status != 200 {
				t.Errorf("%s: %d %s", tc.name, a.Status, a.Body)
			}
		} else if got := field(a); got != tc.field {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.field)
		}
	}

	complete := func(no string, set map[string]any) rawAnswer {
		return send(serviceOrderPath+"/"+no+"/complete", with(soCompleteBody(c), set))
	}
	// OnAccept, no end at create: an end is required, to the second, not
	// after the call, not before the confirmation.
	if a := create("tc-1", map[string]any{"start_time": "OnAccept"}); a.Status != 200 {
		t.Fatal(string(a.Body))
	}
	_ = srv.Sandbox.AcceptServiceOrder("tc-1")
	clk.Add(10 * time.Minute)
	confirmed := now
	for _, tc := range []struct {
		name  string
		tr    any // nil: left out
		field string
	}{
		{"no end", nil, "/time_range/end_time"},
		{"end a day", map[string]any{"end_time": day(0)}, "/time_range/end_time"},
		{"end after the call", map[string]any{"end_time": formatWechatTime(clk.Now().Add(time.Minute))}, "/time_range/end_time"},
		{"end before the confirmation", map[string]any{"end_time": formatWechatTime(confirmed.Add(-time.Minute))}, "/time_range/end_time"},
		{"start a day", map[string]any{"start_time": day(0), "end_time": formatWechatTime(clk.Now())}, "/time_range/start_time"},
	} {
		set := map[string]any{"time_range": tc.tr}
		if got := field(complete("tc-1", set)); got != tc.field {
			t.Errorf("complete %s: %s, want %s", tc.name, got, tc.field)
		}
	}
	if a := complete("tc-1", map[string]any{"time_range": map[string]any{"end_time": formatWechatTime(clk.Now())}}); a.Status != 200 {
		t.Fatalf("complete: %s", a.Body)
	}
	if o, _ := srv.Sandbox.ServiceOrder("tc-1"); o.TimeRange.EndTime != formatWechatTime(clk.Now()) {
		t.Fatalf("end_time not recorded: %+v", o.TimeRange)
	}

	// Days at create: days at complete; the end given at create serves.
	if a := create("tc-2", map[string]any{"start_time": day(0), "end_time": day(1)}); a.Status != 200 {
		t.Fatal(string(a.Body))
	}
	_ = srv.Sandbox.AcceptServiceOrder("tc-2")
	if got := field(complete("tc-2", map[string]any{"time_range": map[string]any{"end_time": formatWechatTime(clk.Now())}})); got != "/time_range/end_time" {
		t.Errorf("a second-precision end for a day-precision order: %s", got)
	}
	if got := field(complete("tc-2", map[string]any{"time_range": map[string]any{"end_time": day(1)}})); got != "/time_range/end_time" {
		t.Errorf("an end day after the call's day: %s", got)
	}
	if a := complete("tc-2", map[string]any{"time_range": nil}); a.Status != 200 {
		t.Fatalf("complete with create's end: %s", a.Body)
	}
}

func TestServiceOrderCompleteAndModifyValidation(t *testing.T) {
	srv := startServer(t, Options{MaxRiskAmount: 5000})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox
	soCreate(t, cl, srv, soCreateBody(c, "cm-1"))
	_ = sb.AcceptServiceOrder("cm-1")
	complete := func(b map[string]any) error {
		_, err := soPost(cl, srv, "cm-1", "complete", b)
		return err
	}
	base := soCompleteBody(c)
	b := func(set map[string]any) map[string]any { return with(base, set) }
	long := func(n int) string { return strings.Repeat("长", n) }
	payments := func(set map[string]any) map[string]any {
		return b(map[string]any{"post_payments": item(set), "post_discounts": nil})
	}
	cases := []paramCase{
		{"appid missing", b(map[string]any{"appid": nil}), "/appid"},
		{"service_id missing", b(map[string]any{"service_id": nil}), "/service_id"},
		{"post_payments missing", b(map[string]any{"post_payments": nil}), "/post_payments"},
		{"post_payments empty", b(map[string]any{"post_payments": []any{}}), "/post_payments"},
		{"post_payments 101", b(map[string]any{"post_payments": items(101), "post_discounts": nil, "total_amount": 101}), "/post_payments"},
		{"item not an object", b(map[string]any{"post_payments": []any{"cola"}}), "/post_payments/0"},
		{"item name missing", payments(map[string]any{"name": nil}), "/post_payments/0/name"},
		{"item name not 商品信息", payments(map[string]any{"name": "cola"}), "/post_payments/0/name"},
		{"item amount missing", payments(map[string]any{"amount": nil}), "/post_payments/0/amount"},
		{"item amount negative", payments(map[string]any{"amount": -1}), "/post_payments/0/amount"},
		{"item amount a string", payments(map[string]any{"amount": "900"}), "/post_payments/0/amount"},
		{"item description missing", payments(map[string]any{"description": nil}), "/post_payments/0/description"},
		{"item description 31", payments(map[string]any{"description": long(31)}), "/post_payments/0/description"},
		{"item count missing", payments(map[string]any{"count": nil}), "/post_payments/0/count"},
		{"item count 0", payments(map[string]any{"count": 0}), "/post_payments/0/count"},
		{"item count 101", payments(map[string]any{"count": 101}), "/post_payments/0/count"},
		{"discount amount missing at complete", b(map[string]any{"post_discounts": []any{map[string]any{"name": "a", "description": "x"}}}), "/post_discounts/0/amount"},
		{"post_discounts 31", b(map[string]any{"post_discounts": namedDiscounts(31, true)}), "/post_discounts"},
		{"total_amount missing", b(map[string]any{"total_amount": nil}), "/total_amount"},
		{"total_amount not the sum", b(map[string]any{"total_amount": 1000}), "/total_amount"},
		{"discounts above payments", b(map[string]any{"post_discounts": []any{map[string]any{"name": "a", "description": "x", "amount": 1001}}, "total_amount": 0}), "/total_amount"},
		{"total above the service's cap (先享: not bound by risk_fund)", b(map[string]any{"post_payments": soItems(5001), "post_discounts": nil, "total_amount": 5001}), "/total_amount"},
		{"time_range not an object", b(map[string]any{"time_range": "x"}), "/time_range"},
		{"end_time_remark 21", b(map[string]any{"time_range": map[string]any{"end_time": formatWechatTime(time.Now()), "end_time_remark": long(21)}}), "/time_range/end_time_remark"},
		{"start_location at complete", b(map[string]any{"location": map[string]any{"start_location": "a", "end_location": "b"}}), "/location/start_location"},
		{"end_location 51", b(map[string]any{"location": map[string]any{"end_location": long(51)}}), "/location/end_location"},
		{"profit_sharing a string", b(map[string]any{"profit_sharing": "false"}), "/profit_sharing"},
		{"goods_tag 33", b(map[string]any{"goods_tag": strings.Repeat("g", 33)}), "/goods_tag"},
		{"device id 65", b(map[string]any{"device": map[string]any{"end_device_id": strings.Repeat("d", 65)}}), "/device/end_device_id"},
	}
	wantParamErrors(t, complete, cases)
	if soState(t, sb, "cm-1") != "DOING+USER_CONFIRM" {
		t.Fatal("a refused complete changed the order")
	}
	// The risk fund: 先免 names bound the total by risk_fund.amount, 先享
	// (ESTIMATE_ORDER_COST) does not; end_location needs create's start.
	for _, tc := range []struct {
		no, name string
		refused  bool
	}{{"rk-dep", "DEPOSIT", true}, {"rk-adv", "ADVANCE", true}, {"rk-cash", "CASH_DEPOSIT", true}, {"rk-est", "ESTIMATE_ORDER_COST", false}} {
		soCreate(t, cl, srv, with(soCreateBody(c, tc.no), map[string]any{"risk_fund": map[string]any{"name": tc.name, "amount": 800}}))
		_ = sb.AcceptServiceOrder(tc.no)
		_, err := soPost(cl, srv, tc.no, "complete", soCompleteBody(c)) // 900 > 800
		if tc.refused {
			if e := apiErr(t, err, 400, "PARAM_ERROR"); detailOf(t, e)["field"] != "/total_amount" {
				t.Errorf("%s: %s", tc.name, e.Body)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	soCreate(t, cl, srv, with(soCreateBody(c, "loc-1"), map[string]any{"location": nil}))
	_ = sb.AcceptServiceOrder("loc-1")
	_, err := soPost(cl, srv, "loc-1", "complete", with(soCompleteBody(c), map[string]any{"location": map[string]any{"end_location": "Exit"}}))
	if e := apiErr(t, err, 400, "PARAM_ERROR"); detailOf(t, e)["field"] != "/location/end_location" {
		t.Fatal(e.Body)
	}
	// What complete allows and records.
	done := soOK(t, cl, srv, "cm-1", "complete", with(base, map[string]any{
		"location": map[string]any{"end_location": "Exit B"}, "profit_sharing": true, "goods_tag": "tag",
		"device": map[string]any{"end_device_id": "dev-2"}}))
	if done["location"].(map[string]any)["end_location"] != "Exit B" {
		t.Fatalf("complete answer: %v", done)
	}
	if o, _ := sb.ServiceOrder("cm-1"); !o.ProfitSharing || o.GoodsTag != "tag" || o.Device == nil || o.Device.EndDeviceID != "dev-2" {
		t.Fatalf("recorded: %+v", o)
	}

	// Modify: the same item and total rules, and a reason.
	modify := func(b map[string]any) error {
		_, err := soPost(cl, srv, "cm-1", "modify", b)
		return err
	}
	mb := soModifyBody(c, 500)
	m := func(set map[string]any) map[string]any { return with(mb, set) }
	wantParamErrors(t, modify, []paramCase{
		{"appid missing", m(map[string]any{"appid": nil}), "/appid"},
		{"service_id missing", m(map[string]any{"service_id": nil}), "/service_id"},
		{"post_payments missing", m(map[string]any{"post_payments": nil}), "/post_payments"},
		{"item name not 商品信息", m(map[string]any{"post_payments": []any{map[string]any{"name": "cola", "amount": 500, "description": "c", "count": 1}}}), "/post_payments/0/name"},
		{"item count missing", m(map[string]any{"post_payments": []any{map[string]any{"name": RetailItemName, "amount": 500, "description": "c"}}}), "/post_payments/0/count"},
		{"total_amount missing", m(map[string]any{"total_amount": nil}), "/total_amount"},
		{"total_amount not the sum", m(map[string]any{"total_amount": 400}), "/total_amount"},
		{"reason missing", m(map[string]any{"reason": nil}), "/reason"},
		{"reason 51", m(map[string]any{"reason": long(51)}), "/reason"},
		{"discount amount missing", m(map[string]any{"post_discounts": []any{map[string]any{"name": "a", "description": "x"}}}), "/post_discounts/0/amount"},
		{"not lower", m(map[string]any{"post_payments": soItems(900), "total_amount": 900}), "/total_amount"},
	})
	if o, _ := sb.ServiceOrder("cm-1"); o.Modifications != 0 || *o.TotalAmount != 900 {
		t.Fatalf("a refused modify changed the order: %+v", o)
	}
	soOK(t, cl, srv, "cm-1", "modify", with(mb, map[string]any{"reason": long(50)}))
}

func TestServiceOrderCancelPaySyncQueryValidation(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	soCompleted(t, cl, srv, "ot-1")
	post := func(action string) func(map[string]any) error {
		return func(b map[string]any) error {
			_, err := soPost(cl, srv, "ot-1", action, b)
			return err
		}
	}
	long := strings.Repeat("长", 51)
	wantParamErrors(t, post("cancel"), []paramCase{
		{"appid missing", with(soCancelBody(c, "r"), map[string]any{"appid": nil}), "/appid"},
		{"reason missing", with(soCancelBody(c, "r"), map[string]any{"reason": nil}), "/reason"},
		{"reason 51", soCancelBody(c, long), "/reason"},
		{"service_id 33", with(soCancelBody(c, "r"), map[string]any{"service_id": strings.Repeat("5", 33)}), "/service_id"},
	})
	wantParamErrors(t, post("pay"), []paramCase{
		{"appid missing", with(soIDsBody(c), map[string]any{"appid": nil}), "/appid"},
		{"service_id missing", with(soIDsBody(c), map[string]any{"service_id": nil}), "/service_id"},
	})
	sync := soSyncBody(c, "20250101")
	wantParamErrors(t, post("sync"), []paramCase{
		{"appid missing", with(sync, map[string]any{"appid": nil}), "/appid"},
		{"service_id missing", with(sync, map[string]any{"service_id": nil}), "/service_id"},
		{"type missing", with(sync, map[string]any{"type": nil}), "/type"},
		{"type other", with(sync, map[string]any{"type": "Order_Refund"}), "/type"},
		{"detail missing", with(sync, map[string]any{"detail": nil}), "/detail"},
		{"detail not an object", with(sync, map[string]any{"detail": "20250101"}), "/detail"},
		{"paid_time missing", with(sync, map[string]any{"detail": map[string]any{}}), "/detail/paid_time"},
		{"paid_time RFC 3339", with(sync, map[string]any{"detail": map[string]any{"paid_time": "2025-01-01T00:00:00+08:00"}}), "/detail/paid_time"},
		{"paid_time 12 digits", with(sync, map[string]any{"detail": map[string]any{"paid_time": "202501011200"}}), "/detail/paid_time"},
	})
	// A body that is no JSON object.
	a := do(t, signedRequest(t, c, "POST", soURL(srv)+"/ot-1/pay", "[1]", time.Now(), nil))
	if a.Status != 400 || a.JSON["code"] != "PARAM_ERROR" {
		t.Fatalf("array body: %d %s", a.Status, a.Body)
	}
	if soState(t, srv.Sandbox, "ot-1") != "DOING+MCH_COMPLETE" {
		t.Fatal("a refused call changed the order")
	}
	// cancel's service_id may be left out (current 需确认 page); a wrong one is NO_AUTH.
	_, err := soPost(cl, srv, "ot-1", "cancel", with(soCancelBody(c, "r"), map[string]any{"service_id": "5001"}))
	apiErr(t, err, 403, "NO_AUTH")
	soOK(t, cl, srv, "ot-1", "cancel", with(soCancelBody(c, long[:3*50]), map[string]any{"service_id": nil}))

	// Query: exactly one of out_order_no and query_id, bounded.
	q := func(v url.Values) error {
		_, err := cl.Get(context.Background(), soURL(srv)+"?"+v.Encode())
		return err
	}
	ids := func(set url.Values) url.Values {
		v := url.Values{"service_id": {c.ServiceID}, "appid": {c.AppID}}
		for k, vs := range set {
			if vs == nil {
				v.Del(k)
			} else {
				v[k] = vs
			}
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		v     url.Values
		field string
	}{
		{"neither", ids(nil), "/out_order_no"},
		{"both", ids(url.Values{"out_order_no": {"ot-1"}, "query_id": {"x"}}), "/out_order_no"},
		{"appid missing", ids(url.Values{"appid": nil, "out_order_no": {"ot-1"}}), "/appid"},
		{"service_id missing", ids(url.Values{"service_id": nil, "out_order_no": {"ot-1"}}), "/service_id"},
		{"query_id 513", ids(url.Values{"query_id": {strings.Repeat("q", 513)}}), "/query_id"},
		{"out_order_no with *", ids(url.Values{"out_order_no": {"a*b"}}), "/out_order_no"},
		{"out_order_no twice", ids(url.Values{"out_order_no": {"a", "b"}}), "/out_order_no"},
	} {
		e := apiErr(t, q(tc.v), 400, "PARAM_ERROR")
		if d := detailOf(t, e); d["field"] != tc.field || d["location"] != "query" {
			t.Errorf("query %s: %v", tc.name, d)
		}
	}
	apiErr(t, q(ids(url.Values{"query_id": {"unknown"}})), 404, "ORDER_NOT_EXIST")
	apiErr(t, q(ids(url.Values{"appid": {"wxother"}, "out_order_no": {"ot-1"}})), 400, "INVALID_REQUEST")
}

// frozenClock stands still unless moved, so that times sent and the
// sandbox's "now" are the same second.
type frozenClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFrozenClock() *frozenClock {
	return &frozenClock{t: time.Now().Truncate(time.Second).Add(500 * time.Millisecond)}
}

func (c *frozenClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *frozenClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
