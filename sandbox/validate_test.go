package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

func TestCreateValidation(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, srv.Credentials)
	fee := func(k string, v any) []any {
		f := map[string]any{"fee_name": "x", "fee_amount": 1, "fee_count": 1}
		f[k] = v
		return []any{f}
	}
	// discounts are n with distinct names of name's length (the last
	// character varies) and a description.
	discounts := func(n int, name string) []any {
		var out []any
		for i := 0; i < n; i++ {
			r := []rune(name)
			r[len(r)-1] = rune('a' + i)
			out = append(out, map[string]any{"discount_name": string(r), "discount_desc": "d"})
		}
		return out
	}
	twoFees := func(a, b string) []any {
		return []any{map[string]any{"fee_name": a, "fee_amount": 1}, map[string]any{"fee_name": b, "fee_amount": 1}}
	}
	cases := []struct {
		name  string
		set   map[string]any // nil value deletes
		field string
	}{
		{"appid missing", map[string]any{"appid": nil}, "/appid"},
		{"appid empty", map[string]any{"appid": ""}, "/appid"},
		{"appid not string", map[string]any{"appid": 5}, "/appid"},
		{"service_id missing", map[string]any{"service_id": nil}, "/service_id"},
		{"out_order_no missing", map[string]any{"out_order_no": nil}, "/out_order_no"},
		{"out_order_no too long", map[string]any{"out_order_no": strings.Repeat("a", 33)}, "/out_order_no"},
		{"out_order_no bad char", map[string]any{"out_order_no": "a.b"}, "/out_order_no"},
		{"out_order_no space", map[string]any{"out_order_no": "a b"}, "/out_order_no"},
		{"start time rfc3339", map[string]any{"service_start_time": "2030-01-01T10:00:00+08:00"}, "/service_start_time"},
		{"start time bad date", map[string]any{"service_start_time": "20300230"}, "/service_start_time"},
		{"start time onaccept case", map[string]any{"service_start_time": "onaccept"}, "/service_start_time"},
		{"end time OnAccept", map[string]any{"service_end_time": "OnAccept"}, "/service_end_time"},
		{"end time bad hour", map[string]any{"service_end_time": "20301231245959"}, "/service_end_time"},
		{"end time 12 digits", map[string]any{"service_end_time": "203012312359"}, "/service_end_time"},
		{"introduction 21 runes", map[string]any{"service_introduction": strings.Repeat("店", 21)}, "/service_introduction"},
		{"fee_amount negative", map[string]any{"fees": fee("fee_amount", -1)}, "/fees/0/fee_amount"},
		{"fee_amount fractional", map[string]any{"fees": fee("fee_amount", 1.5)}, "/fees/0/fee_amount"},
		{"fee_amount string", map[string]any{"fees": fee("fee_amount", "100")}, "/fees/0/fee_amount"},
		{"fee_amount missing", map[string]any{"fees": fee("fee_amount", nil)}, "/fees/0/fee_amount"},
		{"fee_count negative", map[string]any{"fees": fee("fee_count", -2)}, "/fees/0/fee_count"},
		{"fee_count fractional", map[string]any{"fees": fee("fee_count", 0.5)}, "/fees/0/fee_count"},
		{"fee not object", map[string]any{"fees": []any{1}}, "/fees/0"},
		{"fees not array", map[string]any{"fees": "x"}, "/fees"},
		{"risk_amount negative", map[string]any{"risk_amount": -5}, "/risk_amount"},
		{"risk_amount fractional", map[string]any{"risk_amount": 99.9}, "/risk_amount"},
		{"risk_amount bool", map[string]any{"risk_amount": true}, "/risk_amount"},
		{"discounts 6", map[string]any{"discounts": discounts(6, "d")}, "/discounts"},
		{"discount_name 21", map[string]any{"discounts": discounts(1, strings.Repeat("d", 21))}, "/discounts/0/discount_name"},
		{"need_user_confirm string", map[string]any{"need_user_confirm": "false"}, "/need_user_confirm"},
		// The corrections of the design notes (sandbox/doc.go's table).
		{"service_start_time required", map[string]any{"service_start_time": nil}, "/service_start_time"},
		{"service_start_location required", map[string]any{"service_start_location": nil}, "/service_start_location"},
		{"service_introduction required", map[string]any{"service_introduction": ""}, "/service_introduction"},
		{"risk_amount required", map[string]any{"risk_amount": nil}, "/risk_amount"},
		{"risk_amount 0", map[string]any{"risk_amount": 0}, "/risk_amount"},
		{"risk_amount above the service's", map[string]any{"risk_amount": DefaultMaxRiskAmount + 1}, "/risk_amount"},
		{"openid required without confirmation", map[string]any{"need_user_confirm": false}, "/openid"},
		{"fees 101", map[string]any{"fees": manyFees(101)}, "/fees"},
		{"fee_name duplicate", map[string]any{"fees": twoFees("水", "水")}, "/fees/1/fee_name"},
		{"fee_count 0", map[string]any{"fees": fee("fee_count", 0)}, "/fees/0/fee_count"},
		{"fee_count 101", map[string]any{"fees": fee("fee_count", 101)}, "/fees/0/fee_count"},
		{"discount_name duplicate", map[string]any{"discounts": []any{
			map[string]any{"discount_name": "券", "discount_desc": "a"}, map[string]any{"discount_name": "券", "discount_desc": "b"}}}, "/discounts/1/discount_name"},
		{"discount_desc required", map[string]any{"discounts": []any{map[string]any{"discount_name": "券"}}}, "/discounts/0/discount_desc"},
		{"discount_desc 31", map[string]any{"discounts": []any{map[string]any{"discount_name": "券", "discount_desc": strings.Repeat("说", 31)}}}, "/discounts/0/discount_desc"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			no := "v" + strings.Repeat("0", 3) + string(rune('a'+i%26)) + string(rune('a'+i/26))
			b := createBody(c, no)
			for k, v := range tc.set {
				if v == nil {
					delete(b, k)
				} else {
					b[k] = v
				}
			}
			_, err := cl.Post(context.Background(), ordersURL(srv), b)
			e := apiErr(t, err, 400, "PARAM_ERROR")
			d := detailOf(t, e)
			if d["field"] != tc.field || d["location"] != "body" || d["issue"] == "" {
				t.Fatalf("detail %v, want field %s", d, tc.field)
			}
			if _, ok := srv.Sandbox.Order(no); ok {
				t.Fatal("invalid request created an order")
			}
		})
	}

	// Valid edge cases are accepted.
	ok := createBody(c, "Az09_-|*")
	ok["service_start_time"] = "20300101"
	ok["service_introduction"] = strings.Repeat("店", 20)
	ok["discounts"] = discounts(5, strings.Repeat("优", 20))
	ok["fees"] = fee("fee_amount", 0)
	if _, err := cl.Post(context.Background(), ordersURL(srv), ok); err != nil {
		t.Fatal(err)
	}
	ok = createBody(c, strings.Repeat("z", 32))
	ok["service_start_time"] = "20240229120000" // leap day
	if _, err := cl.Post(context.Background(), ordersURL(srv), ok); err != nil {
		t.Fatal(err)
	}
	// At the limits: 100 fees each counting 100, the service's risk amount,
	// an openid with confirmation too (the seed's example sends both), and a
	// fee with no count, which counts 1.
	ok = createBody(c, "edge-limits")
	fees := manyFees(100)
	for _, f := range fees {
		f.(map[string]any)["fee_count"] = 100
	}
	ok["fees"], ok["risk_amount"], ok["openid"] = fees, DefaultMaxRiskAmount, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	if _, err := cl.Post(context.Background(), ordersURL(srv), ok); err != nil {
		t.Fatal(err)
	}
	ok = createBody(c, "edge-nocount")
	ok["fees"] = fee("fee_count", nil)
	if _, err := cl.Post(context.Background(), ordersURL(srv), ok); err != nil {
		t.Fatal(err)
	}
	if o, _ := srv.Sandbox.Order("edge-nocount"); o.Fees[0].FeeCount != 1 {
		t.Errorf("a fee without fee_count counts %d, want 1", o.Fees[0].FeeCount)
	}
	// A configured risk amount replaces the default.
	small := startServer(t, Options{MaxRiskAmount: 4999})
	_, err := pubKeyClient(t, small.Credentials).Post(context.Background(), ordersURL(small), createBody(small.Credentials, "risky"))
	if d := detailOf(t, apiErr(t, err, 400, "PARAM_ERROR")); d["field"] != "/risk_amount" {
		t.Errorf("detail %v, want /risk_amount", d)
	}

	for _, raw := range []string{`{"appid":`, `[1]`, `null`, `{"appid":"a"} x`, ``} {
		a := do(t, signedRequest(t, c, "POST", ordersURL(srv), raw, time.Now(), nil))
		if a.Status != 400 || a.JSON["code"] != "PARAM_ERROR" {
			t.Errorf("body %q: %d %s", raw, a.Status, a.Body)
		}
	}
}

