package forward

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// The rule book, case by case (issue 9, item 12: the online path and the
// forwarder decided apart, and differently).
func TestAfterSend(t *testing.T) {
	netBefore := &wxpay.Error{Class: wxpay.Network}
	netAfter := &wxpay.Error{Class: wxpay.Network, ReachedServer: true}
	limited := &wxpay.Error{Class: wxpay.RateLimited, Code: "FREQUENCY_LIMITED", RetryAfter: 3 * time.Second}
	system := &wxpay.Error{Class: wxpay.Transient, Code: "SYSTEM_ERROR"}
	unverified := &wxpay.Error{Class: wxpay.Auth, ReachedServer: true, Message: "answer signature does not verify"}
	signErr := &wxpay.Error{Class: wxpay.Auth, Code: "SIGN_ERROR"}
	state := &wxpay.Error{Class: wxpay.Invalid, Code: "INVALID_REQUEST"}
	param := &wxpay.Error{Class: wxpay.Invalid, Code: "PARAM_ERROR"}
	missing := &wxpay.Error{Class: wxpay.NotFound, Code: "ORDER_NOT_EXIST"}
	timeRefused := &wxpay.Error{Class: wxpay.Auth, Code: "SIGN_ERROR", Clock: &wxpay.ClockFault{RequestRefused: true}}
	stale := &wxpay.Error{Class: wxpay.Auth, ReachedServer: true, Message: "stale answer", Clock: &wxpay.ClockFault{}}
	for _, tc := range []struct {
		kind outbox.OpKind
		err  error
		want Action
		code string
	}{
		{outbox.OpCreate, nil, Applied, ""},
		{outbox.OpComplete, nil, Applied, ""},
		{outbox.OpCreate, netBefore, Resend, ""},
		{outbox.OpCancel, netBefore, Resend, ""},
		{outbox.OpCreate, limited, Resend, ""},
		{outbox.OpCreate, netAfter, Reconcile, ""},
		{outbox.OpComplete, netAfter, Reconcile, ""},
		{outbox.OpCreate, system, Reconcile, ""},
		{outbox.OpCreate, unverified, Reconcile, ""},
		{outbox.OpCancel, unverified, Reconcile, ""},
		{outbox.OpCreate, errors.New("not from the client"), Reconcile, ""},
		{outbox.OpCreate, signErr, Refuse, "SIGN_ERROR"},
		{outbox.OpCreate, state, Refuse, "INVALID_REQUEST"},
		{outbox.OpCreate, param, Refuse, "PARAM_ERROR"},
		// Both paths check a refused cancel or complete, whatever the code.
		{outbox.OpComplete, state, Check, ""},
		{outbox.OpComplete, param, Check, ""},
		{outbox.OpCancel, state, Check, ""},
		{outbox.OpComplete, missing, Refuse, "ORDER_NOT_EXIST"},
		// A request refused for its timestamp was not processed: pending,
		// never failed; an answer too old to trust leaves the outcome open.
		{outbox.OpCreate, timeRefused, Resend, ""},
		{outbox.OpComplete, timeRefused, Resend, ""},
		{outbox.OpCreate, stale, Reconcile, ""},
		{outbox.OpComplete, stale, Reconcile, ""},
	} {
		v := AfterSend(tc.kind, tc.err)
		if v.Action != tc.want || v.Code != tc.code {
			t.Errorf("%s after %v: %v %q, want %v %q", tc.kind, tc.err, v.Action, v.Code, tc.want, tc.code)
		}
	}
	if v := AfterSend(outbox.OpCreate, limited); v.RetryAfter != 3*time.Second {
		t.Errorf("Retry-After not kept: %v", v.RetryAfter)
	}
}

func completeJSON(finishType int, total *int64, fees ...wxpay.Fee) json.RawMessage {
	b, _ := json.Marshal(wxpay.CompleteRequest{FinishType: finishType, TotalAmount: total, Fees: fees, CancelReason: "x"})
	return b
}

