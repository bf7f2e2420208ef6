package notify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/notify"
	"github.com/kioskpay/smartretail/sandbox"
)

// posted is a notification as the merchant's server received it.
type posted struct {
	header http.Header
	body   []byte
}

// What the sandbox posts to a service order's notify_url, as WeChat Pay
// does, the merchant's server verifies and decrypts with this package: the
// customer's confirmation, then the payment. A tampered copy is refused.
func TestNotificationsPostedByTheSandbox(t *testing.T) {
	var mu sync.Mutex
	var got []posted
	receiver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, posted{r.Header.Clone(), body})
		mu.Unlock()
		w.Write([]byte(`{"code":"SUCCESS","message":"成功"}`))
	}))
	t.Cleanup(receiver.Close)
	sb := testkit.Start(t, sandbox.Options{NotifyClient: receiver.Client()})
	c := sb.Credentials
	v, err := notify.NewVerifier(notify.Config{PublicKeyID: c.PublicKeyID, PublicKey: c.WechatPayPublicKey(), APIv3Key: c.APIv3Key})
	if err != nil {
		t.Fatal(err)
	}
	wx := sb.WeChat(t)
	ctx := context.Background()
	confirm := true
	if _, err := wx.CreateServiceOrder(ctx, wxpay.CreateServiceOrderRequest{OutOrderNo: "NT-1", ServiceIntroduction: "无人零售柜",
		TimeRange: wxpay.TimeRange{StartTime: "OnAccept"}, RiskFund: wxpay.RiskFund{Name: wxpay.RiskFundEstimateOrderCost, Amount: 1000, Description: "预估订单费用"},
		NotifyURL: receiver.URL + "/payscore/notify", NeedUserConfirm: &confirm}); err != nil {
		t.Fatal(err)
	}
	if err := sb.AcceptServiceOrder("NT-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := wx.CompleteServiceOrder(ctx, wxpay.CompleteServiceOrderRequest{OutOrderNo: "NT-1", TotalAmount: 300,
		TimeRange:    &wxpay.TimeRange{EndTime: wxpay.FormatTime(time.Now())},
		PostPayments: []wxpay.Payment{{Name: wxpay.SmartRetailPaymentName, Description: "可乐", Count: 1, Amount: 300}}}); err != nil {
		t.Fatal(err)
	}
	if err := sb.PayServiceOrder("NT-1"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "two notifications posted", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 2 })

	mu.Lock()
	defer mu.Unlock()
	events := map[string]*notify.Notification{}
	for _, p := range got {
		n, err := v.Decode(p.header, p.body)
		if err != nil {
			t.Fatalf("the sandbox's notification does not verify: %v", err)
		}
		events[n.EventType] = n
	}
	if n := events[notify.EventUserConfirm]; n == nil || n.ServiceOrder == nil || n.ServiceOrder.OutOrderNo != "NT-1" ||
		n.ServiceOrder.State != "DOING" || n.ServiceOrder.StateDescription != "USER_CONFIRM" {
		t.Errorf("USER_CONFIRM: %+v", n)
	}
	if n := events[notify.EventUserPaid]; n == nil || n.ServiceOrder == nil || n.ServiceOrder.State != "DONE" ||
		n.ServiceOrder.Collection == nil || n.ServiceOrder.Collection.PaidAmount != 300 {
		t.Errorf("USER_PAID: %+v", n)
	}
	tampered := bytes.Replace(got[0].body, []byte(`"ciphertext":"`), []byte(`"ciphertext":"A`), 1)
	if _, err := v.Decode(got[0].header, tampered); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("a tampered notification: %v, want BAD_SIGNATURE", err)
	}
	other, err := sandbox.GenerateCredentials()
	if err != nil {
		t.Fatal(err)
	}
	forger, err := notify.NewVerifier(notify.Config{PublicKeyID: c.PublicKeyID, PublicKey: other.WechatPayPublicKey(), APIv3Key: c.APIv3Key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forger.Decode(got[0].header, got[0].body); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("checked against another key: %v, want BAD_SIGNATURE", err)
	}
}