// manyFees are n fees with distinct names, 1 fen each.
func manyFees(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"fee_name": fmt.Sprintf("item %d", i), "fee_count": 1, "fee_amount": 1}
	}
	return out
}

func TestAppIDAndServiceID(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	b := createBody(c, "ids-1")
	b["appid"] = "wx0000000000000000"
	_, err := cl.Post(context.Background(), ordersURL(srv), b)
	if e := apiErr(t, err, 400, "INVALID_REQUEST"); !strings.Contains(e.Message, "APPID_MCHID_NOT_MATCH") {
		t.Fatal(e.Message)
	}
	b = createBody(c, "ids-1")
	b["service_id"] = "500000000000000000000000000000"
	_, err = cl.Post(context.Background(), ordersURL(srv), b)
	apiErr(t, err, 403, "NO_AUTH")

	sdkCreate(t, cl, srv, "ids-2")
	q := url.Values{"service_id": {"other"}, "appid": {c.AppID}, "out_order_no": {"ids-2"}}
	_, err = cl.Get(context.Background(), ordersURL(srv)+"?"+q.Encode())
	apiErr(t, err, 403, "NO_AUTH")
	_, err = cl.Post(context.Background(), ordersURL(srv)+"/ids-2/cancel", map[string]any{
		"appid": "wxother", "service_id": c.ServiceID, "reason": "r"})
	apiErr(t, err, 400, "INVALID_REQUEST")
}

