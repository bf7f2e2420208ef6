package wxpay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

var (
	keysOnce                sync.Once
	merchantKey, platformKy *rsa.PrivateKey
	forgerKey               *rsa.PrivateKey
)

func keys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		for _, k := range []**rsa.PrivateKey{&merchantKey, &platformKy, &forgerKey} {
			var err error
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
}

const testKeyID = "PUB_KEY_ID_0100000000000000000000000000"

// answer writes a WeChat-style answer signed with key (nil: unsigned).
func answer(w http.ResponseWriter, key *rsa.PrivateKey, status int, body string) {
	if key != nil {
		ts := fmt.Sprint(time.Now().Unix())
		nonce := "n0nce"
		sig, err := utils.SignSHA256WithRSA(ts+"\n"+nonce+"\n"+body+"\n", key)
		if err != nil {
			panic(err)
		}
		w.Header().Set("Wechatpay-Timestamp", ts)
		w.Header().Set("Wechatpay-Nonce", nonce)
		w.Header().Set("Wechatpay-Signature", sig)
		w.Header().Set("Wechatpay-Serial", testKeyID)
	}
	w.Header().Set("Request-ID", "req-1")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func newTestClient(t *testing.T, url string) *Client {
	t.Helper()
	keys(t)
	c, err := New(Settings{
		MchID: "1900000109", MerchantSerialNo: "ABC", MerchantPrivateKey: merchantKey,
		WeChatPayPublicKeyID: testKeyID, WeChatPayPublicKey: &platformKy.PublicKey,
		AppID: "wx1", ServiceID: "500001", BaseURL: url, Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func queryErr(t *testing.T, c *Client) *Error {
	t.Helper()
	_, err := c.Query(context.Background(), QueryRequest{OutOrderNo: "K1"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	return e
}

func TestClassifiesAnswers(t *testing.T) {
	keys(t)
	cases := []struct {
		name       string
		status     int
		body       string
		signer     *rsa.PrivateKey
		retryAfter string
		class      Class
		code       string
		wait       time.Duration
		reached    bool
	}{
		{"400 param error", 400, `{"code":"PARAM_ERROR","message":"bad","detail":{"field":"/appid","issue":"x","location":"query"}}`, platformKy, "", Invalid, "PARAM_ERROR", 0, false},
		{"400 invalid request", 400, `{"code":"INVALID_REQUEST","message":"order state invalid"}`, platformKy, "", Invalid, "INVALID_REQUEST", 0, false},
		{"401 sign error", 401, `{"code":"SIGN_ERROR","message":"bad signature"}`, platformKy, "", Auth, "SIGN_ERROR", 0, false},
		{"403 no auth", 403, `{"code":"NO_AUTH","message":"no"}`, platformKy, "", Auth, "NO_AUTH", 0, false},
		{"403 not enough", 403, `{"code":"NOT_ENOUGH","message":"no"}`, platformKy, "", Invalid, "NOT_ENOUGH", 0, false},
		{"404 not found", 404, `{"code":"ORDER_NOT_EXIST","message":"no"}`, platformKy, "", NotFound, "ORDER_NOT_EXIST", 0, false},
		{"429 rate limited", 429, `{"code":"FREQUENCY_LIMITED","message":"slow"}`, platformKy, "3", RateLimited, "FREQUENCY_LIMITED", 3 * time.Second, false},
		{"500 system error", 500, `{"code":"SYSTEM_ERROR","message":"oops"}`, platformKy, "", Transient, "SYSTEM_ERROR", 0, false},
		{"502 from a proxy, unsigned, not JSON", 502, `<html>bad gateway</html>`, nil, "", Transient, "", 0, false},
		{"forged success", 200, `{"state":"USER_PAID"}`, forgerKey, "", Auth, "", 0, true},
		{"unsigned success", 200, `{"state":"USER_PAID"}`, nil, "", Auth, "", 0, true},
		{"forged refusal", 400, `{"code":"INVALID_REQUEST","message":"forged"}`, forgerKey, "", Auth, "INVALID_REQUEST", 0, true},
		{"unsigned refusal", 400, `{"code":"INVALID_REQUEST","message":"portal"}`, nil, "", Auth, "INVALID_REQUEST", 0, true},
		{"unsigned not found", 404, `{"code":"ORDER_NOT_EXIST","message":"portal"}`, nil, "", Auth, "ORDER_NOT_EXIST", 0, true},
		{"unsigned 401", 401, `{"code":"SIGN_ERROR","message":"edge"}`, nil, "", Auth, "SIGN_ERROR", 0, false},
		{"unsigned 429", 429, `{"code":"FREQUENCY_LIMITED","message":"edge"}`, nil, "2", RateLimited, "FREQUENCY_LIMITED", 2 * time.Second, false},
		{"signed garbage success", 200, `not json`, platformKy, "", Transient, "", 0, true},
		// Too large to be read: answered before the merchant is known, often
		// unsigned, never acted on; the request must change.
		{"unsigned 413", 413, `<html>413 Request Entity Too Large</html>`, nil, "", Invalid, "", 0, false},
		{"unsigned 431", 431, `431 Request Header Fields Too Large`, nil, "", Invalid, "", 0, false},
		{"signed 413", 413, `{"code":"PARAM_ERROR","message":"body too large"}`, platformKy, "", Invalid, "PARAM_ERROR", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				answer(w, tc.signer, tc.status, tc.body)
			}))
			defer srv.Close()
			e := queryErr(t, newTestClient(t, srv.URL))
			if e.Class != tc.class || e.StatusCode != tc.status || e.Code != tc.code {
				t.Errorf("got class %v status %d code %q, want %v %d %q (%v)", e.Class, e.StatusCode, e.Code, tc.class, tc.status, tc.code, e)
			}
			if e.RetryAfter != tc.wait {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tc.wait)
			}
			if e.ReachedServer != tc.reached || e.Ambiguous() != (tc.reached || tc.class == Transient) {
				t.Errorf("ReachedServer = %v, Ambiguous = %v; want reached %v", e.ReachedServer, e.Ambiguous(), tc.reached)
			}
			if e.Op != "query" || e.RequestID != "req-1" {
				t.Errorf("op %q request id %q", e.Op, e.RequestID)
			}
		})
	}
}

func TestAnswersDependOnTheOperation(t *testing.T) {
	keys(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/cancel") {
			answer(w, platformKy, 200, "") // verified, empty: a success for cancel and complete
			return
		}
		answer(w, platformKy, 404, `{"code":"NOT_FOUND","message":"no such path"}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	if ref, err := c.Cancel(context.Background(), CancelRequest{OutOrderNo: "K1", Reason: "r"}); err != nil || ref == nil {
		t.Errorf("empty verified cancel answer: %v, %v", ref, err)
	}
	_, err := c.Create(context.Background(), CreateRequest{OutOrderNo: "K1"})
	if ClassOf(err) != Invalid {
		t.Errorf("404 on create: %v, want invalid (a create cannot miss an order)", err)
	}
	_, err = c.Query(context.Background(), QueryRequest{OutOrderNo: "K1"})
	if ClassOf(err) != NotFound {
		t.Errorf("404 on query: %v, want not found", err)
	}
}

func TestDetailIsKept(t *testing.T) {
	keys(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(w, platformKy, 400, `{"code":"PARAM_ERROR","message":"bad","detail":{"field":"/fees/0/fee_amount","value":-1,"issue":"negative","location":"body"}}`)
	}))
	defer srv.Close()
	e := queryErr(t, newTestClient(t, srv.URL))
	if e.Detail == nil || e.Detail.Field != "/fees/0/fee_amount" || e.Detail.Issue != "negative" || e.Detail.Location != "body" {
		t.Fatalf("detail = %+v", e.Detail)
	}
	if !strings.Contains(e.Error(), "/fees/0/fee_amount") {
		t.Errorf("message %q does not name the field", e.Error())
	}
}

func TestNetworkFailures(t *testing.T) {
	t.Run("refused: never reached", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		e := queryErr(t, newTestClient(t, "http://"+addr))
		if e.Class != Network || e.ReachedServer || e.Ambiguous() {
			t.Errorf("got %v reached=%v, want network, not reached", e.Class, e.ReachedServer)
		}
	})
	t.Run("reset after the request: may have reached", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		}))
		defer srv.Close()
		e := queryErr(t, newTestClient(t, srv.URL))
		if e.Class != Network || !e.ReachedServer || !e.Ambiguous() {
			t.Errorf("got %v reached=%v, want network, reached", e.Class, e.ReachedServer)
		}
		if !strings.Contains(e.Error(), "may have reached") {
			t.Errorf("message %q does not say the outcome is unknown", e)
		}
	})
	t.Run("timeout: may have reached", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		c := newTestClient(t, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Query(ctx, QueryRequest{OutOrderNo: "K1"})
		var e *Error
		if !errors.As(err, &e) || e.Class != Network || !e.ReachedServer {
			t.Fatalf("got %v, want a network error that may have reached", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap the deadline", err)
		}
	})
	t.Run("bad DNS name: never reached", func(t *testing.T) {
		e := queryErr(t, newTestClient(t, "http://no-such-host.invalid"))
		if e.Class != Network || e.ReachedServer {
			t.Errorf("got %v reached=%v", e.Class, e.ReachedServer)
		}
	})
}

func TestSendsWhatItSigns(t *testing.T) {
	keys(t)
	var gotURI, gotAuth, gotSerial string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURI, gotAuth, gotSerial = r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Wechatpay-Serial")
		answer(w, platformKy, 200, `{"out_order_no":"K1","state":"CREATED"}`)
	}))
	defer srv.Close()
	o, err := newTestClient(t, srv.URL+"/").Query(context.Background(), QueryRequest{QueryID: "Q9"})
	if err != nil {
		t.Fatal(err)
	}
	if o.State != StateCreated {
		t.Errorf("state %q", o.State)
	}
	if want := "/v3/payscore/smartretail-orders?appid=wx1&query_id=Q9&service_id=500001"; gotURI != want {
		t.Errorf("uri %q, want %q (defaults filled, base's trailing slash dropped)", gotURI, want)
	}
	if !strings.HasPrefix(gotAuth, `WECHATPAY2-SHA256-RSA2048 mchid="1900000109"`) || gotSerial != testKeyID {
		t.Errorf("authorization %q serial %q", gotAuth, gotSerial)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	keys(t)
	good := Settings{MchID: "1", MerchantSerialNo: "S", MerchantPrivateKey: merchantKey,
		WeChatPayPublicKeyID: testKeyID, WeChatPayPublicKey: &platformKy.PublicKey}
	cases := map[string]func(*Settings){
		"mchid":               func(s *Settings) { s.MchID = "" },
		"merchant_serial_no":  func(s *Settings) { s.MerchantSerialNo = "" },
		"private key":         func(s *Settings) { s.MerchantPrivateKey = nil },
		"both":                func(s *Settings) { s.WeChatPayPublicKeyID = "" },
		"public key (with":    func(s *Settings) { s.WeChatPayPublicKey, s.WeChatPayPublicKeyID = nil, "" },
		"http:// or https://": func(s *Settings) { s.BaseURL = "ftp://x" },
		"query or fragment":   func(s *Settings) { s.BaseURL = "http://x/?a=1" },
	}
	for want, edit := range cases {
		s := good
		edit(&s)
		if _, err := New(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	if _, err := New(good); err != nil {
		t.Errorf("good settings refused: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "-1": 0, "soon": 0,
		now.Add(7 * time.Second).Format(http.TimeFormat): 7 * time.Second,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
