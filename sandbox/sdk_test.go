package sandbox

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
)

// sdkFlow drives a full order life cycle through a plain SDK client.
func sdkFlow(t *testing.T, srv *Server, cl *core.Client, wantSerial string) {
	ctx := context.Background()
	c := srv.Credentials

	cr := sdkCreate(t, cl, srv, "flow-1")
	if cr["out_order_no"] != "flow-1" || cr["mchid"] != c.MchID || cr["appid"] != c.AppID ||
		cr["miniprogram_businesstype"] != "wxpayScoreUse" || cr["package"] == "" || cr["order_id"] == "" {
		t.Fatalf("create answer: %v", cr)
	}
	for _, k := range []string{"service_id", "miniprogram_appid", "miniprogram_path", "miniprogram_username"} {
		if s, _ := cr[k].(string); s == "" {
			t.Errorf("create answer lacks %s: %v", k, cr)
		}
	}

	res, err := cl.Get(ctx, queryURL(srv, "out_order_no", "flow-1"))
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
	if q["state"] != StateCreated || q["service_introduction"] != "Smart shelf" || q["risk_amount"] != 5000.0 {
		t.Fatalf("query answer: %v", q)
	}
	// finish_ticket only while the order is USER_ACCEPTED (design notes'
	// corrections, T1/T2): not before the customer confirms.
	if _, ok := q["finish_ticket"]; ok {
		t.Fatalf("a CREATED order's query gives a finish_ticket: %v", q)
	}

	o, _ := srv.Sandbox.Order("flow-1")
	res, err = cl.Get(ctx, queryURL(srv, "query_id", o.QueryID))
	if err != nil {
		t.Fatal(err)
	}
	if q2 := decode(t, res); q2["out_order_no"] != "flow-1" {
		t.Fatalf("query by query_id: %v", q2)
	}

	// Completing before the user accepted is refused.
	completeURL := ordersURL(srv) + "/flow-1/complete"
	_, err = cl.Post(ctx, completeURL, ticketed(srv, "flow-1", completeBody(c)))
	apiErr(t, err, 400, "INVALID_REQUEST")

	if err := srv.Sandbox.Accept("flow-1"); err != nil {
		t.Fatal(err)
	}
	res, err = cl.Get(ctx, queryURL(srv, "out_order_no", "flow-1"))
	if err != nil {
		t.Fatal(err)
	}
	q = decode(t, res)
	if s, _ := q["finish_ticket"].(string); s == "" {
		t.Fatalf("a USER_ACCEPTED order's query gives no finish_ticket: %v", q)
	}
	body := completeBody(c)
	body["finish_ticket"] = q["finish_ticket"]
	body["real_service_end_location"] = "Exit B"
	res, err = cl.Post(ctx, completeURL, body)
	if err != nil {
		t.Fatal(err)
	}
	ref := decode(t, res)
	if ref["order_id"] != cr["order_id"] || ref["out_order_no"] != "flow-1" || len(ref) != 5 {
		t.Fatalf("complete answer: %v", ref)
	}
	if err := srv.Sandbox.Pay("flow-1"); err != nil {
		t.Fatal(err)
	}
	res, err = cl.Get(ctx, queryURL(srv, "out_order_no", "flow-1"))
	if err != nil {
		t.Fatal(err)
	}
	q = decode(t, res)
	if q["state"] != StateUserPaid || q["total_amount"] != 900.0 || q["finish_type"] != 2.0 ||
		q["pay_type"] == nil || q["finish_transaction_id"] == nil || q["pay_succ_time"] == nil ||
		q["real_service_end_location"] != "Exit B" || q["finish_ticket"] != nil {
		t.Fatalf("paid order: %v", q)
	}
	if fees := q["fees"].([]any); len(fees) != 2 {
		t.Fatalf("fees: %v", q["fees"])
	}

	// Cancel.
	sdkCreate(t, cl, srv, "flow-2")
	res, err = cl.Post(ctx, ordersURL(srv)+"/flow-2/cancel", map[string]any{
		"appid": c.AppID, "service_id": c.ServiceID, "reason": "customer left"})
	if err != nil {
		t.Fatal(err)
	}
	if ref := decode(t, res); ref["out_order_no"] != "flow-2" {
		t.Fatalf("cancel answer: %v", ref)
	}
	if o, _ := srv.Sandbox.Order("flow-2"); o.State != StateRevoked || o.RevokeReason != "customer left" {
		t.Fatalf("after cancel: %+v", o)
	}

	// User service state.
	res, err = cl.Get(ctx, srv.URL+"/v3/payscore/user-service-state?"+url.Values{
		"service_id": {c.ServiceID}, "appid": {c.AppID}, "openid": {"oUser1"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if st := decode(t, res); st["use_service_state"] != "AVAILABLE" || st["openid"] != "oUser1" {
		t.Fatalf("user-service-state: %v", st)
	}
}

func TestSDKPublicKeyMode(t *testing.T) {
	srv := startServer(t, Options{})
	sdkFlow(t, srv, pubKeyClient(t, srv.Credentials), srv.Credentials.PublicKeyID)
}

func TestSDKCertificateMode(t *testing.T) {
	srv := startServer(t, Options{})
	sdkFlow(t, srv, certClient(t, srv.Credentials), srv.Credentials.PlatformCertificateSerial())
}

// A client trusting another platform key must reject our answers: proves the
// SDK really verifies them.
func TestSDKRejectsAnswersSignedWithOtherKey(t *testing.T) {
	srv := startServer(t, Options{})
	other, err := GenerateCredentials()
	if err != nil {
		t.Fatal(err)
	}
	c := *srv.Credentials
	c.PlatformPrivateKey = other.PlatformPrivateKey
	c.PlatformCertificate = other.PlatformCertificate
	_, err = pubKeyClient(t, &c).Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, "x1"))
	if err == nil {
		t.Fatal("SDK accepted an answer signed with a key it does not trust")
	}
	_, err = certClient(t, &c).Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, "x2"))
	if err == nil {
		t.Fatal("SDK (certificate mode) accepted an answer signed with a key it does not trust")
	}
}

