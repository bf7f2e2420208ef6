package forward

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// A service-order complete that names no end time goes with the time
// WeChat Pay answered the query before it, in the precision of the
// order's start_time; one that names it, and every other operation, go as
// they are.
func TestAServiceOrderCompleteGetsTheQuerysTimeAsItsEnd(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	answered := time.Date(2026, 11, 29, 15, 4, 5, 0, cst)
	api := ServiceOrders{Now: func() time.Time { return answered.Add(time.Hour) }}
	confirmed := func(start string) *wxpay.ServiceOrder {
		return &wxpay.ServiceOrder{State: wxpay.ServiceOrderDoing, StateDescription: wxpay.DescriptionUserConfirm,
			TimeRange: &wxpay.TimeRange{StartTime: start}, AnsweredAt: answered}
	}
	complete := func(end string) json.RawMessage {
		r := wxpay.CompleteServiceOrderRequest{AppID: "wx1", ServiceID: "1", TotalAmount: 300,
			PostPayments: []wxpay.Payment{{Name: wxpay.SmartRetailPaymentName, Description: "可乐", Count: 1, Amount: 300}}}
		if end != "" {
			r.TimeRange = &wxpay.TimeRange{EndTime: end}
		}
		b, _ := json.Marshal(r)
		return b
	}
	endOf := func(v Verdict) string {
		t.Helper()
		if v.Action != Send {
			t.Fatalf("verdict %v %s, want send", v.Action, v.Message)
		}
		var r wxpay.CompleteServiceOrderRequest
		if err := json.Unmarshal(v.Body, &r); err != nil {
			t.Fatal(err)
		}
		if r.TimeRange == nil {
			return ""
		}
		return r.TimeRange.EndTime
	}
	for _, tc := range []struct {
		name, start, hostEnd, want string
		q                          *wxpay.ServiceOrder
	}{
		{"OnAccept", wxpay.StartTimeOnAccept, "", "20261129150405", nil},
		{"a start to the second", "20261129150000", "", "20261129150405", nil},
		{"a start to the day", "20261129", "", "20261129", nil},
		{"the host's own end", wxpay.StartTimeOnAccept, "20261129150001", "20261129150001", nil},
		{"no signed time: WeChat Pay's time less a second", wxpay.StartTimeOnAccept, "", "20261129160404",
			&wxpay.ServiceOrder{State: wxpay.ServiceOrderDoing, StateDescription: wxpay.DescriptionUserConfirm, TimeRange: &wxpay.TimeRange{StartTime: wxpay.StartTimeOnAccept}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			if q == nil {
				q = confirmed(tc.start)
			}
			if got := endOf(api.Before(outbox.OpComplete, complete(tc.hostEnd), false, q, nil)); got != tc.want {
				t.Errorf("before: end %q, want %q", got, tc.want)
			}
			// Found in flight, not applied: sent again the same way.
			if got := endOf(api.AfterQuery(outbox.OpComplete, complete(tc.hostEnd), false, false, q, nil)); got != tc.want {
				t.Errorf("after query: end %q, want %q", got, tc.want)
			}
		})
	}
	cancel, _ := json.Marshal(wxpay.CancelServiceOrderRequest{AppID: "wx1", ServiceID: "1", Reason: "未取货"})
	if v := api.Before(outbox.OpCancel, cancel, false, confirmed(wxpay.StartTimeOnAccept), nil); v.Action != Send || string(v.Body) != string(cancel) {
		t.Errorf("a cancel changed: %v %s", v.Action, v.Body)
	}
}
