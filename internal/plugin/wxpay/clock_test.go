package wxpay_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// skewed is a sandbox whose clock (WeChat Pay's) is off from the kiosk's
// by off, and a client for it on a test clock.
func skewed(t *testing.T, off time.Duration) (*testkit.Sandbox, *wxpay.Client, *testkit.Clock, *clock.Clock) {
	t.Helper()
	var kiosk testkit.Clock
	srv := testkit.Start(t, sandbox.Options{Now: func() time.Time { return kiosk.Now().Add(off) }})
	s := srv.Settings()
	s.Clock = clock.New(&kiosk)
	wx, err := wxpay.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return srv, wx, &kiosk, s.Clock
}

// A kiosk whose clock is off by anything from minutes to days creates,
// queries and completes as one whose clock is right: the first request is
// refused for its timestamp, not processed, and goes again on WeChat Pay's
// time; the offset is learnt within a second.
func TestAnyClockOffsetSells(t *testing.T) {
	for _, off := range []time.Duration{-24 * time.Hour, -time.Hour, -6 * time.Minute, 6 * time.Minute, time.Hour, 24 * time.Hour} {
		t.Run(off.String(), func(t *testing.T) {
			srv, wx, _, clk := skewed(t, off)
			ctx := context.Background()
			confirm := false
			cr := wxpay.CreateRequest{OutOrderNo: "SKEW-1", ServiceStartTime: "OnAccept", ServiceStartLocation: "K-17",
				ServiceIntroduction: "无人零售柜", RiskAmount: 1000, NeedUserConfirm: &confirm, OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
			if _, err := wx.Create(ctx, cr); err != nil {
				t.Fatalf("create: %v", err)
			}
			o, err := wx.Query(ctx, wxpay.QueryRequest{OutOrderNo: "SKEW-1"})
			if err != nil {
				t.Fatalf("query: %v", err)
			}
			total := int64(300)
			if _, err := wx.Complete(ctx, wxpay.CompleteRequest{OutOrderNo: "SKEW-1", FinishType: wxpay.FinishTypeFinish, TotalAmount: &total,
				Fees: []wxpay.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}}, FinishTicket: o.FinishTicket}); err != nil {
				t.Fatalf("complete: %v", err)
			}
			got, known := clk.Offset()
			if !known || (got-off).Abs() > time.Second {
				t.Errorf("offset %v (known %v), want %v within a second", got, known, off)
			}
			if n := srv.Calls.Load(); n != 4 {
				t.Errorf("%d requests for a create, a query and a complete: want 4 (one refused for its timestamp)", n)
			}
			if so, _ := srv.Order("SKEW-1"); so.CreateRequests != 1 || so.State != sandbox.StateFinished {
				t.Errorf("at WeChat Pay: %d creates, %s", so.CreateRequests, so.State)
			}
		})
	}
}

// An answer replayed from minutes ago verifies, but is not WeChat Pay's
// word on this request: refused as stale (its outcome unknown), the time
// named; one from within the window is taken.
func TestAReplayedAnswerIsRefused(t *testing.T) {
	var kiosk testkit.Clock
	srv := testkit.Start(t, sandbox.Options{Now: kiosk.Now})
	var mu sync.Mutex
	var saved *httptest.ResponseRecorder
	var replay atomic.Bool
	srv.SetFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodGet && replay.Load() && saved != nil {
			for k, v := range saved.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(saved.Code)
			w.Write(saved.Body.Bytes())
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if r.Method == http.MethodGet && saved == nil {
			saved = rec
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
	s := srv.Settings()
	s.Clock = clock.New(&kiosk)
	wx, err := wxpay.New(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	confirm := false
	if _, err := wx.Create(ctx, wxpay.CreateRequest{OutOrderNo: "RP-1", ServiceStartTime: "OnAccept", ServiceStartLocation: "K-17",
		ServiceIntroduction: "无人零售柜", RiskAmount: 1000, NeedUserConfirm: &confirm, OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}); err != nil {
		t.Fatal(err)
	}
	if _, err := wx.Query(ctx, wxpay.QueryRequest{OutOrderNo: "RP-1"}); err != nil {
		t.Fatal(err)
	}
	replay.Store(true)
	kiosk.Advance(4 * time.Minute)
	if _, err := wx.Query(ctx, wxpay.QueryRequest{OutOrderNo: "RP-1"}); err != nil {
		t.Errorf("an answer 4 minutes old (within WeChat Pay's window): %v", err)
	}
	kiosk.Advance(2 * time.Minute)
	_, err = wx.Query(ctx, wxpay.QueryRequest{OutOrderNo: "RP-1"})
	var e *wxpay.Error
	if !errors.As(err, &e) || e.Class != wxpay.Auth || e.Clock == nil || e.Clock.RequestRefused || !e.ReachedServer {
		t.Fatalf("an answer 6 minutes old: %v", err)
	}
	if !strings.Contains(err.Error(), "stale or replayed") {
		t.Errorf("the refusal does not say why: %v", err)
	}
}