func TestAfterCheckAndAfterQuery(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	water := wxpay.Fee{FeeName: "水", FeeCount: 1, FeeAmount: 100}
	charge100 := completeJSON(2, i64(100), water)
	charge100NoTotal := completeJSON(2, nil, water)
	charge900 := completeJSON(2, i64(900), wxpay.Fee{FeeName: "水", FeeCount: 1, FeeAmount: 900})
	otherFee := completeJSON(2, i64(100), wxpay.Fee{FeeName: "茶", FeeCount: 1, FeeAmount: 100})
	cancelFlag := completeJSON(1, nil)
	cancel := json.RawMessage(`{"reason":"未取货"}`)
	finished := &wxpay.Order{State: wxpay.StateFinished, FinishType: 2, TotalAmount: 100, Fees: []wxpay.Fee{water}}
	paid := &wxpay.Order{State: wxpay.StateUserPaid, FinishType: 2, TotalAmount: 100}
	endedFree := &wxpay.Order{State: wxpay.StateFinished, FinishType: 1}
	revoked := &wxpay.Order{State: wxpay.StateRevoked}
	accepted := &wxpay.Order{State: wxpay.StateUserAccepted}
	created := &wxpay.Order{State: wxpay.StateCreated}
	expired := &wxpay.Order{State: wxpay.StateExpired}
	refusal := &wxpay.Error{Class: wxpay.Invalid, Code: "INVALID_REQUEST", Message: "order state invalid"}
	noAnswer := &wxpay.Error{Class: wxpay.Network, ReachedServer: true}
	noSuch := &wxpay.Error{Class: wxpay.NotFound, Code: "ORDER_NOT_EXIST"}
	notMine := &wxpay.Error{Class: wxpay.Auth, Code: "NO_AUTH"}

	check := []struct {
		name string
		kind outbox.OpKind
		body json.RawMessage
		ours bool
		q    *wxpay.Order
		qerr error
		want Action
	}{
		{"same complete applied", outbox.OpComplete, charge100, false, finished, nil, Applied},
		{"same complete, no total named", outbox.OpComplete, charge100NoTotal, false, finished, nil, Applied},
		{"same complete, paid since", outbox.OpComplete, charge100, false, paid, nil, Applied},
		{"another amount applied", outbox.OpComplete, charge900, false, finished, nil, Refuse},
		{"another fee applied", outbox.OpComplete, otherFee, false, finished, nil, Refuse},
		{"charge asked, ended free", outbox.OpComplete, charge100, false, endedFree, nil, Refuse},
		{"end free asked and applied", outbox.OpComplete, cancelFlag, false, endedFree, nil, Applied},
		{"end free asked, charged", outbox.OpComplete, cancelFlag, false, finished, nil, Refuse},
		{"complete refused, not completed", outbox.OpComplete, charge100, false, accepted, nil, Refuse},
		{"our own cancel, revoked", outbox.OpCancel, cancel, true, revoked, nil, Applied},
		{"a cancel not ours, revoked", outbox.OpCancel, cancel, false, revoked, nil, Refuse},
		{"cancel refused, finished", outbox.OpCancel, cancel, true, finished, nil, Refuse},
		{"query got no answer", outbox.OpComplete, charge100, false, nil, noAnswer, Reconcile},
		{"no such order", outbox.OpComplete, charge100, false, nil, noSuch, Refuse},
		{"query refused for good", outbox.OpComplete, charge100, false, nil, notMine, Refuse},
	}
	for _, tc := range check {
		v := AfterCheck(tc.kind, tc.body, tc.ours, refusal, tc.q, tc.qerr)
		if v.Action != tc.want {
			t.Errorf("AfterCheck %s: %v (%s), want %v", tc.name, v.Action, v.Message, tc.want)
		}
		if v.Action == Refuse && tc.q != nil && v.Code != "INVALID_REQUEST" {
			t.Errorf("AfterCheck %s: code %q, want the refusal's", tc.name, v.Code)
		}
	}

	create := json.RawMessage(`{"out_order_no":"X"}`)
	query := []struct {
		name                  string
		kind                  outbox.OpKind
		body                  json.RawMessage
		reconcileOnly, tooOld bool
		q                     *wxpay.Order
		qerr                  error
		want                  Action
		code                  string
	}{
		{"create found", outbox.OpCreate, create, false, false, accepted, nil, Applied, ""},
		{"create found, reconcile only", outbox.OpCreate, create, true, false, created, nil, Applied, ""},
		{"create not found", outbox.OpCreate, create, false, false, nil, noSuch, Send, ""},
		{"create not found, too old", outbox.OpCreate, create, false, true, nil, noSuch, Refuse, CodeExpiredOffline},
		{"create not found, reconcile only", outbox.OpCreate, create, true, false, nil, noSuch, Refuse, CodeNotCreated},
		{"create, no answer", outbox.OpCreate, create, false, false, nil, noAnswer, Reconcile, ""},
		{"create, query refused for good", outbox.OpCreate, create, false, false, nil, notMine, Refuse, "NO_AUTH"},
		{"complete applied", outbox.OpComplete, charge100, false, false, finished, nil, Applied, ""},
		{"complete not yet", outbox.OpComplete, charge100, false, false, accepted, nil, Send, ""},
		{"complete, applied otherwise", outbox.OpComplete, charge900, false, false, finished, nil, Refuse, "ORDER_STATE_FINISHED"},
		{"complete, order expired", outbox.OpComplete, charge100, false, false, expired, nil, Refuse, "ORDER_STATE_EXPIRED"},
		{"complete, no order", outbox.OpComplete, charge100, false, false, nil, noSuch, Refuse, "ORDER_NOT_EXIST"},
		{"cancel applied", outbox.OpCancel, cancel, false, false, revoked, nil, Applied, ""},
		{"cancel not yet", outbox.OpCancel, cancel, false, false, created, nil, Send, ""},
		{"cancel, completed", outbox.OpCancel, cancel, false, false, finished, nil, Refuse, "ORDER_STATE_FINISHED"},
	}
	for _, tc := range query {
		v := AfterQuery(tc.kind, tc.body, tc.reconcileOnly, tc.tooOld, tc.q, tc.qerr)
		if v.Action != tc.want || v.Code != tc.code {
			t.Errorf("AfterQuery %s: %v %q (%s), want %v %q", tc.name, v.Action, v.Code, v.Message, tc.want, tc.code)
		}
	}
}

