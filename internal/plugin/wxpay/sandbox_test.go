package wxpay_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

func startSandbox(t testing.TB, dir string) *testkit.Sandbox {
	t.Helper()
	return testkit.Start(t, sandbox.Options{Dir: dir}) // the default credentials: the same across a restart
}

// clientFor builds a client in public-key mode, or in platform-certificate
// mode when cert is set.
func clientFor(t testing.TB, srv *testkit.Sandbox, cert bool) *wxpay.Client {
	t.Helper()
	s := srv.Settings()
	s.Timeout = 5 * time.Second
	if cert {
		s.WeChatPayPublicKeyID, s.WeChatPayPublicKey = "", nil
		s.WeChatPayCertificate = srv.Credentials.PlatformCertificate
	}
	client, err := wxpay.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func fullCreate(no string) wxpay.CreateRequest {
	confirm := true
	return wxpay.CreateRequest{
		OutOrderNo:           no,
		ServiceStartTime:     "OnAccept",
		ServiceEndTime:       "20261231235959",
		ServiceStartLocation: "上海市徐汇区柜机 K-17",
		ServiceEndLocation:   "上海市徐汇区柜机 K-17",
		ServiceIntroduction:  "无人零售柜购物",
		Fees:                 []wxpay.Fee{{FeeName: "矿泉水", FeeCount: 2, FeeAmount: 400, FeeDesc: "550ml"}},
		Discounts:            []wxpay.Discount{{DiscountName: "新客立减", DiscountDesc: "首单减1元"}},
		RiskAmount:           30000,
		Attach:               "kiosk=K-17;shift=am",
		NeedUserConfirm:      &confirm,
		OpenID:               "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
	}
}

func TestEveryFieldRoundTrips(t *testing.T) {
	for _, mode := range []struct {
		name string
		cert bool
	}{{"public key", false}, {"platform certificate", true}} {
		t.Run(mode.name, func(t *testing.T) {
			srv := startSandbox(t, "")
			c := clientFor(t, srv, mode.cert)
			ctx := context.Background()
			cr := fullCreate("RT-" + map[bool]string{false: "PK", true: "CERT"}[mode.cert])

			created, err := c.Create(ctx, cr)
			if err != nil {
				t.Fatal(err)
			}
			if created.OutOrderNo != cr.OutOrderNo || created.AppID != srv.Credentials.AppID ||
				created.MchID != srv.Credentials.MchID || created.ServiceID != srv.Credentials.ServiceID ||
				created.OrderID == "" || created.Package == "" || created.MiniprogramBusinessType == "" ||
				created.MiniprogramAppID == "" || created.MiniprogramPath == "" || created.MiniprogramUsername == "" {
				t.Fatalf("create answer incomplete: %+v", created)
			}

			o, err := c.Query(ctx, wxpay.QueryRequest{OutOrderNo: cr.OutOrderNo})
			if err != nil {
				t.Fatal(err)
			}
			want := wxpay.Order{
				AppID: srv.Credentials.AppID, MchID: srv.Credentials.MchID, OutOrderNo: cr.OutOrderNo,
				ServiceID: srv.Credentials.ServiceID, State: wxpay.StateCreated,
				ServiceStartTime: cr.ServiceStartTime, ServiceEndTime: cr.ServiceEndTime,
				ServiceStartLocation: cr.ServiceStartLocation, ServiceEndLocation: cr.ServiceEndLocation,
				ServiceIntroduction: cr.ServiceIntroduction, Fees: cr.Fees, Discounts: cr.Discounts,
				RiskAmount: cr.RiskAmount, Attach: cr.Attach,
			}
			if o.AnsweredAt.IsZero() {
				t.Error("the query's answer carries no signed time")
			}
			want.AnsweredAt = o.AnsweredAt // WeChat Pay's, from the answer's header
			if !reflect.DeepEqual(*o, want) {
				t.Fatalf("query after create:\n got %+v\nwant %+v", *o, want)
			}

			// The customer confirms in WeChat; the kiosk completes with what
			// was taken, with the finish_ticket a query gives only now.
			if err := srv.Sandbox.Accept(cr.OutOrderNo); err != nil {
				t.Fatal(err)
			}
			if o, err = c.Query(ctx, wxpay.QueryRequest{OutOrderNo: cr.OutOrderNo}); err != nil || o.FinishTicket == "" {
				t.Fatalf("an accepted order's query has no finish_ticket: %+v, %v", o, err)
			}
			total := int64(300)
			comp := wxpay.CompleteRequest{
				OutOrderNo: cr.OutOrderNo, FinishType: wxpay.FinishTypeFinish,
				RealServiceStartTime: "20261126090000", RealServiceEndTime: "20261126090500",
				RealServiceEndLocation: "徐汇区柜机 K-17 北门",
				Fees:                   []wxpay.Fee{{FeeName: "矿泉水", FeeCount: 1, FeeAmount: 400, FeeDesc: "550ml"}},
				Discounts:              []wxpay.Discount{{DiscountName: "新客立减", DiscountDesc: "首单减1元", DiscountAmount: 100}},
				TotalAmount:            &total, FinishTicket: o.FinishTicket, ProfitSharing: true,
			}
			ref, err := c.Complete(ctx, comp)
			if err != nil {
				t.Fatal(err)
			}
			if ref.OrderID != created.OrderID || ref.OutOrderNo != cr.OutOrderNo || ref.MchID != srv.Credentials.MchID {
				t.Errorf("complete answer %+v", ref)
			}
			if err := srv.Sandbox.Pay(cr.OutOrderNo); err != nil {
				t.Fatal(err)
			}
			paid, err := c.Query(ctx, wxpay.QueryRequest{OutOrderNo: cr.OutOrderNo})
			if err != nil {
				t.Fatal(err)
			}
			if paid.State != wxpay.StateUserPaid || paid.FinishType != wxpay.FinishTypeFinish ||
				paid.TotalAmount != total || paid.RealServiceStartTime != comp.RealServiceStartTime ||
				paid.RealServiceEndTime != comp.RealServiceEndTime || paid.RealServiceEndLocation != comp.RealServiceEndLocation ||
				!reflect.DeepEqual(paid.Fees, comp.Fees) || !reflect.DeepEqual(paid.Discounts, comp.Discounts) ||
				paid.PaySuccTime == "" || paid.FinishTransactionID == "" || paid.PayType == "" {
				t.Errorf("query after complete and pay: %+v", paid)
			}
			if _, err := wxpay.ParseTime(paid.PaySuccTime); err != nil {
				t.Errorf("pay_succ_time: %v", err)
			}

			// A second order is cancelled.
			cr2 := fullCreate(cr.OutOrderNo + "-2")
			if _, err := c.Create(ctx, cr2); err != nil {
				t.Fatal(err)
			}
			cref, err := c.Cancel(ctx, wxpay.CancelRequest{OutOrderNo: cr2.OutOrderNo, Reason: "顾客未取货"})
			if err != nil {
				t.Fatal(err)
			}
			if cref.OutOrderNo != cr2.OutOrderNo || cref.OrderID == "" {
				t.Errorf("cancel answer %+v", cref)
			}
			if o, err := c.Query(ctx, wxpay.QueryRequest{OutOrderNo: cr2.OutOrderNo}); err != nil || o.State != wxpay.StateRevoked {
				t.Errorf("after cancel: %+v, %v", o, err)
			}
		})
	}
}

func TestQueryByQueryID(t *testing.T) {
	srv := startSandbox(t, "")
	c := clientFor(t, srv, false)
	ctx := context.Background()
	if _, err := c.Create(ctx, fullCreate("QID-1")); err != nil {
		t.Fatal(err)
	}
	so, _ := srv.Sandbox.Order("QID-1")
	if so.QueryID == "" {
		t.Fatal("sandbox order has no query_id")
	}
	o, err := c.Query(ctx, wxpay.QueryRequest{QueryID: so.QueryID})
	if err != nil {
		t.Fatal(err)
	}
	if o.OutOrderNo != "QID-1" {
		t.Errorf("query by query_id found %q", o.OutOrderNo)
	}
	_, err = c.Query(ctx, wxpay.QueryRequest{QueryID: "no-such-query-id"})
	if wxpay.ClassOf(err) != wxpay.NotFound {
		t.Errorf("unknown query_id: %v, want not found", err)
	}
}

func wantErr(t *testing.T, err error, class wxpay.Class, code string) *wxpay.Error {
	t.Helper()
	var e *wxpay.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *wxpay.Error of class %v, got %v", class, err)
	}
	if e.Class != class || e.Code != code {
		t.Fatalf("got class %v code %q (%v), want %v %q", e.Class, e.Code, e, class, code)
	}
	return e
}

