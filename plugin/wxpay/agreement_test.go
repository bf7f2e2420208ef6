package wxpay_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/kioskpay/smartretail/plugin/wxpay"
)

// The client must refuse exactly what the sandbox refuses: never let through
// what WeChat Pay will refuse (a queued order would fail later), never
// refuse what it accepts. Each case goes through the client's Validate and,
// raw, past the client, to the sandbox.
func TestClientAndSandboxAgree(t *testing.T) {
	srv := startSandbox(t, "")
	c := srv.Credentials
	raw, err := core.NewClient(context.Background(), option.WithWechatPayPublicKeyAuthCipher(
		c.MchID, c.MerchantSerialNo, c.MerchantPrivateKey, c.PublicKeyID, c.WechatPayPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	// sandboxRefuses sends body raw and reports whether the sandbox said PARAM_ERROR.
	sandboxRefuses := func(t *testing.T, path string, body any) bool {
		t.Helper()
		_, err := raw.Post(context.Background(), srv.URL+path, body)
		var apiErr *core.APIError
		if errors.As(err, &apiErr) {
			return apiErr.Code == "PARAM_ERROR"
		}
		if err != nil {
			t.Fatalf("sandbox: %v", err)
		}
		return false
	}
	long := func(n int) string { return strings.Repeat("字", n) }
	confirm := false
	creates := []struct {
		name string
		edit func(*wxpay.CreateRequest)
	}{
		{"valid", func(*wxpay.CreateRequest) {}},
		{"32-char out_order_no", func(r *wxpay.CreateRequest) { r.OutOrderNo = strings.Repeat("a", 32) }},
		{"33-char out_order_no", func(r *wxpay.CreateRequest) { r.OutOrderNo = strings.Repeat("b", 33) }},
		{"charset", func(r *wxpay.CreateRequest) { r.OutOrderNo = "a.b" }},
		{"rfc3339", func(r *wxpay.CreateRequest) { r.ServiceEndTime = "2026-11-26T10:00:00+08:00" }},
		{"feb 30", func(r *wxpay.CreateRequest) { r.ServiceEndTime = "20260230" }},
		{"leap day", func(r *wxpay.CreateRequest) { r.ServiceEndTime = "20280229" }},
		{"end OnAccept", func(r *wxpay.CreateRequest) { r.ServiceEndTime = "OnAccept" }},
		{"intro 20", func(r *wxpay.CreateRequest) { r.ServiceIntroduction = long(20) }},
		{"intro 21", func(r *wxpay.CreateRequest) { r.ServiceIntroduction = long(21) }},
		{"negative fee", func(r *wxpay.CreateRequest) { r.Fees[0].FeeAmount = -1 }},
		{"fee without name", func(r *wxpay.CreateRequest) { r.Fees[0].FeeName = "" }},
		{"fee name 21", func(r *wxpay.CreateRequest) { r.Fees[0].FeeName = long(21) }},
		{"fee desc 31", func(r *wxpay.CreateRequest) { r.Fees[0].FeeDesc = long(31) }},
		{"5 discounts", func(r *wxpay.CreateRequest) {
			r.Discounts = []wxpay.Discount{{DiscountName: "a"}, {DiscountName: "b"}, {DiscountName: "c"}, {DiscountName: "d"}, {DiscountName: "e"}}
		}},
		{"6 discounts", func(r *wxpay.CreateRequest) {
			r.Discounts = []wxpay.Discount{{DiscountName: "a"}, {DiscountName: "b"}, {DiscountName: "c"}, {DiscountName: "d"}, {DiscountName: "e"}, {DiscountName: "f"}}
		}},
		{"discount name 21", func(r *wxpay.CreateRequest) { r.Discounts[0].DiscountName = long(21) }},
		{"discount without name", func(r *wxpay.CreateRequest) { r.Discounts[0].DiscountName = "" }},
		{"discount desc 31", func(r *wxpay.CreateRequest) { r.Discounts[0].DiscountDesc = long(31) }},
		{"negative risk", func(r *wxpay.CreateRequest) { r.RiskAmount = -1 }},
		{"huge risk", func(r *wxpay.CreateRequest) { r.RiskAmount = wxpay.MaxAmount + 1 }},
		{"location 51", func(r *wxpay.CreateRequest) { r.ServiceStartLocation = long(51) }},
		{"attach 257", func(r *wxpay.CreateRequest) { r.Attach = strings.Repeat("a", 257) }},
		{"openid 129", func(r *wxpay.CreateRequest) { r.OpenID = strings.Repeat("o", 129) }},
	}
	for i, tc := range creates {
		t.Run("create "+tc.name, func(t *testing.T) {
			r := wxpay.CreateRequest{AppID: c.AppID, ServiceID: c.ServiceID, OutOrderNo: fmt.Sprintf("AGREE-C%d", i),
				ServiceStartTime: "OnAccept", NeedUserConfirm: &confirm, RiskAmount: 100,
				Fees:      []wxpay.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 100, FeeDesc: "瓶"}},
				Discounts: []wxpay.Discount{{DiscountName: "券", DiscountDesc: "减"}}}
			tc.edit(&r)
			client := r.Validate() != nil
			sb := sandboxRefuses(t, "/v3/payscore/smartretail-orders", r)
			if client != sb {
				t.Errorf("client refuses: %v (%v), sandbox refuses: %v", client, r.Validate(), sb)
			}
		})
	}

	total := func(n int64) *int64 { return &n }
	completes := []struct {
		name string
		edit func(*wxpay.CompleteRequest)
	}{
		{"valid", func(*wxpay.CompleteRequest) {}},
		{"finish_type 3", func(r *wxpay.CompleteRequest) { r.FinishType = 3 }},
		{"cancel without reason", func(r *wxpay.CompleteRequest) { r.FinishType = 1; r.Fees, r.Discounts, r.TotalAmount = nil, nil, nil }},
		{"cancel with reason", func(r *wxpay.CompleteRequest) {
			r.FinishType, r.CancelReason = 1, "缺货"
			r.Fees, r.Discounts, r.TotalAmount = nil, nil, nil
		}},
		{"finish without fees", func(r *wxpay.CompleteRequest) { r.Fees, r.Discounts, r.TotalAmount = nil, nil, nil }},
		{"discount without amount", func(r *wxpay.CompleteRequest) { r.Discounts[0].DiscountAmount = 0; r.TotalAmount = nil }},
		{"discounts exceed fees", func(r *wxpay.CompleteRequest) { r.Discounts[0].DiscountAmount = 500; r.TotalAmount = nil }},
		{"total mismatch", func(r *wxpay.CompleteRequest) { r.TotalAmount = total(299) }},
		{"no total", func(r *wxpay.CompleteRequest) { r.TotalAmount = nil }},
		{"long cancel reason on a finish", func(r *wxpay.CompleteRequest) { r.CancelReason = long(51) }},
		{"bad real time", func(r *wxpay.CompleteRequest) { r.RealServiceEndTime = "2026-11-26" }},
		{"end location 51", func(r *wxpay.CompleteRequest) { r.RealServiceEndLocation = long(51) }},
	}
	for i, tc := range completes {
		t.Run("complete "+tc.name, func(t *testing.T) {
			no := fmt.Sprintf("AGREE-F%d", i)
			if _, err := clientFor(t, srv, false).Create(context.Background(), wxpay.CreateRequest{OutOrderNo: no, NeedUserConfirm: &confirm}); err != nil {
				t.Fatal(err)
			}
			r := wxpay.CompleteRequest{OutOrderNo: no, AppID: c.AppID, ServiceID: c.ServiceID, FinishType: 2,
				Fees:      []wxpay.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}},
				Discounts: []wxpay.Discount{{DiscountName: "券", DiscountAmount: 100}}, TotalAmount: total(200)}
			tc.edit(&r)
			client := r.Validate() != nil
			sb := sandboxRefuses(t, "/v3/payscore/smartretail-orders/"+no+"/complete", r)
			if client != sb {
				t.Errorf("client refuses: %v (%v), sandbox refuses: %v", client, r.Validate(), sb)
			}
		})
	}
}
