package wxpay

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/sandbox"
)

const testOpenID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

func TestUserServiceStateAgainstTheSandbox(t *testing.T) {
	srv, err := sandbox.NewServer(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cr := srv.Credentials
	c, err := New(Settings{
		MchID: cr.MchID, MerchantSerialNo: cr.MerchantSerialNo, MerchantPrivateKey: cr.MerchantPrivateKey,
		WeChatPayPublicKeyID: cr.PublicKeyID, WeChatPayPublicKey: cr.WechatPayPublicKey(),
		AppID: cr.AppID, ServiceID: cr.ServiceID, BaseURL: srv.URL, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	got, err := c.UserServiceState(ctx, UserServiceStateRequest{OpenID: testOpenID})
	if err != nil {
		t.Fatal(err)
	}
	want := UserServiceState{AppID: cr.AppID, ServiceID: cr.ServiceID, OpenID: testOpenID, UseServiceState: UserServiceAvailable}
	if *got != want {
		t.Errorf("got %+v, want %+v", *got, want)
	}

	if err := srv.Sandbox.SetUserServiceState(testOpenID, sandbox.UserServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	got, err = c.UserServiceState(ctx, UserServiceStateRequest{OpenID: testOpenID, AppID: cr.AppID, ServiceID: cr.ServiceID})
	if err != nil || got.UseServiceState != UserServiceUnavailable {
		t.Errorf("after the customer withdrew: %+v, %v", got, err)
	}

	// An appid the merchant does not have is WeChat Pay's refusal, classed
	// like any other, and names no openid.
	_, err = c.UserServiceState(ctx, UserServiceStateRequest{OpenID: testOpenID, AppID: "wxOther"})
	var e *Error
	if !errors.As(err, &e) || e.Class != Invalid || e.Code != "INVALID_REQUEST" || e.Op != "user-service-state" {
		t.Errorf("foreign appid: %v", err)
	}
	if strings.Contains(err.Error(), testOpenID) {
		t.Errorf("the error names the openid: %v", err)
	}
}

func TestUserServiceStateIsCheckedBeforeSending(t *testing.T) {
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent.Add(1) }))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	long := strings.Repeat("o", MaxOpenIDLen+1)
	for _, tc := range []struct {
		name, openid, appid, field, issue string
	}{
		{"no openid", "", "", "/openid", "is required"},
		{"long openid", long, "", "/openid", fmt.Sprintf("must be at most %d characters, got %d", MaxOpenIDLen, MaxOpenIDLen+1)},
		{"long appid", testOpenID, strings.Repeat("w", MaxAppIDLen+1), "/appid", "must be at most 32 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.UserServiceState(context.Background(), UserServiceStateRequest{OpenID: tc.openid, AppID: tc.appid})
			var e *Error
			if !errors.As(err, &e) || e.Class != Invalid || e.Code != "PARAM_ERROR" || len(e.Violations) != 1 ||
				e.Violations[0].Field != tc.field || !strings.Contains(e.Violations[0].Issue, tc.issue) ||
				e.Detail.Location != "query" || e.StatusCode != 0 {
				t.Fatalf("got %v, want invalid %s %s", err, tc.field, tc.issue)
			}
			if tc.openid != "" && strings.Contains(err.Error(), tc.openid) {
				t.Errorf("the error quotes the openid: %v", err)
			}
		})
	}
	if _, err := c.UserServiceState(context.Background(), UserServiceStateRequest{OpenID: long[:MaxOpenIDLen]}); ClassOf(err) == Invalid && err.(*Error).StatusCode == 0 {
		t.Errorf("an openid of %d characters was refused: %v", MaxOpenIDLen, err)
	}
	if n := sent.Load(); n != 1 {
		t.Errorf("%d requests reached the server, want only the valid one", n)
	}
}