func TestSandboxRefusalsAreClassified(t *testing.T) {
	srv := startSandbox(t, "")
	c := clientFor(t, srv, false)
	ctx := context.Background()
	if _, err := c.Create(ctx, fullCreate("REF-1")); err != nil {
		t.Fatal(err)
	}

	ticket := func(no string) string { o, _ := srv.Sandbox.Order(no); return o.FinishTicket }
	_, err := c.Complete(ctx, wxpay.CompleteRequest{OutOrderNo: "REF-1", FinishType: 2, Fees: []wxpay.Fee{{FeeName: "水", FeeAmount: 1}},
		FinishTicket: ticket("REF-1")})
	wantErr(t, err, wxpay.Invalid, "INVALID_REQUEST") // not accepted yet

	other := fullCreate("REF-1")
	other.RiskAmount++
	_, err = c.Create(ctx, other)
	wantErr(t, err, wxpay.Invalid, "INVALID_REQUEST") // same out_order_no, other parameters

	_, err = c.Cancel(ctx, wxpay.CancelRequest{OutOrderNo: "REF-404", Reason: "x"})
	e := wantErr(t, err, wxpay.NotFound, "ORDER_NOT_EXIST")
	if e.StatusCode != 404 || e.RequestID == "" {
		t.Errorf("status %d request id %q", e.StatusCode, e.RequestID)
	}

	bad := fullCreate("REF-2")
	bad.ServiceID = "999999"
	_, err = c.Create(ctx, bad)
	wantErr(t, err, wxpay.Auth, "NO_AUTH")

	bad = fullCreate("REF-3")
	bad.AppID = "wx0000000000000000"
	_, err = c.Create(ctx, bad)
	wantErr(t, err, wxpay.Invalid, "INVALID_REQUEST")

	// A client whose merchant key the sandbox does not know: SIGN_ERROR.
	stranger, err := sandbox.GenerateCredentials()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := wxpay.New(wxpay.Settings{
		MchID: srv.Credentials.MchID, MerchantSerialNo: srv.Credentials.MerchantSerialNo,
		MerchantPrivateKey: stranger.MerchantPrivateKey, AppID: srv.Credentials.AppID, ServiceID: srv.Credentials.ServiceID,
		WeChatPayPublicKeyID: srv.Credentials.PublicKeyID, WeChatPayPublicKey: srv.Credentials.WechatPayPublicKey(), BaseURL: srv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sc.Query(ctx, wxpay.QueryRequest{OutOrderNo: "REF-1"})
	wantErr(t, err, wxpay.Auth, "SIGN_ERROR")

	// A client that trusts another platform key refuses the sandbox's answers.
	doubting, err := wxpay.New(wxpay.Settings{
		MchID: srv.Credentials.MchID, MerchantSerialNo: srv.Credentials.MerchantSerialNo,
		MerchantPrivateKey: srv.Credentials.MerchantPrivateKey, AppID: srv.Credentials.AppID, ServiceID: srv.Credentials.ServiceID,
		WeChatPayPublicKeyID: srv.Credentials.PublicKeyID, WeChatPayPublicKey: stranger.WechatPayPublicKey(), BaseURL: srv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = doubting.Query(ctx, wxpay.QueryRequest{OutOrderNo: "REF-1"})
	if e := wantErr(t, err, wxpay.Auth, ""); e.StatusCode != 200 {
		t.Errorf("forged-looking success: status %d", e.StatusCode)
	}
}

func TestFaultModesAreClassified(t *testing.T) {
	srv := startSandbox(t, "")
	c := clientFor(t, srv, false)
	ctx := context.Background()
	cases := []struct {
		mode     string
		class    wxpay.Class
		code     string
		reached  bool
		created  bool
		retryAft time.Duration
	}{
		{sandbox.FaultOffline, wxpay.Network, "", true, false, 0},
		{sandbox.FaultError, wxpay.Transient, "SYSTEM_ERROR", false, false, 0},
		{sandbox.FaultRateLimit, wxpay.RateLimited, "FREQUENCY_LIMITED", false, false, time.Second},
		{sandbox.FaultDropResponse, wxpay.Network, "", true, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: tc.mode}); err != nil {
				t.Fatal(err)
			}
			no := "F-" + tc.mode
			_, err := c.Create(ctx, fullCreate(no))
			e := wantErr(t, err, tc.class, tc.code)
			if e.ReachedServer != tc.reached {
				t.Errorf("ReachedServer = %v, want %v", e.ReachedServer, tc.reached)
			}
			if e.RetryAfter != tc.retryAft {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tc.retryAft)
			}
			if !e.Retryable() {
				t.Error("a fault must be retryable")
			}
			_, exists := srv.Sandbox.Order(no)
			if exists != tc.created {
				t.Errorf("order exists at the sandbox = %v, want %v", exists, tc.created)
			}
			// The network returns: the same request, same out_order_no, succeeds
			// and (after drop_response) answers the order that was made.
			if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Create(ctx, fullCreate(no)); err != nil {
				t.Fatalf("retry after %s: %v", tc.mode, err)
			}
			so, _ := srv.Sandbox.Order(no)
			if want := map[bool]int{true: 2, false: 1}[tc.created]; so.CreateRequests != want {
				t.Errorf("create_requests = %d, want %d", so.CreateRequests, want)
			}
		})
	}
	t.Run("latency past the deadline", func(t *testing.T) {
		if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone, LatencyMS: 2000}); err != nil {
			t.Fatal(err)
		}
		defer srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Query(ctx, wxpay.QueryRequest{OutOrderNo: "F-none"})
		e := wantErr(t, err, wxpay.Network, "")
		if !e.ReachedServer || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("reached=%v err=%v", e.ReachedServer, err)
		}
	})
}

func TestSandboxRestartKeepsOrders(t *testing.T) {
	dir := t.TempDir()
	srv := startSandbox(t, dir)
	c := clientFor(t, srv, false)
	ctx := context.Background()
	if _, err := c.Create(ctx, fullCreate("KEEP-1")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Sandbox.Accept("KEEP-1"); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	again := startSandbox(t, dir)
	o, err := clientFor(t, again, false).Query(ctx, wxpay.QueryRequest{OutOrderNo: "KEEP-1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.State != wxpay.StateUserAccepted || o.RiskAmount != 30000 {
		t.Errorf("after restart: %+v", o)
	}
}
