package plugin_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// harness serves a Service over go-plugin's in-process gRPC pair and
// returns the host side of it, as a host would see it after Dispense.
func harness(t *testing.T) shared.Orders {
	t.Helper()
	o, _ := harnessWith(t)
	return o
}

// harnessWith also returns the Service behind the connection.
func harnessWith(t testing.TB, opts ...plugin.Option) (shared.Orders, *plugin.Service) {
	t.Helper()
	return harnessLogged(t, nil, opts...)
}

// harnessLogged is harnessWith with the Service logging to logger.
func harnessLogged(t testing.TB, logger hclog.Logger, opts ...plugin.Option) (shared.Orders, *plugin.Service) {
	t.Helper()
	svc := plugin.NewService(logger, opts...)
	client, _ := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{
		shared.PluginName: &shared.OrdersPlugin{Impl: svc},
	})
	t.Cleanup(func() {
		// Close asks the server to stop (GRPCController.Shutdown); stopping
		// it here as well would race inside go-plugin.
		client.Close()
		svc.Close()
	})
	raw, err := client.Dispense(shared.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(shared.Orders), svc
}

func TestEveryRPCNeedsConfigureFirst(t *testing.T) {
	o := harness(t)
	c := testkit.Context(t)
	calls := map[string]func() error{
		"CreateOrder":   func() error { _, err := o.CreateOrder(c, &v1.CreateOrderRequest{Order: &v1.NewOrder{}}); return err },
		"QueryOrder":    func() error { _, err := o.QueryOrder(c, &v1.QueryOrderRequest{OutOrderNo: "A"}); return err },
		"CancelOrder":   func() error { _, err := o.CancelOrder(c, &v1.CancelOrderRequest{OutOrderNo: "A"}); return err },
		"CompleteOrder": func() error { _, err := o.CompleteOrder(c, &v1.CompleteOrderRequest{OutOrderNo: "A"}); return err },
		"WatchEvents": func() error {
			return o.WatchEvents(c, &v1.WatchEventsRequest{}, func(*v1.Event) error { return nil })
		},
	}
	for name, call := range calls {
		se := testkit.WantError(t, call(), codes.FailedPrecondition, shared.ClassNotConfigured)
		if !strings.Contains(se.Message, "Configure") {
			t.Errorf("%s: message %q does not say what to do", name, se.Message)
		}
	}
	st, err := o.GetStatus(c, &v1.GetStatusRequest{})
	if err != nil || st.GetConfigured() || st.GetPluginVersion() == "" {
		t.Errorf("status before configure: %v, %v", st, err)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigureChecksWhatItIsGiven(t *testing.T) {
	o := harness(t)
	good, dir := testkit.Start(t, sandbox.Options{}).Config(t), t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	cases := []struct {
		name  string
		edit  func(*v1.Config)
		field string
		says  string
	}{
		{"missing key file", func(c *v1.Config) { c.MerchantPrivateKeyFile = filepath.Join(dir, "nope.pem") }, "config.merchant_private_key_file", "no such file"},
		{"bad PEM", func(c *v1.Config) {
			p := filepath.Join(dir, "bad.pem")
			os.WriteFile(p, []byte("-----BEGIN PRIVATE KEY-----\nnot base64!\n"), 0o600)
			c.MerchantPrivateKeyFile = p
		}, "config.merchant_private_key_file", "no PEM block"},
		{"wrong key type", func(c *v1.Config) {
			c.MerchantPrivateKeyFile = writePEM(t, filepath.Join(dir, "ec.pem"), "PRIVATE KEY", ecDER)
		},
			"config.merchant_private_key_file", "want an RSA private key"},
		{"wrong key size", func(c *v1.Config) {
			c.MerchantPrivateKeyFile = writePEM(t, filepath.Join(dir, "small.pem"), "PRIVATE KEY", smallDER)
		}, "config.merchant_private_key_file", "1024 bits"},
		{"public key file is a private key", func(c *v1.Config) { c.WechatpayPublicKeyFile = c.MerchantPrivateKeyFile },
			"config.wechatpay_public_key_file", "want PUBLIC KEY"},
		{"31-byte APIv3 key", func(c *v1.Config) { c.Apiv3Key = c.Apiv3Key[:31] }, "config.apiv3_key", "want 32 bytes, got 31"},
		{"missing mchid", func(c *v1.Config) { c.Mchid = "" }, "config.mchid", "required"},
		{"bad base url", func(c *v1.Config) { c.ApiBaseUrl = "localhost:80" }, "config.api_base_url", "http"},
		// Over gRPC there is no config file to resolve a relative path
		// against: the key would land in the plugin's working folder.
		{"relative key file", func(c *v1.Config) { c.OutboxKeyFile = "outbox.key" }, "config.outbox_key_file", "absolute path"},
		{"no outbox", func(c *v1.Config) { c.OutboxPath = "" }, "config.outbox_path", "absolute path"},
		{"service orders without notify_url", func(c *v1.Config) { c.PayscoreApi = "serviceorder" }, "config.notify_url", "required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := proto.Clone(good).(*v1.Config)
			tc.edit(cfg)
			_, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg})
			se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
			if len(se.Violations) == 0 || se.Violations[0].Field != tc.field || !strings.Contains(se.Violations[0].Description, tc.says) {
				t.Errorf("violations %+v, want %s saying %q", se.Violations, tc.field, tc.says)
			}
			if strings.Contains(se.Error(), good.Apiv3Key[:31]) {
				t.Error("error leaks the APIv3 key")
			}
		})
	}
	_, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{})
	testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)

	// A refused configuration does not replace a good one.
	if _, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: good}); err != nil {
		t.Fatal(err)
	}
	bad := proto.Clone(good).(*v1.Config)
	bad.Apiv3Key = "short"
	if _, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: bad}); err == nil {
		t.Fatal("bad config accepted")
	}
	if st, err := o.GetStatus(testkit.Context(t), &v1.GetStatusRequest{}); err != nil || !st.GetConfigured() || st.GetMchid() != good.GetMchid() {
		t.Errorf("after a refused reconfigure: %v, %v", st, err)
	}
}

