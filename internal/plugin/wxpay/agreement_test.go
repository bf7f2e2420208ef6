package wxpay_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// The client must refuse exactly what the sandbox refuses: never let through
// what WeChat Pay will refuse (a queued order would fail later), never
// refuse what it accepts. Each case goes through the client's Validate and,
// raw, past the client, to the sandbox.
func TestClientAndSandboxAgree(t *testing.T) {
	srv, sandboxRefuses := rawSandbox(t)
	c := srv.Credentials
	long := func(n int) string { return strings.Repeat("字", n) }
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
		{"5 discounts", func(r *wxpay.CreateRequest) { r.Discounts = discounts(5) }},
		{"6 discounts", func(r *wxpay.CreateRequest) { r.Discounts = discounts(6) }},
		{"discount name 21", func(r *wxpay.CreateRequest) { r.Discounts[0].DiscountName = long(21) }},
		{"discount without name", func(r *wxpay.CreateRequest) { r.Discounts[0].DiscountName = "" }},
		{"discount desc 31", func(r *wxpay.CreateRequest) { r.Discounts[0].DiscountDesc = long(31) }},
		{"negative risk", func(r *wxpay.CreateRequest) { r.RiskAmount = -1 }},
		{"huge risk", func(r *wxpay.CreateRequest) { r.RiskAmount = wxpay.MaxAmount + 1 }},
		{"location 51", func(r *wxpay.CreateRequest) { r.ServiceStartLocation = long(51) }},
		{"attach 257", func(r *wxpay.CreateRequest) { r.Attach = strings.Repeat("a", 257) }},
		{"openid 129", func(r *wxpay.CreateRequest) { r.OpenID = strings.Repeat("o", 129) }},
		// The corrections of the design notes (sandbox/doc.go's table).
		{"no start time", func(r *wxpay.CreateRequest) { r.ServiceStartTime = "" }},
		{"no start location", func(r *wxpay.CreateRequest) { r.ServiceStartLocation = "" }},
		{"no introduction", func(r *wxpay.CreateRequest) { r.ServiceIntroduction = "" }},
		{"no risk", func(r *wxpay.CreateRequest) { r.RiskAmount = 0 }},
		{"risk at the service's", func(r *wxpay.CreateRequest) { r.RiskAmount = sandbox.DefaultMaxRiskAmount }},
		{"no openid without confirmation", func(r *wxpay.CreateRequest) { r.OpenID = "" }},
		{"openid with confirmation", func(r *wxpay.CreateRequest) { r.NeedUserConfirm = nil }},
		{"no openid with confirmation", func(r *wxpay.CreateRequest) { r.NeedUserConfirm, r.OpenID = nil, "" }},
		{"100 fees", func(r *wxpay.CreateRequest) { r.Fees = fees(100) }},
		{"101 fees", func(r *wxpay.CreateRequest) { r.Fees = fees(101) }},
		{"fee names repeat", func(r *wxpay.CreateRequest) { r.Fees = append(r.Fees, wxpay.Fee{FeeName: "水", FeeAmount: 1}) }},
		{"fee count 100", func(r *wxpay.CreateRequest) { r.Fees[0].FeeCount = 100 }},
		{"fee count 101", func(r *wxpay.CreateRequest) { r.Fees[0].FeeCount = 101 }},
		{"fee count left out", func(r *wxpay.CreateRequest) { r.Fees[0].FeeCount = 0 }},
		{"discount names repeat", func(r *wxpay.CreateRequest) {
			r.Discounts = append(r.Discounts, wxpay.Discount{DiscountName: "券", DiscountDesc: "再减"})
		}},
		{"discount without desc", func(r *wxpay.CreateRequest) { r.Discounts[0].DiscountDesc = "" }},
		{"discount desc 30", func(r *wxpay.CreateRequest) { r.Discounts[0].DiscountDesc = long(30) }},
	}
	for i, tc := range creates {
		t.Run("create "+tc.name, func(t *testing.T) {
			r := agreeCreate(c, fmt.Sprintf("AGREE-C%d", i))
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
		// The corrections of the design notes (sandbox/doc.go's table).
		{"cancel with a total", func(r *wxpay.CompleteRequest) { r.FinishType, r.CancelReason = 1, "缺货" }},
		{"cancel with total 0", func(r *wxpay.CompleteRequest) { r.FinishType, r.CancelReason, r.TotalAmount = 1, "缺货", total(0) }},
		{"cancel with an end location", func(r *wxpay.CompleteRequest) {
			r.FinishType, r.CancelReason, r.TotalAmount, r.RealServiceEndLocation = 1, "缺货", nil, "门口"
		}},
		{"cancel reason 30", func(r *wxpay.CompleteRequest) { r.FinishType, r.CancelReason, r.TotalAmount = 1, long(30), nil }},
		{"cancel reason 31", func(r *wxpay.CompleteRequest) { r.FinishType, r.CancelReason, r.TotalAmount = 1, long(31), nil }},
		{"end location 20", func(r *wxpay.CompleteRequest) { r.RealServiceEndLocation = long(20) }},
		{"end location 21", func(r *wxpay.CompleteRequest) { r.RealServiceEndLocation = long(21) }},
		{"no finish_ticket", func(r *wxpay.CompleteRequest) { r.FinishTicket = "" }},
		{"fee names repeat", func(r *wxpay.CompleteRequest) {
			r.Fees = append(r.Fees, wxpay.Fee{FeeName: "水", FeeAmount: 1})
			r.TotalAmount = nil
		}},
		{"fee count 101", func(r *wxpay.CompleteRequest) { r.Fees[0].FeeCount = 101 }},
		{"discount without desc", func(r *wxpay.CompleteRequest) { r.Discounts[0].DiscountDesc = "" }},
		{"profit sharing true", func(r *wxpay.CompleteRequest) { r.ProfitSharing = true }},
		{"total at the risk amount", func(r *wxpay.CompleteRequest) {
			r.Fees[0].FeeAmount, r.TotalAmount = agreeRisk+100, total(agreeRisk)
		}},
		{"cancel with reason", func(r *wxpay.CompleteRequest) {
			r.FinishType, r.CancelReason = 1, "缺货"
			r.Fees, r.Discounts, r.TotalAmount = nil, nil, nil
		}},
		{"finish without fees", func(r *wxpay.CompleteRequest) { r.Fees, r.Discounts, r.TotalAmount = nil, nil, nil }},
		{"discount without amount", func(r *wxpay.CompleteRequest) { r.Discounts[0].DiscountAmount = 0; r.TotalAmount = nil }},
		{"discounts exceed fees", func(r *wxpay.CompleteRequest) { r.Discounts[0].DiscountAmount = 500; r.TotalAmount = nil }},
		{"total mismatch", func(r *wxpay.CompleteRequest) { r.TotalAmount = total(299) }},
		{"no total", func(r *wxpay.CompleteRequest) { r.TotalAmount = nil }},
		{"long cancel reason on a finish", func(r *wxpay.CompleteRequest) { r.CancelReason = long(31) }},
		{"bad real time", func(r *wxpay.CompleteRequest) { r.RealServiceEndTime = "2026-11-26" }},
	}
	for i, tc := range completes {
		t.Run("complete "+tc.name, func(t *testing.T) {
			no := fmt.Sprintf("AGREE-F%d", i)
			if _, err := clientFor(t, srv, false).Create(context.Background(), agreeCreate(c, no)); err != nil {
				t.Fatal(err)
			}
			r := wxpay.CompleteRequest{OutOrderNo: no, AppID: c.AppID, ServiceID: c.ServiceID, FinishType: 2,
				Fees:      []wxpay.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}},
				Discounts: []wxpay.Discount{{DiscountName: "券", DiscountDesc: "减1元", DiscountAmount: 100}}, TotalAmount: total(200),
				FinishTicket: ticketOf(srv, no)}
			tc.edit(&r)
			// What the client checks when it sends (ValidateToSend): the
			// finish_ticket is fetched then, not when the complete is queued.
			client := r.ValidateToSend() != nil
			sb := sandboxRefuses(t, "/v3/payscore/smartretail-orders/"+no+"/complete", r)
			if client != sb {
				t.Errorf("client refuses: %v (%v), sandbox refuses: %v", client, r.ValidateToSend(), sb)
			}
		})
	}

	// Where they differ on purpose, each way, and why.
	t.Run("cancel reason 31 to 50", func(t *testing.T) {
		// The client refuses what the cancel endpoint takes: the cancel may
		// be sent as a complete, whose cancel_reason takes 30.
		no := "AGREE-X1"
		if _, err := clientFor(t, srv, false).Create(context.Background(), agreeCreate(c, no)); err != nil {
			t.Fatal(err)
		}
		r := wxpay.CancelRequest{OutOrderNo: no, AppID: c.AppID, ServiceID: c.ServiceID, Reason: long(50)}
		if r.Validate() == nil {
			t.Error("the client takes a 50-character reason")
		}
		if sandboxRefuses(t, "/v3/payscore/smartretail-orders/"+no+"/cancel", r) {
			t.Error("the sandbox's cancel endpoint refuses a 50-character reason")
		}
	})
	t.Run("known only to WeChat Pay", func(t *testing.T) {
		// The service's configured risk amount and the order's risk_amount
		// are not in the request: the client cannot check them (the rule book
		// checks the second against the order before sending).
		r := agreeCreate(c, "AGREE-X2")
		r.RiskAmount = sandbox.DefaultMaxRiskAmount + 1
		if r.Validate() != nil || !sandboxRefuses(t, "/v3/payscore/smartretail-orders", r) {
			t.Errorf("risk above the service's: client %v, the sandbox should refuse", r.Validate())
		}
		no := "AGREE-X3"
		if _, err := clientFor(t, srv, false).Create(context.Background(), agreeCreate(c, no)); err != nil {
			t.Fatal(err)
		}
		f := wxpay.CompleteRequest{OutOrderNo: no, AppID: c.AppID, ServiceID: c.ServiceID, FinishType: 2,
			Fees: []wxpay.Fee{{FeeName: "水", FeeAmount: agreeRisk + 1}}, FinishTicket: ticketOf(srv, no)}
		if f.ValidateToSend() != nil || !sandboxRefuses(t, "/v3/payscore/smartretail-orders/"+no+"/complete", f) {
			t.Errorf("total above the order's risk_amount: client %v, the sandbox should refuse", f.ValidateToSend())
		}
	})
}

