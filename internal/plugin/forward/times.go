package forward

import (
	"encoding/json"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// The times of a sale. A sale made offline at 10:00 may reach WeChat Pay
// at 11:00; with service_start_time OnAccept, WeChat Pay takes 11:00 as its
// start, and a complete that says the door closed at 10:05 would say the
// service ended before it began. WeChat Pay wants a complete's real end
// after the start and not after the moment the complete arrives (the
// service-order pages; the sandbox assumes the same for smart retail). So
// a complete goes with:
//   - the real start: the host's, else, when the outbox held the sale's
//     create, the moment the host made the sale;
//   - the real end: the host's, else the moment the host asked for the
//     complete (a complete that waited), else, for a service order that
//     needs one, the moment WeChat Pay answered the query just before;
//   - all on WeChat Pay's clock: a host's times, read off the kiosk's
//     clock, move by the offset the answers showed; a moment the plugin
//     stamped is placed by how long ago it was (clock.WeChatTimeOf);
//   - the end kept between the start (the real start, else WeChat Pay's
//     own) and the moment WeChat Pay answered the query just before (it
//     passed by the time the complete arrives): an end in WeChat Pay's
//     future, a kiosk's clock ahead, is clamped, not refused: the sale was
//     real and the customer has left; the start comes at least a second
//     before the end.
// Host times given to the day (yyyyMMdd) are sent as given.

// Sale is what the outbox knows of a sale's times, on WeChat Pay's clock.
type Sale struct {
	// Started: when the host made the sale, when the outbox holds its
	// create (queued, or kept since it was sent); zero otherwise (its
	// create went online: WeChat Pay's own start stands).
	Started time.Time
	// Ended: when the host asked for the complete; zero when unknown.
	Ended time.Time
	// Now is WeChat Pay's time now, for an order whose query carried no
	// signed time.
	Now time.Time
	// FromKiosk moves a time read off the kiosk's clock to WeChat Pay's
	// (nil: unmoved).
	FromKiosk func(time.Time) time.Time
}

// Sale is what the outbox record o knows of its sale's times, for its
// last operation of kind.
func (f *Forwarder) Sale(o *outbox.Order, kind outbox.OpKind) Sale {
	s := Sale{FromKiosk: f.opts.Clock.FromKiosk}
	s.Now, _ = f.opts.Clock.WeChatNow()
	if o == nil {
		return s
	}
	if o.Has(outbox.OpCreate) {
		s.Started, _ = f.opts.Clock.WeChatTimeOf(o.AgeStamp())
	}
	for i := len(o.Ops) - 1; i >= 0; i-- {
		if op := o.Ops[i]; op.Kind == kind {
			if op.Asked != nil {
				s.Ended, _ = f.opts.Clock.WeChatTimeOf(*op.Asked)
			}
			break
		}
	}
	return s
}

// span is a complete's times worked out: start and end on WeChat Pay's
// clock (zero: not sent), or given as they are (a day).
type span struct {
	start, end         time.Time
	startText, endText string // sent as given (a day), when set
}

// times works out a complete's times: host's given ones (text), the
// sale, WeChat Pay's own start (wechatStart, on its clock; zero when not
// known), the moment WeChat Pay answered (answered), and whether an end
// must be sent (needEnd).
func (s Sale) times(startText, endText string, wechatStart, answered time.Time, needEnd bool) span {
	var sp span
	read := func(text string, into *time.Time, keep *string) {
		if text == "" {
			return
		}
		t, err := wxpay.ParseTime(text)
		if err != nil || len(text) != 14 {
			*keep = text // a day, or what the checks let through: as given
			return
		}
		if s.FromKiosk != nil {
			t = s.FromKiosk(t)
		}
		*into = t
	}
	read(startText, &sp.start, &sp.startText)
	read(endText, &sp.end, &sp.endText)
	if sp.start.IsZero() && sp.startText == "" {
		sp.start = s.Started
	}
	upper := answered
	if upper.IsZero() {
		upper = s.Now.Add(-time.Second)
	}
	if sp.end.IsZero() && sp.endText == "" {
		sp.end = s.Ended
		if sp.end.IsZero() && needEnd {
			sp.end = upper
		}
	}
	lower := sp.start
	if lower.IsZero() {
		lower = wechatStart
	}
	if !sp.end.IsZero() {
		if !lower.IsZero() && sp.end.Before(lower) {
			sp.end = lower
		}
		// Last, never after the moment WeChat Pay answered: a start of the
		// plugin's own reckoning can be a little ahead of it (WeChat Pay's
		// time is known to about a second), WeChat Pay's own start never is.
		if sp.end.After(upper) {
			sp.end = upper
		}
	}
	// The start a second before the end (or the answer) at least: the old
	// wiki wants the end after the start, not at it (the client checks so).
	last := upper
	if !sp.end.IsZero() {
		last = sp.end
	}
	if last = last.Truncate(time.Second).Add(-time.Second); !sp.start.IsZero() && sp.start.After(last) {
		sp.start = last
	}
	return sp
}

func (sp span) text(t time.Time, given string, day bool) string {
	switch {
	case given != "":
		return given
	case t.IsZero():
		return ""
	case day:
		return wxpay.FormatTime(t)[:8]
	}
	return wxpay.FormatTime(t)
}

// Times implements API: a charging complete's real_service_start_time and
// real_service_end_time.
func (SmartRetail) Times(kind outbox.OpKind, body json.RawMessage, q Shown, sale Sale) json.RawMessage {
	var r wxpay.CompleteRequest
	if kind != outbox.OpComplete || json.Unmarshal(body, &r) != nil || r.FinishType != wxpay.FinishTypeFinish {
		return body
	}
	o := asOrder(q)
	var wechatStart time.Time
	if t, err := wxpay.ParseTime(o.RealServiceStartTime); err == nil {
		wechatStart = t
	}
	sp := sale.times(r.RealServiceStartTime, r.RealServiceEndTime, wechatStart, o.AnsweredAt, false)
	r.RealServiceStartTime = sp.text(sp.start, sp.startText, false)
	r.RealServiceEndTime = sp.text(sp.end, sp.endText, false)
	return marshalBody(r)
}

// Times implements API: a complete's time_range, in the precision of the
// order's start_time (the day, when that was a day), with an end always:
// WeChat Pay wants one when the create gave none.
func (ServiceOrders) Times(kind outbox.OpKind, body json.RawMessage, q Shown, sale Sale) json.RawMessage {
	var r wxpay.CompleteServiceOrderRequest
	if kind != outbox.OpComplete || json.Unmarshal(body, &r) != nil {
		return body
	}
	o := asServiceOrder(q)
	var start, end string
	if r.TimeRange != nil {
		start, end = r.TimeRange.StartTime, r.TimeRange.EndTime
	}
	day := false
	var wechatStart time.Time
	if o.TimeRange != nil && o.TimeRange.StartTime != wxpay.StartTimeOnAccept {
		day = len(o.TimeRange.StartTime) == 8
		if t, err := wxpay.ParseTime(o.TimeRange.StartTime); err == nil {
			wechatStart = t
		}
	}
	sp := sale.times(start, end, wechatStart, o.AnsweredAt, true)
	if r.TimeRange == nil {
		r.TimeRange = &wxpay.TimeRange{}
	}
	r.TimeRange.StartTime = sp.text(sp.start, sp.startText, day)
	r.TimeRange.EndTime = sp.text(sp.end, sp.endText, day)
	if *r.TimeRange == (wxpay.TimeRange{}) {
		r.TimeRange = nil
	}
	return marshalBody(r)
}