func TestRPCsInProcess(t *testing.T) {
	o := harness(t)
	sb := testkit.Start(t, sandbox.Options{})
	cfg := sb.Config(t)
	c := testkit.Context(t)
	resp, err := o.Configure(c, &v1.ConfigureRequest{Config: cfg})
	if err != nil || resp.GetVerifyMode() != "public_key" {
		t.Fatalf("configure: %v, %v", resp, err)
	}
	created, err := o.CreateOrder(c, &v1.CreateOrderRequest{Order: withConfirm("IP-1", 99)})
	if err != nil || created.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED || created.GetOrder().GetMchid() != cfg.GetMchid() {
		t.Fatalf("create: %v, %v", created, err)
	}
	// The same create again is the same order: out_order_no is the idempotency key.
	again, err := o.CreateOrder(c, &v1.CreateOrderRequest{Order: withConfirm("IP-1", 99)})
	if err != nil || again.GetOrder().GetOrderId() != created.GetOrder().GetOrderId() {
		t.Fatalf("repeated create: %v, %v", again, err)
	}
	if so, _ := sb.Order("IP-1"); so.CreateRequests != 2 {
		t.Errorf("create_requests %d", so.CreateRequests)
	}
	if err := sb.Accept("IP-1"); err != nil {
		t.Fatal(err)
	}
	q, err := o.QueryOrder(c, &v1.QueryOrderRequest{OutOrderNo: "IP-1"})
	if err != nil || q.GetOrder().GetState() != "USER_ACCEPTED" {
		t.Fatalf("query: %v, %v", q, err)
	}
	comp, err := o.CompleteOrder(c, &v1.CompleteOrderRequest{OutOrderNo: "IP-1", FinishType: 1, CancelReason: "商品缺货"})
	if err != nil || comp.GetOrder().GetOrderId() != created.GetOrder().GetOrderId() {
		t.Fatalf("complete: %v, %v", comp, err)
	}
	if so, _ := sb.Order("IP-1"); so.State != "FINISHED" || so.FinishType != 1 {
		t.Errorf("sandbox after finish_type 1: %+v", so)
	}
	_, err = o.CancelOrder(c, &v1.CancelOrderRequest{OutOrderNo: "IP-1", Reason: "x"})
	// Refused on the order's state, read before anything is sent.
	if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); se.Reason != "ORDER_STATE_FINISHED" {
		t.Errorf("cancel after finish: %+v", se)
	}
	_, err = o.CancelOrder(c, &v1.CancelOrderRequest{OutOrderNo: "IP-1"})
	se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	if se.Violations[0].Field != "reason" {
		t.Errorf("violations %+v", se.Violations)
	}
	_, err = o.QueryOrder(c, &v1.QueryOrderRequest{})
	se = testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	if se.Violations[0].Field != "out_order_no" {
		t.Errorf("violations %+v", se.Violations)
	}
}

func TestNewOutOrderNo(t *testing.T) {
	seen := map[string]bool{}
	now := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		no := plugin.NewOutOrderNo(now)
		if len(no) != 32 || !strings.HasPrefix(no, "SR20261126090203") {
			t.Fatalf("out_order_no %q", no)
		}
		if seen[no] {
			t.Fatalf("duplicate %q", no)
		}
		seen[no] = true
	}
}