func TestQueryValidation(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sdkCreate(t, cl, srv, "qv-1")
	o, _ := srv.Sandbox.Order("qv-1")
	cases := []struct {
		q     url.Values
		field string
	}{
		{url.Values{"appid": {c.AppID}, "out_order_no": {"qv-1"}}, "/service_id"},
		{url.Values{"service_id": {c.ServiceID}, "out_order_no": {"qv-1"}}, "/appid"},
		{url.Values{"service_id": {c.ServiceID}, "appid": {c.AppID}}, "/out_order_no"},
		{url.Values{"service_id": {c.ServiceID}, "appid": {c.AppID}, "out_order_no": {"qv-1"}, "query_id": {o.QueryID}}, "/out_order_no"},
		{url.Values{"service_id": {c.ServiceID}, "appid": {c.AppID}, "out_order_no": {"qv.1"}}, "/out_order_no"},
		{url.Values{"service_id": {c.ServiceID, c.ServiceID}, "appid": {c.AppID}, "out_order_no": {"qv-1"}}, "/service_id"},
	}
	for _, tc := range cases {
		_, err := cl.Get(context.Background(), ordersURL(srv)+"?"+tc.q.Encode())
		e := apiErr(t, err, 400, "PARAM_ERROR")
		if d := detailOf(t, e); d["field"] != tc.field || d["location"] != "query" {
			t.Errorf("%v: detail %v, want %s", tc.q, d, tc.field)
		}
	}
	_, err := cl.Get(context.Background(), queryURL(srv, "out_order_no", "nope"))
	apiErr(t, err, 404, "ORDER_NOT_EXIST")
	_, err = cl.Get(context.Background(), queryURL(srv, "query_id", "nope"))
	apiErr(t, err, 404, "ORDER_NOT_EXIST")
}

