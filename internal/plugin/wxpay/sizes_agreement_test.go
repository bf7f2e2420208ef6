package wxpay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/sandbox"
)

// The client's bounds on sizes are the sandbox's: each length and count at
// its bound and one past it, through the client's Validate and, raw, to the
// sandbox. A size the client lets through and the sandbox refuses is a
// sale answered QUEUED that fails when the queue drains.
func TestClientAndSandboxAgreeOnSizes(t *testing.T) {
	if wxpay.MaxBodyBytes > sandbox.MaxBodyBytes {
		t.Errorf("the client lets bodies of %d bytes through, the sandbox takes %d", wxpay.MaxBodyBytes, sandbox.MaxBodyBytes)
	}
	// An appid or service_id of the right size that is not the merchant's
	// is refused later, for another reason: only PARAM_ERROR counts.
	srv, sandboxRefuses := rawSandbox(t)
	c := srv.Credentials
	fees := func(n int) []wxpay.Fee {
		out := make([]wxpay.Fee, n)
		for i := range out {
			out[i] = wxpay.Fee{FeeName: fmt.Sprint("水", i), FeeCount: 1, FeeAmount: 1}
		}
		return out
	}
	creates := []struct {
		name string
		edit func(*wxpay.CreateRequest)
	}{
		{"appid at its bound", func(r *wxpay.CreateRequest) { r.AppID = strings.Repeat("w", wxpay.MaxAppIDLen) }},
		{"appid past it", func(r *wxpay.CreateRequest) { r.AppID = strings.Repeat("w", wxpay.MaxAppIDLen+1) }},
		{"service_id at its bound", func(r *wxpay.CreateRequest) { r.ServiceID = strings.Repeat("5", wxpay.MaxServiceIDLen) }},
		{"service_id past it", func(r *wxpay.CreateRequest) { r.ServiceID = strings.Repeat("5", wxpay.MaxServiceIDLen+1) }},
		{"fees at their bound", func(r *wxpay.CreateRequest) { r.Fees = fees(wxpay.MaxFees) }},
		{"fees past it", func(r *wxpay.CreateRequest) { r.Fees = fees(wxpay.MaxFees + 1) }},
		{"attach at its bound", func(r *wxpay.CreateRequest) { r.Attach = strings.Repeat("字", wxpay.MaxAttachLen) }},
		{"openid at its bound", func(r *wxpay.CreateRequest) { r.OpenID = strings.Repeat("o", wxpay.MaxOpenIDLen) }},
	}
	for i, tc := range creates {
		t.Run("create "+tc.name, func(t *testing.T) {
			r := agreeCreate(c, fmt.Sprintf("SIZES-C%d", i))
			tc.edit(&r)
			client := r.Validate() != nil
			if sb := sandboxRefuses(t, "/v3/payscore/smartretail-orders", r); client != sb {
				t.Errorf("client refuses: %v (%.300v), sandbox refuses: %v", client, r.Validate(), sb)
			}
		})
	}

	no := "SIZES-F"
	if _, err := clientFor(t, srv, false).Create(context.Background(), agreeCreate(c, no)); err != nil {
		t.Fatal(err)
	}
	completes := []struct {
		name string
		edit func(*wxpay.CompleteRequest)
	}{
		{"appid past its bound", func(r *wxpay.CompleteRequest) { r.AppID = strings.Repeat("w", wxpay.MaxAppIDLen+1) }},
		{"service_id past its bound", func(r *wxpay.CompleteRequest) { r.ServiceID = strings.Repeat("5", wxpay.MaxServiceIDLen+1) }},
		{"fees past their bound", func(r *wxpay.CompleteRequest) { r.Fees = fees(wxpay.MaxFees + 1) }},
		// A finish_ticket that is not the order's is PARAM_ERROR at the
		// sandbox whatever its length: only one past the bound is compared.
		{"finish_ticket past its bound", func(r *wxpay.CompleteRequest) {
			r.FinishTicket = strings.Repeat("t", wxpay.MaxFinishTicketLen+1)
		}},
		// Last: it completes the order.
		{"fees at their bound", func(r *wxpay.CompleteRequest) { r.Fees = fees(wxpay.MaxFees) }},
	}
	for _, tc := range completes {
		t.Run("complete "+tc.name, func(t *testing.T) {
			r := wxpay.CompleteRequest{OutOrderNo: no, AppID: c.AppID, ServiceID: c.ServiceID, FinishType: 2, Fees: fees(1),
				FinishTicket: ticketOf(srv, no)}
			tc.edit(&r)
			client := r.ValidateToSend() != nil
			if sb := sandboxRefuses(t, "/v3/payscore/smartretail-orders/"+no+"/complete", r); client != sb {
				t.Errorf("client refuses: %v (%.300v), sandbox refuses: %v", client, r.ValidateToSend(), sb)
			}
		})
	}

	cancels := []struct {
		name string
		edit func(*wxpay.CancelRequest)
	}{
		{"appid past its bound", func(r *wxpay.CancelRequest) { r.AppID = strings.Repeat("w", wxpay.MaxAppIDLen+1) }},
		{"service_id past its bound", func(r *wxpay.CancelRequest) { r.ServiceID = strings.Repeat("5", wxpay.MaxServiceIDLen+1) }},
	}
	for _, tc := range cancels {
		t.Run("cancel "+tc.name, func(t *testing.T) {
			r := wxpay.CancelRequest{OutOrderNo: no, AppID: c.AppID, ServiceID: c.ServiceID, Reason: "r"}
			tc.edit(&r)
			client := r.Validate() != nil
			if sb := sandboxRefuses(t, "/v3/payscore/smartretail-orders/"+no+"/cancel", r); client != sb {
				t.Errorf("client refuses: %v (%.300v), sandbox refuses: %v", client, r.Validate(), sb)
			}
		})
	}
}
