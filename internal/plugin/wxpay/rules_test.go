package wxpay

import (
	"encoding/json"
	"strings"
	"testing"
)

// The complete's rules that are not a field's bound (sandbox/doc.go's
// table): what is always on the wire, and what is checked only when sending.

// profit_sharing is a required boolean and total_amount is required:
// both are on the wire whatever the request leaves unset, false and 0 too.
func TestCompleteAlwaysSendsTotalAndProfitSharing(t *testing.T) {
	cases := []struct {
		name      string
		r         CompleteRequest
		wantTotal float64
	}{
		{"finish, total given", validComplete(), 200},
		{"finish, total left out", func() CompleteRequest { r := validComplete(); r.TotalAmount = nil; return r }(), 200},
		{"cancel flag", CompleteRequest{OutOrderNo: "K1", AppID: "wx1", ServiceID: "500001", FinishType: FinishTypeCancel, CancelReason: "未取货"}, 0},
		{"cancel flag with fees", CompleteRequest{OutOrderNo: "K1", AppID: "wx1", ServiceID: "500001", FinishType: FinishTypeCancel,
			CancelReason: "未取货", Fees: []Fee{{FeeName: "水", FeeAmount: 300}}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, v := range []any{tc.r, &tc.r} {
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				if ps, ok := m["profit_sharing"]; !ok || ps != false {
					t.Errorf("profit_sharing %v (present %v) in %s", ps, ok, b)
				}
				if total, ok := m["total_amount"]; !ok || total != tc.wantTotal {
					t.Errorf("total_amount %v (present %v) in %s, want %v", total, ok, b, tc.wantTotal)
				}
				if _, ok := m["out_order_no"]; ok {
					t.Errorf("out_order_no is in the path, not the body: %s", b)
				}
			}
			// What the outbox keeps reads back as the same request.
			b, _ := json.Marshal(tc.r)
			var back CompleteRequest
			if err := json.Unmarshal(b, &back); err != nil || back.Charge() != tc.r.Charge() || back.TotalAmount == nil {
				t.Errorf("read back: %+v, %v", back, err)
			}
		})
	}
	r := validComplete()
	r.ProfitSharing = true
	if b, _ := json.Marshal(r); !strings.Contains(string(b), `"profit_sharing":true`) {
		t.Errorf("true is lost: %s", b)
	}
}

// finish_ticket is required when sending (the sandbox refuses a complete
// without it) but not to queue: only a query of the accepted order gives it.
func TestFinishTicketIsRequiredToSendNotToQueue(t *testing.T) {
	r := validComplete()
	if err := r.Validate(); err != nil {
		t.Fatalf("a complete without finish_ticket cannot be queued: %v", err)
	}
	if fields := fieldsOf(t, r.ValidateToSend()); len(fields) != 1 || fields[0] != "/finish_ticket" {
		t.Errorf("fields %v, want /finish_ticket", fields)
	}
	r.FinishTicket = "T1"
	if err := r.ValidateToSend(); err != nil {
		t.Errorf("with a ticket: %v", err)
	}
	// Every other rule holds when sending too.
	r.FinishType = 3
	if fields := fieldsOf(t, r.ValidateToSend()); fields[0] != "/finish_type" {
		t.Errorf("fields %v", fields)
	}
}

// A fee without fee_count counts 1: 0 is not sent.
func TestFeeCountDefaultsToOne(t *testing.T) {
	r := validCreate()
	r.Fees[0].FeeCount = 0
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(r); strings.Contains(string(b), "fee_count") {
		t.Errorf("a zero fee_count is sent: %s", b)
	}
}

// An openid is required without confirmation, and accepted with it.
func TestOpenIDWithAndWithoutConfirmation(t *testing.T) {
	for _, confirm := range []*bool{nil, ptr(true), ptr(false)} {
		r := validCreate()
		r.NeedUserConfirm, r.OpenID = confirm, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
		if err := r.Validate(); err != nil {
			t.Errorf("need_user_confirm %v with an openid: %v", confirm, err)
		}
	}
}

// real_service_end_location is left out when it repeats a location the
// order already has (what the client does at the moment of sending).
func TestRepeatedEndLocationIsLeftOut(t *testing.T) {
	o := &Order{ServiceStartLocation: "A栋1楼", ServiceEndLocation: "A栋门口"}
	for loc, want := range map[string]string{"A栋1楼": "", "A栋门口": "", "B栋": "B栋", "": ""} {
		r := validComplete()
		r.RealServiceEndLocation = loc
		if got := r.WithoutRepeatedEndLocation(o).RealServiceEndLocation; got != want {
			t.Errorf("%q: got %q, want %q", loc, got, want)
		}
		if r.RealServiceEndLocation != loc {
			t.Errorf("%q: the request itself was changed", loc)
		}
	}
	r := validComplete()
	r.RealServiceEndLocation = "B栋"
	if got := r.WithoutRepeatedEndLocation(nil).RealServiceEndLocation; got != "B栋" {
		t.Errorf("no order: %q", got)
	}
}
