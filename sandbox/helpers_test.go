package sandbox

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// testCreds are the process's default credentials: RSA key generation is
// the slow part of the tests, so they share one set.
func testCreds(t testing.TB) *Credentials {
	t.Helper()
	c, err := DefaultCredentials()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clock is a movable Now: real time plus an offset, so the SDK's own clock
// and the sandbox differ by exactly the offset.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func newClock() *clock { return &clock{} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Credentials == nil {
		opts.Credentials = testCreds(t)
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// pubKeyClient is a plain SDK client in public-key mode.
func pubKeyClient(t testing.TB, c *Credentials) *core.Client {
	t.Helper()
	cl, err := core.NewClient(context.Background(), option.WithWechatPayPublicKeyAuthCipher(
		c.MchID, c.MerchantSerialNo, c.MerchantPrivateKey, c.PublicKeyID, c.WechatPayPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// certClient is a plain SDK client in platform-certificate mode.
func certClient(t testing.TB, c *Credentials) *core.Client {
	t.Helper()
	cl, err := core.NewClient(context.Background(), option.WithWechatPayAuthCipher(
		c.MchID, c.MerchantSerialNo, c.MerchantPrivateKey, []*x509.Certificate{c.PlatformCertificate}))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func createBody(c *Credentials, outNo string) map[string]any {
	return map[string]any{
		"appid":                  c.AppID,
		"service_id":             c.ServiceID,
		"out_order_no":           outNo,
		"service_start_time":     "OnAccept",
		"service_end_time":       "20301231235959",
		"service_start_location": "Kiosk 7",
		"service_introduction":   "Smart shelf",
		"fees":                   []any{map[string]any{"fee_name": "goods", "fee_count": 1, "fee_amount": 300}},
		"risk_amount":            5000,
		"attach":                 "a",
	}
}

func completeBody(c *Credentials) map[string]any {
	return map[string]any{
		"appid":       c.AppID,
		"service_id":  c.ServiceID,
		"finish_type": 2,
		"fees": []any{
			map[string]any{"fee_name": "cola", "fee_count": 2, "fee_amount": 600},
			map[string]any{"fee_name": "chips", "fee_count": 1, "fee_amount": 400},
		},
		"discounts":      []any{map[string]any{"discount_name": "promo", "discount_desc": "1 off", "discount_amount": 100}},
		"total_amount":   900,
		"profit_sharing": false,
	}
}

// ticketed is body with the order's finish_ticket, as a client takes it
// from a query while the order is USER_ACCEPTED (the sandbox keeps it in
// every state; "-" for an order it does not have).
func ticketed(srv *Server, no string, body map[string]any) map[string]any {
	o, ok := srv.Sandbox.Order(no)
	if !ok {
		o.FinishTicket = "-"
	}
	b := make(map[string]any, len(body)+1)
	for k, v := range body {
		b[k] = v
	}
	if _, set := b["finish_ticket"]; !set {
		b["finish_ticket"] = o.FinishTicket
	}
	return b
}

func ordersURL(srv *Server) string { return srv.URL + "/v3/payscore/smartretail-orders" }

func queryURL(srv *Server, key, val string) string {
	c := srv.Credentials
	q := url.Values{"service_id": {c.ServiceID}, "appid": {c.AppID}, key: {val}}
	return ordersURL(srv) + "?" + q.Encode()
}

func decode(t testing.TB, res *core.APIResult) map[string]any {
	t.Helper()
	var m map[string]any
	if err := core.UnMarshalResponse(res.Response, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// apiErr asserts err is an *core.APIError with status and code.
func apiErr(t testing.TB, err error, status int, code string) *core.APIError {
	t.Helper()
	var e *core.APIError
	if !errors.As(err, &e) {
		t.Fatalf("want APIError %d %s, got %v", status, code, err)
	}
	if e.StatusCode != status || e.Code != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, e.StatusCode, e.Code, e.Message)
	}
	return e
}

func detailOf(t testing.TB, e *core.APIError) map[string]any {
	t.Helper()
	d, ok := e.Detail.(map[string]any)
	if !ok {
		t.Fatalf("no detail in %s", e.Body)
	}
	return d
}

func sdkCreate(t testing.TB, cl *core.Client, srv *Server, outNo string) map[string]any {
	t.Helper()
	res, err := cl.Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, outNo))
	if err != nil {
		t.Fatalf("create %s: %v", outNo, err)
	}
	return decode(t, res)
}

// signedRequest builds a request signed like the SDK does; tweak edits the
// Authorization parts before the header is assembled.
type authParts struct {
	Scheme, MchID, Nonce, Timestamp, Serial, Signature string
	Message                                            string
}

func signedRequest(t testing.TB, c *Credentials, method, rawURL, body string, ts time.Time, tweak func(*authParts)) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := utils.GenerateNonce()
	p := authParts{Scheme: AuthScheme, MchID: c.MchID, Nonce: nonce, Timestamp: fmt.Sprint(ts.Unix()), Serial: c.MerchantSerialNo}
	p.Message = method + "\n" + req.URL.RequestURI() + "\n" + p.Timestamp + "\n" + p.Nonce + "\n" + body + "\n"
	sig, err := utils.SignSHA256WithRSA(p.Message, c.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	p.Signature = sig
	if tweak != nil {
		tweak(&p)
	}
	req.Header.Set("Authorization", fmt.Sprintf(`%s mchid="%s",nonce_str="%s",timestamp="%s",serial_no="%s",signature="%s"`,
		p.Scheme, p.MchID, p.Nonce, p.Timestamp, p.Serial, p.Signature))
	req.Header.Set("Content-Type", "application/json")
	return req
}

type rawAnswer struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func do(t testing.TB, req *http.Request) rawAnswer {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := rawAnswer{Status: res.StatusCode, Header: res.Header, Body: b}
	_ = json.Unmarshal(b, &a.JSON)
	return a
}

// admin calls the unsigned admin API.
func admin(t testing.TB, srv *Server, method, path, body string) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func signSHA256(c *Credentials, msg string) (string, error) {
	return utils.SignSHA256WithRSA(msg, c.MerchantPrivateKey)
}
