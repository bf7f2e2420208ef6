package sandbox

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzCreateBody sends arbitrary signed create bodies: the answer is always
// 200 or a WeChat-style 4xx JSON error, never a panic or a 5xx.
func FuzzCreateBody(f *testing.F) {
	c := testCreds(f)
	f.Add(mustJSON(createBody(c, "fz-1")))
	f.Add(`{"appid":"` + c.AppID + `","service_id":"` + c.ServiceID + `","out_order_no":"x","fees":[{"fee_name":"a","fee_amount":1.5}]}`)
	f.Add(`{"appid":"` + c.AppID + `","service_id":"` + c.ServiceID + `","out_order_no":"y","discounts":[null,{}],"risk_amount":-0}`)
	f.Add(`{"fees":{"0":1}}`)
	f.Add(`[`)
	f.Add(`{"appid":"a","appid":"b"}`)
	f.Add(`{"out_order_no":"\u0000","service_start_time":"99999999"}`)
	sb, err := New(Options{Credentials: c})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := signedRequest(t, c, "POST", "http://sandbox"+ordersPath, body, sb.now(), nil)
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		var e struct{ Code string }
		if rec.Code != 200 && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("answer is not JSON: %s", rec.Body)
		}
		if rec.Header().Get("Wechatpay-Signature") == "" {
			t.Fatal("unsigned answer")
		}
	})
}

// FuzzFaultsBody sends arbitrary admin fault bodies: 200 with valid settings
// or 400 PARAM_ERROR, never a panic.
func FuzzFaultsBody(f *testing.F) {
	for _, s := range []string{
		`{"mode":"error","probability":0.5,"latency_ms":100}`, `{"mode":"none"}`, `{}`, `null`,
		`{"probability":1e309}`, `{"latency_ms":-1}`, `{"mode":"offline"} x`, `{"x":1}`, "\xff",
	} {
		f.Add(s)
	}
	sb, err := New(Options{Credentials: testCreds(f)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, httptest.NewRequest("PUT", "/sandbox/faults", strings.NewReader(body)))
		switch rec.Code {
		case 200:
			var got Faults
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if _, err := got.normalize(); err != nil {
				t.Fatalf("accepted invalid faults %+v from %q", got, body)
			}
		case 400:
			if !strings.Contains(rec.Body.String(), `"PARAM_ERROR"`) {
				t.Fatalf("%s", rec.Body)
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		_ = sb.SetFaults(Faults{}) // keep later inputs independent
	})
}
