package e2e

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

func TestEveryRPCThroughTheRealBinary(t *testing.T) {
	c, env := startHost(t, host.Options{})
	ctx := testkit.Context(t)

	st, err := c.GetStatus(ctx, &v1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.GetConfigured() || st.GetMchid() != env.srv.Credentials.MchID || st.GetApiBaseUrl() != env.srv.URL ||
		st.GetVerifyMode() != "public_key" || st.GetStartedAt() == nil {
		t.Errorf("status = %v", st)
	}

	confirm := true
	order := &v1.NewOrder{
		OutOrderNo: "E2E-1", ServiceStartTime: "OnAccept", ServiceEndTime: "20261231",
		ServiceStartLocation: "柜机 K-1", ServiceEndLocation: "柜机 K-1", ServiceIntroduction: "智慧零售",
		Fees:       []*v1.Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: 350, FeeDesc: "330ml"}},
		Discounts:  []*v1.Discount{{DiscountName: "立减", DiscountDesc: "减1元"}},
		RiskAmount: 20000, Attach: "a=1", NeedUserConfirm: &confirm, Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
	}
	created, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: order})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED || created.GetOrder().GetOrderId() == "" ||
		created.GetOrder().GetPackage() == "" || created.GetOrder().GetOutOrderNo() != "E2E-1" ||
		created.GetOrder().GetAppid() != env.srv.Credentials.AppID || created.GetOrder().GetMiniprogramAppid() == "" {
		t.Errorf("create = %v", created)
	}

	q, err := c.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "E2E-1"})
	if err != nil {
		t.Fatal(err)
	}
	if q.GetQueued() != nil {
		t.Errorf("an order WeChat Pay has is reported queued: %v", q.GetQueued())
	}
	got := q.GetOrder()
	if got.GetState() != "CREATED" || got.GetServiceEndTime() != "20261231" || got.GetRiskAmount() != 20000 ||
		got.GetAttach() != "a=1" || got.GetServiceIntroduction() != "智慧零售" || len(got.GetFees()) != 1 ||
		got.GetFees()[0].GetFeeDesc() != "330ml" || got.GetDiscounts()[0].GetDiscountName() != "立减" {
		t.Errorf("query = %v", got)
	}
	so, _ := env.srv.Sandbox.Order("E2E-1")
	byID, err := c.QueryOrder(ctx, &v1.QueryOrderRequest{QueryId: so.QueryID})
	if err != nil || byID.GetOrder().GetOutOrderNo() != "E2E-1" {
		t.Errorf("query by query_id: %v, %v", byID, err)
	}

	if err := env.srv.Sandbox.Accept("E2E-1"); err != nil {
		t.Fatal(err)
	}
	total := int64(250)
	done, err := c.CompleteOrder(ctx, &v1.CompleteOrderRequest{
		OutOrderNo: "E2E-1", FinishType: 2, RealServiceEndTime: "20261126120000",
		Fees:      []*v1.Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: 350}},
		Discounts: []*v1.Discount{{DiscountName: "立减", DiscountDesc: "减1元", DiscountAmount: 100}}, TotalAmount: &total,
		FinishTicket: got.GetFinishTicket(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetOrder().GetOrderId() != created.GetOrder().GetOrderId() {
		t.Errorf("complete = %v", done)
	}
	if err := env.srv.Sandbox.Pay("E2E-1"); err != nil {
		t.Fatal(err)
	}
	if q, err := c.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "E2E-1"}); err != nil ||
		q.GetOrder().GetState() != "USER_PAID" || q.GetOrder().GetTotalAmount() != 250 || q.GetOrder().GetDiscounts()[0].GetDiscountAmount() != 100 {
		t.Errorf("after pay: %v, %v", q, err)
	}

	// An order with no out_order_no gets one minted by the plugin, then is cancelled.
	minted, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: newSale("", 100, nil)})
	if err != nil {
		t.Fatal(err)
	}
	no := minted.GetOrder().GetOutOrderNo()
	if len(no) != 32 || !strings.HasPrefix(no, "SR") {
		t.Errorf("minted out_order_no %q", no)
	}
	cancelled, err := c.CancelOrder(ctx, &v1.CancelOrderRequest{OutOrderNo: no, Reason: "顾客未取货"})
	if err != nil || cancelled.GetOrder().GetOutOrderNo() != no {
		t.Fatalf("cancel: %v, %v", cancelled, err)
	}
	if so, _ := env.srv.Sandbox.Order(no); so.State != "REVOKED" {
		t.Errorf("sandbox state after cancel %q", so.State)
	}

	// The event stream is open until the host stops watching. Everything
	// here went online, so it carries no order events.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var evs []*v1.Event
	err = c.WatchEvents(wctx, &v1.WatchEventsRequest{}, func(ev *v1.Event) error { evs = append(evs, ev); return nil })
	if err != nil || wctx.Err() == nil {
		t.Errorf("watch events ended with %v before the caller's deadline", err)
	}
	for _, ev := range evs {
		if ev.GetType() != v1.EventType_EVENT_TYPE_NETWORK_STATUS_CHANGED {
			t.Errorf("unexpected event %v", ev)
		}
	}
}