func TestCancelValidation(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sdkCreate(t, cl, srv, "cv-1")
	base := func() map[string]any {
		return map[string]any{"appid": c.AppID, "service_id": c.ServiceID, "reason": "r"}
	}
	cases := []struct {
		path  string
		set   map[string]any
		field string
		loc   string
	}{
		{"cv-1", map[string]any{"reason": nil}, "/reason", "body"},
		{"cv-1", map[string]any{"reason": strings.Repeat("理", 51)}, "/reason", "body"},
		{"cv-1", map[string]any{"appid": nil}, "/appid", "body"},
		{"cv-1", map[string]any{"service_id": nil}, "/service_id", "body"},
		{strings.Repeat("a", 33), nil, "/out_order_no", "uri_template"},
		{"a%20b", nil, "/out_order_no", "uri_template"},
	}
	for _, tc := range cases {
		b := base()
		for k, v := range tc.set {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		_, err := cl.Post(context.Background(), ordersURL(srv)+"/"+tc.path+"/cancel", b)
		e := apiErr(t, err, 400, "PARAM_ERROR")
		if d := detailOf(t, e); d["field"] != tc.field || d["location"] != tc.loc {
			t.Errorf("%v: detail %v, want %s", tc.set, d, tc.field)
		}
	}
	_, err := cl.Post(context.Background(), ordersURL(srv)+"/nope/cancel", base())
	apiErr(t, err, 404, "ORDER_NOT_EXIST")
	b := base()
	b["reason"] = strings.Repeat("理", 50)
	if _, err := cl.Post(context.Background(), ordersURL(srv)+"/cv-1/cancel", b); err != nil {
		t.Fatal(err)
	}
}

func TestCompleteValidation(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sdkCreate(t, cl, srv, "mv-1")
	if err := srv.Sandbox.Accept("mv-1"); err != nil {
		t.Fatal(err)
	}
	discounts := func(n int) []any {
		var out []any
		for i := 0; i < n; i++ {
			out = append(out, map[string]any{"discount_name": fmt.Sprint("d", i), "discount_desc": "d", "discount_amount": 1})
		}
		return out
	}
	cases := []struct {
		name  string
		set   map[string]any
		field string
	}{
		{"appid missing", map[string]any{"appid": nil}, "/appid"},
		{"service_id missing", map[string]any{"service_id": nil}, "/service_id"},
		{"finish_type missing", map[string]any{"finish_type": nil}, "/finish_type"},
		{"finish_type 3", map[string]any{"finish_type": 3}, "/finish_type"},
		{"finish_type string", map[string]any{"finish_type": "2"}, "/finish_type"},
		{"finish_type 1 no reason", map[string]any{"finish_type": 1}, "/cancel_reason"},
		{"cancel_reason 31", map[string]any{"finish_type": 1, "cancel_reason": strings.Repeat("x", 31), "total_amount": 0}, "/cancel_reason"},
		{"finish_type 2 no fees", map[string]any{"fees": nil, "total_amount": nil, "discounts": nil}, "/fees"},
		{"finish_type 2 empty fees", map[string]any{"fees": []any{}, "total_amount": nil, "discounts": nil}, "/fees"},
		{"fee_amount negative", map[string]any{"fees": []any{map[string]any{"fee_name": "a", "fee_amount": -1}}}, "/fees/0/fee_amount"},
		{"second fee fractional", map[string]any{"fees": []any{
			map[string]any{"fee_name": "a", "fee_amount": 1},
			map[string]any{"fee_name": "b", "fee_amount": 2.5}}}, "/fees/1/fee_amount"},
		{"discount_amount missing", map[string]any{"discounts": []any{map[string]any{"discount_name": "d", "discount_desc": "d"}}}, "/discounts/0/discount_amount"},
		{"discount_amount negative", map[string]any{"discounts": []any{map[string]any{"discount_name": "d", "discount_desc": "d", "discount_amount": -1}}}, "/discounts/0/discount_amount"},
		{"discounts 6", map[string]any{"discounts": discounts(6)}, "/discounts"},
		{"total mismatch", map[string]any{"total_amount": 1000}, "/total_amount"},
		{"total negative", map[string]any{"total_amount": -900}, "/total_amount"},
		{"discounts exceed fees", map[string]any{"discounts": []any{map[string]any{"discount_name": "d", "discount_desc": "d", "discount_amount": 5000}}, "total_amount": 0}, "/total_amount"},
		{"real start rfc3339", map[string]any{"real_service_start_time": "2030-01-01T00:00:00Z"}, "/real_service_start_time"},
		{"real end bad date", map[string]any{"real_service_end_time": "20231301"}, "/real_service_end_time"},
		{"finish_ticket wrong", map[string]any{"finish_ticket": "not-the-ticket"}, "/finish_ticket"},
		{"profit_sharing string", map[string]any{"profit_sharing": "yes"}, "/profit_sharing"},
		// The corrections of the design notes (sandbox/doc.go's table).
		{"total_amount required", map[string]any{"total_amount": nil}, "/total_amount"},
		{"total_amount not 0 with finish_type 1", map[string]any{"finish_type": 1, "cancel_reason": "缺货"}, "/total_amount"},
		{"real_service_end_location 21", map[string]any{"real_service_end_location": strings.Repeat("地", 21)}, "/real_service_end_location"},
		{"real_service_end_location with finish_type 1", map[string]any{"finish_type": 1, "cancel_reason": "缺货", "total_amount": 0,
			"real_service_end_location": "门口"}, "/real_service_end_location"},
		{"finish_ticket required", map[string]any{"finish_ticket": ""}, "/finish_ticket"},
		{"profit_sharing required", map[string]any{"profit_sharing": nil}, "/profit_sharing"},
		{"fee_name duplicate", map[string]any{"fees": []any{
			map[string]any{"fee_name": "水", "fee_amount": 600}, map[string]any{"fee_name": "水", "fee_amount": 400}}}, "/fees/1/fee_name"},
		{"fee_count 101", map[string]any{"fees": []any{map[string]any{"fee_name": "水", "fee_count": 101, "fee_amount": 1000}}}, "/fees/0/fee_count"},
		{"discount_desc required", map[string]any{"discounts": []any{map[string]any{"discount_name": "d", "discount_amount": 100}}}, "/discounts/0/discount_desc"},
		// risk_amount 5000: fees 5101 less the discount's 100.
		{"total above the risk_amount", map[string]any{"fees": []any{map[string]any{"fee_name": "水", "fee_amount": 5101}}, "total_amount": 5001}, "/total_amount"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := ticketed(srv, "mv-1", completeBody(c))
			for k, v := range tc.set {
				if v == nil {
					delete(b, k)
				} else {
					b[k] = v
				}
			}
			_, err := cl.Post(context.Background(), ordersURL(srv)+"/mv-1/complete", b)
			e := apiErr(t, err, 400, "PARAM_ERROR")
			if d := detailOf(t, e); d["field"] != tc.field || d["location"] != "body" {
				t.Fatalf("detail %v, want field %s", d, tc.field)
			}
			if o, _ := srv.Sandbox.Order("mv-1"); o.State != StateUserAccepted {
				t.Fatalf("invalid complete changed state to %s", o.State)
			}
		})
	}
	_, err := cl.Post(context.Background(), ordersURL(srv)+"/nope/complete", ticketed(srv, "nope", completeBody(c)))
	apiErr(t, err, 404, "ORDER_NOT_EXIST")

	b := ticketed(srv, "mv-1", completeBody(c))
	b["real_service_start_time"] = "20300101100000"
	b["profit_sharing"] = true
	// The order's risk_amount is 5000: a total at it is taken (fees less
	// discounts: 5100 - 100).
	b["fees"] = []any{map[string]any{"fee_name": "水", "fee_amount": 5100}}
	b["total_amount"] = 5000
	if _, err := cl.Post(context.Background(), ordersURL(srv)+"/mv-1/complete", b); err != nil {
		t.Fatal(err)
	}
	o, _ := srv.Sandbox.Order("mv-1")
	if o.State != StateFinished || o.TotalAmount == nil || *o.TotalAmount != 5000 || o.RealServiceStartTime != "20300101100000" ||
		!o.ProfitSharing || len(o.Discounts) != 1 || o.Discounts[0].DiscountAmount != 100 {
		t.Fatalf("%+v", o)
	}
}

