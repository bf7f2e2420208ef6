package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

func TestSignatureErrors(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	other, err := GenerateCredentials()
	if err != nil {
		t.Fatal(err)
	}
	body := mustJSON(createBody(c, "sig-1"))
	cases := []struct {
		name  string
		tweak func(*authParts)
		ts    time.Time
		want  string // in message
	}{
		{"wrong signature", func(p *authParts) {
			p.Signature, _ = signWith(other, p.Message)
		}, time.Now(), "signature verification failed"},
		{"signature not base64", func(p *authParts) { p.Signature = "***" }, time.Now(), "base64"},
		{"wrong serial", func(p *authParts) { p.Serial = other.MerchantSerialNo }, time.Now(), "serial_no"},
		{"unknown mchid", func(p *authParts) { p.MchID = "1234567890" }, time.Now(), "mchid"},
		{"stale timestamp 300s", nil, time.Now().Add(-300 * time.Second), "timestamp"},
		{"future timestamp 300s", nil, time.Now().Add(301 * time.Second), "timestamp"},
		{"wrong scheme", func(p *authParts) { p.Scheme = "WECHATPAY2-SHA256-RSA4096" }, time.Now(), "scheme"},
		{"non-numeric timestamp", func(p *authParts) { p.Timestamp = "12ab" }, time.Now(), "timestamp"},
		{"duplicate pair", func(p *authParts) { p.Signature += `",mchid="` + c.MchID }, time.Now(), "duplicate"},
		{"garbage after pairs", func(p *authParts) { p.Signature += `" garbage x="` }, time.Now(), "malformed"},
		{"signed other body", func(p *authParts) {
			p.Signature, _ = signWith(c, strings.Replace(p.Message, "sig-1", "sig-2", 1))
		}, time.Now(), "signature verification failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := signedRequest(t, c, "POST", ordersURL(srv), body, tc.ts, tc.tweak)
			a := do(t, req)
			if a.Status != 401 || a.JSON["code"] != "SIGN_ERROR" {
				t.Fatalf("got %d %s", a.Status, a.Body)
			}
			if msg, _ := a.JSON["message"].(string); !strings.Contains(msg, tc.want) {
				t.Fatalf("message %q does not say %q", msg, tc.want)
			}
			if _, ok := srv.Sandbox.Order("sig-1"); ok {
				t.Fatal("unauthenticated request created an order")
			}
		})
	}
	t.Run("missing header", func(t *testing.T) {
		req := signedRequest(t, c, "POST", ordersURL(srv), body, time.Now(), nil)
		req.Header.Del("Authorization")
		a := do(t, req)
		if a.Status != 401 || a.JSON["code"] != "SIGN_ERROR" || !strings.Contains(a.JSON["message"].(string), "missing") {
			t.Fatalf("got %d %s", a.Status, a.Body)
		}
	})
	t.Run("pairs in any order with spaces", func(t *testing.T) {
		req := signedRequest(t, c, "POST", ordersURL(srv), body, time.Now(), nil)
		p, err := parseAuthorization(req.Header.Get("Authorization"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", AuthScheme+` signature="`+p.Signature+`", serial_no="`+p.SerialNo+
			`" ,timestamp="`+p.Timestamp+`",nonce_str="`+p.Nonce+`",  mchid="`+p.MchID+`"`)
		if a := do(t, req); a.Status != 200 {
			t.Fatalf("got %d %s", a.Status, a.Body)
		}
	})
	t.Run("query string is signed", func(t *testing.T) {
		req := signedRequest(t, c, "GET", queryURL(srv, "out_order_no", "sig-1"), "", time.Now(), nil)
		req.URL.RawQuery += "&x=1" // changed after signing
		if a := do(t, req); a.Status != 401 {
			t.Fatalf("got %d %s", a.Status, a.Body)
		}
	})
}

func signWith(c *Credentials, msg string) (string, error) {
	return signSHA256(c, msg)
}

func TestParseAuthorizationRejects(t *testing.T) {
	good := `mchid="1",nonce_str="n",timestamp="1",serial_no="s",signature="x"`
	if _, err := parseAuthorization(AuthScheme + " " + good); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{
		"", AuthScheme, AuthScheme + " ", "Bearer " + good,
		AuthScheme + ` mchid="1",nonce_str="n",timestamp="1",serial_no="s"`, // missing signature
		AuthScheme + " " + good + `,extra="1"`,
		AuthScheme + " " + good + `,`,
		AuthScheme + ` mchid=1,nonce_str="n",timestamp="1",serial_no="s",signature="x"`,
		AuthScheme + ` mchid="1,nonce_str="n"`,
		AuthScheme + " " + good + `;`,
	} {
		if _, err := parseAuthorization(h); err == nil {
			t.Errorf("accepted %q", h)
		}
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	srv := startServer(t, Options{})
	cl := pubKeyClient(t, srv.Credentials)
	_, err := cl.Get(context.Background(), srv.URL+"/v3/payscore/nothing-here")
	apiErr(t, err, 404, "NOT_FOUND")
	_, err = cl.Post(context.Background(), ordersURL(srv)+"/a/refund", map[string]any{})
	apiErr(t, err, 404, "NOT_FOUND")
	_, err = cl.Get(context.Background(), ordersURL(srv)+"/a/cancel")
	apiErr(t, err, 405, "METHOD_NOT_ALLOWED")
	_, err = cl.Put(context.Background(), ordersURL(srv), map[string]any{})
	apiErr(t, err, 405, "METHOD_NOT_ALLOWED")
	a := admin(t, srv, "GET", "/elsewhere", "")
	if a.Status != 404 || a.Header.Get("Request-Id") == "" {
		t.Fatalf("got %d %s", a.Status, a.Body)
	}
}

// A client that sends "|" raw in the path (as Node's URL does) signs the
// raw target; the sandbox must check that, not a re-encoded one.
func TestSignatureOverTheRawRequestTarget(t *testing.T) {
	c := testCreds(t)
	srv := startServer(t, Options{Credentials: c})
	sdkCreate(t, pubKeyClient(t, c), srv, "K|2")
	target := "/v3/payscore/smartretail-orders/K|2/cancel"
	body := mustJSON(map[string]any{"appid": c.AppID, "service_id": c.ServiceID, "reason": "r"})
	req, err := http.NewRequest("POST", srv.URL+"/placeholder", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = target // sent exactly so, "|" unescaped
	ts := fmt.Sprint(time.Now().Unix())
	sig, err := utils.SignSHA256WithRSA("POST\n"+target+"\n"+ts+"\nn1\n"+body+"\n", c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", fmt.Sprintf(`%s mchid="%s",nonce_str="n1",timestamp="%s",serial_no="%s",signature="%s"`,
		AuthScheme, c.MchID, ts, c.MerchantSerialNo, sig))
	req.Header.Set("Content-Type", "application/json")
	if a := do(t, req); a.Status != 200 {
		t.Fatalf("cancel with a raw | in the path: %d %s", a.Status, a.Body)
	}
}