// Before decides how a cancel or complete goes out, on the order's state
// read just before (issue 10, items 2 and 4).
func TestBefore(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	water := wxpay.Fee{FeeName: "水", FeeCount: 1, FeeAmount: 100}
	charge100 := completeJSON(2, i64(100), water)
	charge900 := completeJSON(2, i64(900), wxpay.Fee{FeeName: "水", FeeCount: 1, FeeAmount: 900})
	cancel := json.RawMessage(`{"appid":"wx1","service_id":"s1","reason":"未取货"}`)
	longReason := json.RawMessage(`{"appid":"wx1","service_id":"s1","reason":"` + strings.Repeat("长", 31) + `"}`)
	created := &wxpay.Order{State: wxpay.StateCreated, RiskAmount: 500}
	accepted := &wxpay.Order{State: wxpay.StateUserAccepted, RiskAmount: 500, FinishTicket: "TICKET"}
	finished := &wxpay.Order{State: wxpay.StateFinished, FinishType: 2, TotalAmount: 100, Fees: []wxpay.Fee{water}}
	endedFree := &wxpay.Order{State: wxpay.StateFinished, FinishType: 1}
	revoked := &wxpay.Order{State: wxpay.StateRevoked}
	expired := &wxpay.Order{State: wxpay.StateExpired}
	noSuch := &wxpay.Error{Class: wxpay.NotFound, Code: "ORDER_NOT_EXIST"}
	noAnswer := &wxpay.Error{Class: wxpay.Network, ReachedServer: true}
	for _, tc := range []struct {
		name string
		kind outbox.OpKind
		body json.RawMessage
		ours bool
		q    *wxpay.Order
		qerr error
		want Action
		wire outbox.OpKind
		code string
	}{
		{"cancel, not confirmed", outbox.OpCancel, cancel, false, created, nil, Send, outbox.OpCancel, ""},
		{"cancel, confirmed", outbox.OpCancel, cancel, false, accepted, nil, Send, outbox.OpComplete, ""},
		{"cancel, confirmed, reason too long for a complete", outbox.OpCancel, longReason, false, accepted, nil, Refuse, "", "PARAM_ERROR"},
		{"cancel, ours, revoked", outbox.OpCancel, cancel, true, revoked, nil, Applied, "", ""},
		{"cancel, ours, ended free", outbox.OpCancel, cancel, true, endedFree, nil, Applied, "", ""},
		{"cancel, not ours, revoked", outbox.OpCancel, cancel, false, revoked, nil, Refuse, "", "ORDER_STATE_REVOKED"},
		{"cancel, finished", outbox.OpCancel, cancel, true, finished, nil, Refuse, "", "ORDER_STATE_FINISHED"},
		{"cancel, expired", outbox.OpCancel, cancel, false, expired, nil, Refuse, "", "ORDER_STATE_EXPIRED"},
		{"complete, confirmed", outbox.OpComplete, charge100, false, accepted, nil, Send, outbox.OpComplete, ""},
		{"complete, above the risk amount", outbox.OpComplete, charge900, false, accepted, nil, Refuse, "", CodeTotalAboveRisk},
		{"complete, not confirmed", outbox.OpComplete, charge100, false, created, nil, Refuse, "", "ORDER_STATE_CREATED"},
		{"complete, applied", outbox.OpComplete, charge100, false, finished, nil, Applied, "", ""},
		{"no such order", outbox.OpCancel, cancel, false, nil, noSuch, Refuse, "", CodeOrderNotExist},
		{"no answer", outbox.OpComplete, charge100, false, nil, noAnswer, Reconcile, "", ""},
	} {
		v := Before(tc.kind, tc.body, tc.ours, tc.q, tc.qerr)
		if v.Action != tc.want || v.Wire != tc.wire || v.Code != tc.code {
			t.Errorf("%s: %v wire %q code %q (%s), want %v %q %q", tc.name, v.Action, v.Wire, v.Code, v.Message, tc.want, tc.wire, tc.code)
		}
	}
	// What goes out: a confirmed order's cancel is a complete with the
	// cancel flag, its reason, the order's ticket, nothing charged; a
	// complete gets the ticket.
	v := Before(outbox.OpCancel, cancel, false, accepted, nil)
	var c wxpay.CompleteRequest
	if err := json.Unmarshal(v.Body, &c); err != nil || c.FinishType != 1 || c.CancelReason != "未取货" || c.FinishTicket != "TICKET" ||
		c.AppID != "wx1" || c.ServiceID != "s1" || len(c.Fees) != 0 || c.Charge() != 0 {
		t.Errorf("a confirmed order's cancel goes as %s (%v)", v.Body, err)
	}
	v = Before(outbox.OpComplete, charge100, false, accepted, nil)
	if err := json.Unmarshal(v.Body, &c); err != nil || c.FinishTicket != "TICKET" || c.Charge() != 100 {
		t.Errorf("a complete goes as %s (%v)", v.Body, err)
	}
	// The ticket just read wins over one the host gave, which may be stale.
	var stale wxpay.CompleteRequest
	_ = json.Unmarshal(charge100, &stale)
	stale.FinishTicket = "OLD"
	sb, _ := json.Marshal(stale)
	v = Before(outbox.OpComplete, sb, false, accepted, nil)
	if err := json.Unmarshal(v.Body, &c); err != nil || c.FinishTicket != "TICKET" {
		t.Errorf("a complete with an old ticket goes as %s (%v)", v.Body, err)
	}
	// An end location the order already has is left out, as WeChat Pay wants.
	var r wxpay.CompleteRequest
	_ = json.Unmarshal(charge100, &r)
	r.RealServiceEndLocation = "柜机 K-17"
	b, _ := json.Marshal(r)
	at := *accepted
	at.ServiceStartLocation = "柜机 K-17"
	v = Before(outbox.OpComplete, b, false, &at, nil)
	if err := json.Unmarshal(v.Body, &c); err != nil || c.RealServiceEndLocation != "" {
		t.Errorf("a complete ending where it started goes as %s (%v)", v.Body, err)
	}
}