// Error answers are signed too; the SDK does not check them, so check with
// its validators. Signed answers say how (Wechatpay-Signature-Type).
func TestErrorAnswersAreSigned(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"200", signedRequest(t, c, "POST", ordersURL(srv), mustJSON(createBody(c, "signed-1")), time.Now(), nil)},
		{"400", signedRequest(t, c, "POST", ordersURL(srv), `{}`, time.Now(), nil)},
		{"404", signedRequest(t, c, "GET", queryURL(srv, "out_order_no", "nope"), "", time.Now(), nil)},
	} {
		res, err := http.DefaultClient.Do(tc.req)
		if err != nil {
			t.Fatal(err)
		}
		v := validators.NewWechatPayResponseValidator(verifiers.NewSHA256WithRSAPubkeyVerifier(c.PublicKeyID, *c.WechatPayPublicKey()))
		if err := v.Validate(context.Background(), res); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		res.Body.Close()
		if fmt.Sprint(res.StatusCode) != tc.name || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: status %d", tc.name, res.StatusCode)
		}
		if st := res.Header.Get("Wechatpay-Signature-Type"); st != "WECHATPAY2-SHA256-RSA2048" {
			t.Errorf("%s: Wechatpay-Signature-Type %q", tc.name, st)
		}
	}
	// Certificate mode: the client names the certificate serial.
	req := signedRequest(t, c, "GET", queryURL(srv, "out_order_no", "nope"), "", time.Now(), nil)
	req.Header.Set("Wechatpay-Serial", c.PlatformCertificateSerial())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	v := validators.NewWechatPayResponseValidator(verifiers.NewSHA256WithRSAVerifier(
		core.NewCertificateMapWithList([]*x509.Certificate{c.PlatformCertificate})))
	if err := v.Validate(context.Background(), res); err != nil {
		t.Fatal(err)
	}
}

// A request whose signature did not verify is answered 401 SIGN_ERROR
// unsigned: WeChat Pay signs only answers to requests it verified (the
// official signature page; the design notes' corrections).
func TestSignatureRefusalsAreUnsigned(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	unsignedReq, _ := http.NewRequest("GET", queryURL(srv, "out_order_no", "a"), nil)
	for name, req := range map[string]*http.Request{
		"no Authorization": unsignedReq,
		"bad signature": signedRequest(t, c, "GET", queryURL(srv, "out_order_no", "a"), "", time.Now(),
			func(p *authParts) { p.Signature = "AAAA" + p.Signature[4:] }),
		"expired": signedRequest(t, c, "GET", queryURL(srv, "out_order_no", "a"), "", time.Now().Add(-time.Hour), nil),
	} {
		a := do(t, req)
		if a.Status != http.StatusUnauthorized || a.JSON["code"] != "SIGN_ERROR" {
			t.Errorf("%s: %d %s", name, a.Status, a.Body)
		}
		for _, h := range []string{"Wechatpay-Signature", "Wechatpay-Signature-Type", "Wechatpay-Serial", "Wechatpay-Nonce", "Wechatpay-Timestamp"} {
			if v := a.Header.Get(h); v != "" {
				t.Errorf("%s: the 401 carries %s: %s", name, h, v)
			}
		}
	}
}

func TestSDKClockWindow(t *testing.T) {
	clk := newClock()
	srv := startServer(t, Options{Now: clk.Now})
	cl := pubKeyClient(t, srv.Credentials)
	clk.Add(298 * time.Second) // 298: a second boundary may pass between signing and checking
	sdkCreate(t, cl, srv, "skew-298")
	clk.Add(2 * time.Second) // server now 300 s ahead of the client
	_, err := cl.Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, "skew-300"))
	e := apiErr(t, err, 401, "SIGN_ERROR")
	if !contains(e.Message, "timestamp") {
		t.Fatalf("message %q does not mention the timestamp", e.Message)
	}
	if _, ok := srv.Sandbox.Order("skew-300"); ok {
		t.Fatal("rejected request created an order")
	}
}
