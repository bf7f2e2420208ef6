package forward

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// A complete's times, on both APIs: the host's own (moved onto WeChat
// Pay's clock), else what the outbox knows of the sale (a sale that
// waited says when it began and ended), kept between the start and the
// moment WeChat Pay answered the query before the complete.
func TestACompleteCarriesTheSalesRealTimes(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	at := func(hhmmss string) time.Time {
		t, _ := time.ParseInLocation("20060102150405", "20261129"+hhmmss, cst)
		return t
	}
	answered := at("110000")                                                 // WeChat Pay answered the query at 11:00
	ahead := func(t time.Time) time.Time { return t.Add(-10 * time.Minute) } // the kiosk's clock is 10 minutes ahead
	for _, tc := range []struct {
		name                   string
		hostStart, hostEnd     string
		sale                   Sale
		orderStart             string // the service order's start_time; "" OnAccept
		wantStart, wantEnd     string // smart retail
		wantSOStart, wantSOEnd string // service orders
	}{
		{name: "online, no times: the end is the moment of the query (service orders need one)",
			wantSOEnd: "20261129110000"},
		{name: "online, no signed time: a second before WeChat Pay's time now",
			sale: Sale{Now: at("120000")}, wantSOEnd: "20261129115959"},
		{name: "a sale that waited: its own start and end",
			sale:      Sale{Started: at("100000"), Ended: at("100500")},
			wantStart: "20261129100000", wantEnd: "20261129100500", wantSOStart: "20261129100000", wantSOEnd: "20261129100500"},
		{name: "the host's times win over the sale's",
			hostStart: "20261129100100", hostEnd: "20261129100400", sale: Sale{Started: at("100000"), Ended: at("100500")},
			wantStart: "20261129100100", wantEnd: "20261129100400", wantSOStart: "20261129100100", wantSOEnd: "20261129100400"},
		{name: "a kiosk 10 minutes ahead: the host's times move onto WeChat Pay's clock",
			hostStart: "20261129101000", hostEnd: "20261129101500", sale: Sale{FromKiosk: ahead},
			wantStart: "20261129100000", wantEnd: "20261129100500", wantSOStart: "20261129100000", wantSOEnd: "20261129100500"},
		{name: "an end in WeChat Pay's future is clamped to the moment it answered",
			hostEnd: "20261129113000", wantEnd: "20261129110000", wantSOEnd: "20261129110000"},
		{name: "an end before the start is raised to it, and the start goes a second before the end",
			hostStart: "20261129100500", hostEnd: "20261129100000",
			wantStart: "20261129100459", wantEnd: "20261129100500", wantSOStart: "20261129100459", wantSOEnd: "20261129100500"},
		{name: "a start of the plugin's reckoning ahead of WeChat Pay's answer: the end stays at the answer",
			sale:      Sale{Started: at("110001").Add(200 * time.Millisecond), Ended: at("110001").Add(400 * time.Millisecond)},
			wantStart: "20261129105959", wantEnd: "20261129110000", wantSOStart: "20261129105959", wantSOEnd: "20261129110000"},
		{name: "a day is sent as given",
			hostEnd: "20261129", wantEnd: "20261129", wantSOEnd: "20261129"},
		{name: "an order started to the day: times to the day",
			orderStart: "20261129", sale: Sale{Started: at("100000"), Ended: at("100500")},
			wantStart: "20261129100000", wantEnd: "20261129100500", wantSOStart: "20261129", wantSOEnd: "20261129"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr := wxpay.CompleteRequest{AppID: "wx1", ServiceID: "1", FinishType: wxpay.FinishTypeFinish,
				RealServiceStartTime: tc.hostStart, RealServiceEndTime: tc.hostEnd}
			var got wxpay.CompleteRequest
			q := &wxpay.Order{State: wxpay.StateUserAccepted, AnsweredAt: answered}
			if tc.sale.Now.IsZero() {
				q.AnsweredAt = answered
			} else {
				q.AnsweredAt = time.Time{}
			}
			if err := json.Unmarshal(SmartRetail{}.Times(outbox.OpComplete, marshalBody(sr), q, tc.sale), &got); err != nil {
				t.Fatal(err)
			}
			if tc.wantEnd != "" || tc.wantStart != "" || tc.hostEnd != "" {
				if got.RealServiceStartTime != tc.wantStart || got.RealServiceEndTime != tc.wantEnd {
					t.Errorf("smart retail: %q .. %q, want %q .. %q", got.RealServiceStartTime, got.RealServiceEndTime, tc.wantStart, tc.wantEnd)
				}
			}
			so := wxpay.CompleteServiceOrderRequest{AppID: "wx1", ServiceID: "1", TotalAmount: 300}
			if tc.hostStart != "" || tc.hostEnd != "" {
				so.TimeRange = &wxpay.TimeRange{StartTime: tc.hostStart, EndTime: tc.hostEnd}
			}
			start := wxpay.StartTimeOnAccept
			if tc.orderStart != "" {
				start = tc.orderStart
			}
			sq := &wxpay.ServiceOrder{State: wxpay.ServiceOrderDoing, StateDescription: wxpay.DescriptionUserConfirm,
				TimeRange: &wxpay.TimeRange{StartTime: start}, AnsweredAt: q.AnsweredAt}
			var sgot wxpay.CompleteServiceOrderRequest
			if err := json.Unmarshal(ServiceOrders{}.Times(outbox.OpComplete, marshalBody(so), sq, tc.sale), &sgot); err != nil {
				t.Fatal(err)
			}
			if sgot.TimeRange == nil || sgot.TimeRange.StartTime != tc.wantSOStart || sgot.TimeRange.EndTime != tc.wantSOEnd {
				t.Errorf("service order: %+v, want %q .. %q", sgot.TimeRange, tc.wantSOStart, tc.wantSOEnd)
			}
		})
	}
	// What is not a charging complete goes as it is.
	free, _ := json.Marshal(wxpay.CompleteRequest{AppID: "wx1", ServiceID: "1", FinishType: wxpay.FinishTypeCancel, CancelReason: "未取货"})
	if got := (SmartRetail{}).Times(outbox.OpComplete, free, &wxpay.Order{AnsweredAt: answered}, Sale{Started: at("100000")}); string(got) != string(free) {
		t.Errorf("an uncharged complete changed: %s", got)
	}
	cancel, _ := json.Marshal(wxpay.CancelServiceOrderRequest{AppID: "wx1", ServiceID: "1", Reason: "未取货"})
	if got := (ServiceOrders{}).Times(outbox.OpCancel, cancel, &wxpay.ServiceOrder{AnsweredAt: answered}, Sale{}); string(got) != string(cancel) {
		t.Errorf("a cancel changed: %s", got)
	}
}