// agreeRisk is the risk_amount of agreeCreate's orders.
const agreeRisk = 1000

// agreeCreate is a create that meets every rule, made USER_ACCEPTED at once
// (need_user_confirm false, with the openid that then needs).
func agreeCreate(c *sandbox.Credentials, no string) wxpay.CreateRequest {
	confirm := false
	return wxpay.CreateRequest{AppID: c.AppID, ServiceID: c.ServiceID, OutOrderNo: no,
		ServiceStartTime: "OnAccept", ServiceStartLocation: "A栋1楼", ServiceIntroduction: "无人售货柜",
		NeedUserConfirm: &confirm, OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", RiskAmount: agreeRisk,
		Fees:      []wxpay.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 100, FeeDesc: "瓶"}},
		Discounts: []wxpay.Discount{{DiscountName: "券", DiscountDesc: "减"}}}
}

// ticketOf is the order's finish_ticket, as a query of the accepted order gives it.
func ticketOf(srv *testkit.Sandbox, no string) string {
	o, _ := srv.Sandbox.Order(no)
	return o.FinishTicket
}

func fees(n int) []wxpay.Fee {
	out := make([]wxpay.Fee, n)
	for i := range out {
		out[i] = wxpay.Fee{FeeName: fmt.Sprint("水", i), FeeCount: 1, FeeAmount: 1}
	}
	return out
}

func discounts(n int) []wxpay.Discount {
	var out []wxpay.Discount
	for i := 0; i < n; i++ {
		out = append(out, wxpay.Discount{DiscountName: string(rune('a' + i)), DiscountDesc: "减"})
	}
	return out
}

// rawSandbox starts a sandbox and returns it with sandboxRefuses, which
// sends a body raw (past the client's checks) and reports whether the
// sandbox said PARAM_ERROR.
func rawSandbox(t *testing.T) (*testkit.Sandbox, func(t *testing.T, path string, body any) bool) {
	t.Helper()
	srv := startSandbox(t, "")
	c := srv.Credentials
	raw, err := core.NewClient(context.Background(), option.WithWechatPayPublicKeyAuthCipher(
		c.MchID, c.MerchantSerialNo, c.MerchantPrivateKey, c.PublicKeyID, c.WechatPayPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	return srv, func(t *testing.T, path string, body any) bool {
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
}