func TestWechatTime(t *testing.T) {
	for s, want := range map[string]bool{
		"20240229": true, "20230229": false, "20301231235959": true, "20301231240000": false,
		"2030123": false, "+0301231": false, "２０３０１２３１": false, "20300101000060": false, "": false,
	} {
		if _, ok := parseWechatTime(s); ok != want {
			t.Errorf("%q: got %v", s, ok)
		}
	}
	tm, _ := parseWechatTime("20300101080000")
	if tm.UTC().Hour() != 0 {
		t.Fatalf("times are China Standard Time: %v", tm.UTC())
	}
}

// Sizes: every string and list the client bounds, the sandbox bounds the
// same (internal/plugin/wxpay checks the two agree), and an error never echoes a
// long value.
func TestSizes(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	fees := func(n int) []any {
		var out []any
		for i := 0; i < n; i++ {
			out = append(out, map[string]any{"fee_name": fmt.Sprint("x", i), "fee_amount": 1})
		}
		return out
	}
	refused := func(t *testing.T, path string, b map[string]any, field string) map[string]any {
		t.Helper()
		_, err := cl.Post(context.Background(), ordersURL(srv)+path, b)
		e := apiErr(t, err, 400, "PARAM_ERROR")
		d := detailOf(t, e)
		if d["field"] != field {
			t.Errorf("detail %v, want field %s", d, field)
		}
		return d
	}
	creates := []struct {
		name  string
		set   map[string]any
		field string
	}{
		{"appid 33", map[string]any{"appid": strings.Repeat("w", 33)}, "/appid"},
		{"service_id 33", map[string]any{"service_id": strings.Repeat("5", 33)}, "/service_id"},
		{"101 fees", map[string]any{"fees": fees(101)}, "/fees"},
	}
	for i, tc := range creates {
		t.Run("create "+tc.name, func(t *testing.T) {
			b := createBody(c, "sz-"+string(rune('a'+i)))
			for k, v := range tc.set {
				b[k] = v
			}
			refused(t, "", b, tc.field)
		})
	}
	t.Run("create 100 fees", func(t *testing.T) {
		b := createBody(c, "sz-ok")
		b["fees"] = fees(100)
		if _, err := cl.Post(context.Background(), ordersURL(srv), b); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("long values are not echoed", func(t *testing.T) {
		for _, f := range []string{"service_start_time", "attach", "service_introduction"} {
			b := createBody(c, "sz-echo")
			b[f] = strings.Repeat("9", 300)
			if d := refused(t, "", b, "/"+f); d["value"] != nil {
				t.Errorf("%s: the answer echoes the value", f)
			}
		}
		b := createBody(c, "sz-echo")
		b["attach"] = strings.Repeat("9", 257)
		b["service_start_time"] = "2026-11-26"
		if d := refused(t, "", b, "/service_start_time"); d["value"] != "2026-11-26" {
			t.Errorf("a short value is still echoed: %v", d)
		}
	})

	sdkCreate(t, cl, srv, "sz-done")
	if err := srv.Sandbox.Accept("sz-done"); err != nil {
		t.Fatal(err)
	}
	completes := []struct {
		name  string
		set   map[string]any
		field string
	}{
		{"appid 33", map[string]any{"appid": strings.Repeat("w", 33)}, "/appid"},
		{"service_id 33", map[string]any{"service_id": strings.Repeat("5", 33)}, "/service_id"},
		{"101 fees", map[string]any{"fees": fees(101), "total_amount": nil, "discounts": nil}, "/fees"},
		{"finish_ticket 1025", map[string]any{"finish_ticket": strings.Repeat("t", 1025)}, "/finish_ticket"},
	}
	for _, tc := range completes {
		t.Run("complete "+tc.name, func(t *testing.T) {
			b := ticketed(srv, "sz-done", completeBody(c))
			for k, v := range tc.set {
				if v == nil {
					delete(b, k)
				} else {
					b[k] = v
				}
			}
			refused(t, "/sz-done/complete", b, tc.field)
		})
	}
	for _, f := range []string{"appid", "service_id"} {
		t.Run("cancel "+f+" 33", func(t *testing.T) {
			b := map[string]any{"appid": c.AppID, "service_id": c.ServiceID, "reason": "r"}
			b[f] = strings.Repeat("5", 33)
			refused(t, "/sz-done/cancel", b, "/"+f)
		})
	}
}

// The query's parameters have the bounds the body's fields have: the
// client refuses longer ones, and so does the sandbox.
func TestQueryParameterSizes(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	for _, tc := range []struct{ param, value string }{
		{"appid", c.AppID + strings.Repeat("x", 32)},
		{"service_id", c.ServiceID + strings.Repeat("9", 32)},
		{"query_id", strings.Repeat("q", 513)},
	} {
		q := url.Values{"appid": {c.AppID}, "service_id": {c.ServiceID}, "out_order_no": {"SZ-Q"}}
		if tc.param == "query_id" {
			q.Del("out_order_no")
		}
		q.Set(tc.param, tc.value)
		_, err := cl.Get(context.Background(), srv.URL+ordersPath+"?"+q.Encode())
		var apiErr *core.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != "PARAM_ERROR" || !strings.Contains(apiErr.Message+fmt.Sprint(apiErr.Detail), "at most") {
			t.Errorf("%s of %d characters: %v", tc.param, len(tc.value), err)
		}
	}
}

// real_service_end_location repeating the start or planned end location is
// to be left out (the corrections, T1); one sent anyway is taken as left
// out, not refused (sandbox/doc.go says why).
func TestRepeatedEndLocationIsTakenAsLeftOut(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	for i, loc := range []string{"Kiosk 7", "Exit B", "Hall"} {
		no := fmt.Sprint("loc-", i)
		b := createBody(c, no)
		b["service_end_location"] = "Exit B"
		if _, err := cl.Post(context.Background(), ordersURL(srv), b); err != nil {
			t.Fatal(err)
		}
		if err := srv.Sandbox.Accept(no); err != nil {
			t.Fatal(err)
		}
		body := ticketed(srv, no, completeBody(c))
		body["real_service_end_location"] = loc
		if _, err := cl.Post(context.Background(), ordersURL(srv)+"/"+no+"/complete", body); err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		o, _ := srv.Sandbox.Order(no)
		want := ""
		if loc == "Hall" {
			want = loc
		}
		if o.State != StateFinished || o.RealServiceEndLocation != want {
			t.Errorf("%s: state %s, real_service_end_location %q, want %q", loc, o.State, o.RealServiceEndLocation, want)
		}
	}
}
