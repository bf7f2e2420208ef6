package sandbox

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// FuzzServiceOrderBodies sends arbitrary signed bodies to the service-order
// create and complete: the answer is always 200 or a WeChat-style 4xx JSON
// error, signed, never a panic or a 5xx.
func FuzzServiceOrderBodies(f *testing.F) {
	c := testCreds(f)
	f.Add(false, mustJSON(soCreateBody(c, "fz-1")))
	f.Add(true, mustJSON(soCompleteBody(c)))
	f.Add(false, `{"time_range":{"start_time":"OnAccept","end_time":"00000000"},"risk_fund":[]}`)
	f.Add(false, `{"notify_url":"http://[::1]:80/?","location":{"end_location":null}}`)
	f.Add(true, `{"post_payments":[{"name":"商品信息","amount":9223372036854775807,"count":1,"description":"x"}],"total_amount":1}`)
	f.Add(true, `{"post_discounts":[{"name":"a","description":"b","amount":1e3}],"time_range":null}`)
	sb, err := New(Options{Credentials: c})
	if err != nil {
		f.Fatal(err)
	}
	defer sb.Close()
	createServiceDirect(f, sb, "fz-c")
	if err := sb.AcceptServiceOrder("fz-c"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, complete bool, body string) {
		path := serviceOrderPath
		if complete {
			path += "/fz-c/complete"
		}
		req := signedRequest(t, c, "POST", "http://sandbox"+path, body, sb.now(), nil)
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