func TestErrorMappingOverTheWire(t *testing.T) {
	c, env := startHost(t, host.Options{})
	ctx := testkit.Context(t)
	sb := env.srv.Sandbox
	if _, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: newSale("MAP-1", 100, nil)}); err != nil {
		t.Fatal(err)
	}

	t.Run("invalid before sending", func(t *testing.T) {
		bad := newSale("", 100, nil)
		bad.ServiceEndTime, bad.Fees = "2026-11-26T10:00:00+08:00", []*v1.Fee{{FeeName: "x", FeeAmount: -1}}
		_, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: bad})
		se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
		fields := []string{}
		for _, v := range se.Violations {
			fields = append(fields, v.Field)
		}
		if strings.Join(fields, " ") != "order.service_end_time order.fees[0].fee_amount" || se.WeChatPay != nil {
			t.Errorf("violations %v, wechat %v", se.Violations, se.WeChatPay)
		}
	})
	t.Run("state forbids", func(t *testing.T) {
		// Refused with the state a query read just before sending (the
		// customer has not confirmed): nothing was sent.
		_, err := c.CompleteOrder(ctx, &v1.CompleteOrderRequest{OutOrderNo: "MAP-1", FinishType: 2, Fees: []*v1.Fee{{FeeName: "x", FeeAmount: 1}}})
		se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid)
		if se.Reason != shared.ReasonOrderStatePrefix+"CREATED" {
			t.Errorf("reason %q, wechat answer %+v", se.Reason, se.WeChatPay)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := c.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "MAP-404"})
		if se := testkit.WantError(t, err, codes.NotFound, shared.ClassNotFound); se.WeChatPay.GetCode() != "ORDER_NOT_EXIST" {
			t.Errorf("wechat answer %+v", se.WeChatPay)
		}
	})
	t.Run("no permission", func(t *testing.T) {
		o := newSale("", 100, nil)
		o.ServiceId = "404404"
		_, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: o})
		if se := testkit.WantError(t, err, codes.PermissionDenied, shared.ClassAuth); se.WeChatPay.GetCode() != "NO_AUTH" {
			t.Errorf("wechat answer %+v", se.WeChatPay)
		}
	})
	faults := []struct {
		mode    string
		code    codes.Code
		class   shared.Class
		wechat  string
		reached bool
		retry   time.Duration
	}{
		{"rate_limit", codes.ResourceExhausted, shared.ClassRateLimited, "FREQUENCY_LIMITED", false, time.Second},
		{"error", codes.Unavailable, shared.ClassTransient, "SYSTEM_ERROR", false, 0},
		{"offline", codes.Unavailable, shared.ClassNetwork, "", true, 0},
		{"drop_response", codes.Unavailable, shared.ClassNetwork, "", true, 0},
	}
	for _, f := range faults {
		t.Run("fault "+f.mode, func(t *testing.T) {
			if err := sb.SetFaults(sandboxFaults(f.mode)); err != nil {
				t.Fatal(err)
			}
			defer sb.SetFaults(sandboxFaults("none"))
			_, err := c.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "MAP-1"})
			se := testkit.WantError(t, err, f.code, f.class)
			if se.WeChatPay.GetCode() != f.wechat || se.ReachedServer != f.reached || se.RetryAfter != f.retry {
				t.Errorf("wechat %+v reached %v retry %v", se.WeChatPay, se.ReachedServer, se.RetryAfter)
			}
		})
	}
}