// WeChat Pay's answers get the classes every other call gets, and the
// openid is in none of the errors, whatever the answer quoted.
func TestUserServiceStateErrors(t *testing.T) {
	keys(t)
	quoted := `{"code":"%s","message":"openid ` + testOpenID + ` %s","detail":{"field":"/openid","value":"` + testOpenID + `","issue":"about ` + testOpenID + `","location":"query"}}`
	cases := []struct {
		name       string
		status     int
		body       string
		signer     *rsa.PrivateKey
		retryAfter string
		class      Class
		reached    bool
	}{
		{"param error", 400, fmt.Sprintf(quoted, "PARAM_ERROR", "bad"), platformKy, "", Invalid, false},
		{"no auth", 403, fmt.Sprintf(quoted, "NO_AUTH", "no"), platformKy, "", Auth, false},
		{"sign error", 401, fmt.Sprintf(quoted, "SIGN_ERROR", "sig"), nil, "", Auth, false},
		{"rate limited", 429, fmt.Sprintf(quoted, "FREQUENCY_LIMITED", "slow"), platformKy, "3", RateLimited, false},
		{"system error", 500, fmt.Sprintf(quoted, "SYSTEM_ERROR", "oops"), platformKy, "", Transient, false},
		{"forged success", 200, `{"appid":"wx1","service_id":"500001","openid":"` + testOpenID + `","use_service_state":"AVAILABLE"}`, forgerKey, "", Auth, true},
		{"unsigned refusal", 400, fmt.Sprintf(quoted, "INVALID_REQUEST", "portal"), nil, "", Auth, true},
		{"no use_service_state", 200, `{"appid":"wx1","service_id":"500001"}`, platformKy, "", Transient, true},
		{"not JSON", 200, `openid=` + testOpenID, platformKy, "", Transient, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v3/payscore/user-service-state" || r.URL.Query().Get("openid") != testOpenID ||
					r.URL.Query().Get("appid") != "wx1" || r.URL.Query().Get("service_id") != "500001" {
					t.Errorf("request %s", r.URL.Path)
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				answer(w, tc.signer, tc.status, tc.body)
			}))
			defer srv.Close()
			_, err := newTestClient(t, srv.URL).UserServiceState(context.Background(), UserServiceStateRequest{OpenID: testOpenID})
			var e *Error
			if !errors.As(err, &e) || e.Class != tc.class || e.ReachedServer != tc.reached || e.Op != "user-service-state" {
				t.Fatalf("got %v, want class %v reached %v", err, tc.class, tc.reached)
			}
			if tc.retryAfter != "" && e.RetryAfter != 3*time.Second {
				t.Errorf("RetryAfter %v", e.RetryAfter)
			}
			noOpenID(t, err)
		})
	}
}

func TestUserServiceStateNetworkErrorsNameNoOpenID(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = newTestClient(t, "http://"+addr).UserServiceState(context.Background(), UserServiceStateRequest{OpenID: testOpenID})
		if ClassOf(err) != Network || err.(*Error).ReachedServer {
			t.Fatalf("got %v, want network, not reached", err)
		}
		noOpenID(t, err)
		if !strings.Contains(err.Error(), "/v3/payscore/user-service-state") {
			t.Errorf("the scrubbed error lost what it was about: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := newTestClient(t, srv.URL).UserServiceState(ctx, UserServiceStateRequest{OpenID: testOpenID})
		if ClassOf(err) != Network || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a network error that wraps the deadline", err)
		}
		noOpenID(t, err)
	})
}

// noOpenID fails if the openid, raw or URL-encoded, is anywhere in err.
func noOpenID(t *testing.T, err error) {
	t.Helper()
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Errorf("a *url.Error (it quotes the URL) is reachable: %v", ue)
	}
	var e *Error
	errors.As(err, &e)
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), e.Message}
	if e.Detail != nil {
		texts = append(texts, fmt.Sprint(e.Detail.Value), e.Detail.Issue)
	}
	for _, s := range texts {
		if strings.Contains(s, testOpenID) || strings.Contains(s, url.QueryEscape(testOpenID)) {
			t.Errorf("the openid is in %q", s)
		}
	}
}