func TestAuthFailuresOverTheWire(t *testing.T) {
	base := testkit.Start(t, sandbox.Options{}).Config(t)
	// Another merchant's and platform's keys, which the sandbox does not know.
	otherCreds, err := sandbox.GenerateCredentials()
	if err != nil {
		t.Fatal(err)
	}
	other := newSandbox(t, sandbox.Options{Credentials: otherCreds})
	t.Run("our signature refused", func(t *testing.T) {
		cfg := cloneConfig(base)
		cfg.MerchantPrivateKeyFile = filepath.Join(other.dir, sandbox.MerchantPrivateKeyFile)
		c, _ := startHost(t, host.Options{Config: cfg}) // its own sandbox has the same keys as env
		_, err := c.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "X"})
		if se := testkit.WantError(t, err, codes.Unauthenticated, shared.ClassAuth); se.WeChatPay.GetCode() != "SIGN_ERROR" {
			t.Errorf("wechat answer %+v", se.WeChatPay)
		}
	})
	t.Run("their answer does not verify", func(t *testing.T) {
		cfg := cloneConfig(base)
		cfg.WechatpayPublicKeyFile = filepath.Join(other.dir, sandbox.WechatPayPublicKeyFile)
		c, _ := startHost(t, host.Options{Config: cfg})
		_, err := c.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: newSale("FORGED-1", 100, nil)})
		se := testkit.WantError(t, err, codes.Unauthenticated, shared.ClassAuth)
		if !strings.Contains(se.Message, "signature does not verify") || !se.ReachedServer || se.OutOrderNo != "FORGED-1" {
			t.Errorf("message %q, reached_server %v: an unverified answer leaves the outcome unknown", se.Message, se.ReachedServer)
		}
	})
}

func TestChecksumMismatchIsRefused(t *testing.T) {
	env := newSandbox(t, sandbox.Options{})
	wrong := sha256.Sum256([]byte("not the plugin"))
	_, err := host.Start(testkit.Context(t), host.Options{PluginPath: pluginPath, ConfigPath: env.config, Checksum: wrong[:], Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "checksum does not match") {
		t.Fatalf("want a checksum refusal, got %v", err)
	}
	data, err := os.ReadFile(pluginPath)
	if err != nil {
		t.Fatal(err)
	}
	right := sha256.Sum256(data)
	c, err := host.Start(testkit.Context(t), host.Options{PluginPath: pluginPath, ConfigPath: env.config, Checksum: right[:], Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("the right checksum was refused: %v", err)
	}
	c.Close()
}

func TestConfigureRefusalReachesStart(t *testing.T) {
	cfg := testkit.Start(t, sandbox.Options{}).Config(t)
	cfg.Apiv3Key = cfg.Apiv3Key[1:]
	_, err := host.Start(testkit.Context(t), host.Options{PluginPath: pluginPath, Config: cfg, Logger: testLogger(t)})
	se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	if len(se.Violations) != 1 || se.Violations[0].Field != "config.apiv3_key" || !strings.Contains(se.Violations[0].Description, "got 31") {
		t.Errorf("violations %+v", se.Violations)
	}
	if strings.Contains(se.Error(), cfg.Apiv3Key) {
		t.Error("the error leaks the APIv3 key")
	}
}

// A create cut off by the caller's deadline may still have reached WeChat
// Pay: the host says the outcome is unknown, never that it failed.
func TestDeadlineOnACreateIsAmbiguous(t *testing.T) {
	c, env := startHost(t, host.Options{})
	if err := env.srv.Sandbox.SetFaults(sandboxLatency(800)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: newSale("LATE-1", 100, nil)})
	se := testkit.WantError(t, err, codes.DeadlineExceeded, shared.ClassNetwork)
	if !se.ReachedServer {
		t.Errorf("a create cut off by the deadline is not marked as possibly arrived: %+v", se)
	}
}
