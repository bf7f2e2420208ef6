package forward

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// The rule book: what WeChat Pay's answer means for an operation. These are
// pure functions of the operation, the answer and (where one was needed) a
// query of the order, used by the online path and the forwarder alike, so
// that an order is judged the same whichever of them sent it.

// Action is what becomes of an operation after an answer.
type Action int

// The actions.
const (
	// Applied: it took effect at WeChat Pay. Record the answer.
	Applied Action = iota + 1
	// Resend: it surely did not take effect (it never arrived, or WeChat
	// Pay turned it away unprocessed): send it again later, unchanged.
	Resend
	// Reconcile: it may have taken effect and no trusted answer says: keep
	// it in flight; a query decides before anything is sent again.
	Reconcile
	// Check: refused, perhaps because an earlier attempt whose answer was
	// lost already applied it: query the order, then AfterCheck decides.
	Check
	// Send: a query showed it has not taken effect and can be sent now:
	// as Verdict.Wire with Verdict.Body.
	Send
	// Refuse: refused for good. Code and Message say why.
	Refuse
)

var actionNames = map[Action]string{Applied: "applied", Resend: "resend", Reconcile: "reconcile",
	Check: "check", Send: "send", Refuse: "refuse"}

func (a Action) String() string {
	if s, ok := actionNames[a]; ok {
		return s
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Verdict is the rule book's decision.
type Verdict struct {
	Action Action
	// Code and Message, for Refuse: WeChat Pay's code (or one of ours, such
	// as ORDER_STATE_REVOKED) and what to tell the host or the failed list.
	Code    string
	Message string
	// RetryAfter, for Resend: WeChat Pay's Retry-After, if it gave one.
	RetryAfter time.Duration
	// Wire and Body, for Send of a cancel or complete: what goes out. A
	// cancel of an order the customer has confirmed goes as a complete
	// with finish_type 1; a complete goes with the order's finish_ticket.
	Wire outbox.OpKind
	Body json.RawMessage
}

// Our codes for refusals decided on the order's state, beside WeChat Pay's.
const (
	CodeOrderNotExist     = "ORDER_NOT_EXIST"
	CodeOrderStatePrefix  = "ORDER_STATE_"            // shared.ReasonOrderStatePrefix on the wire
	CodeTotalAboveRisk    = "TOTAL_ABOVE_RISK_AMOUNT" // shared.ReasonTotalAboveRisk
	maxCancelReasonAsComp = 30                        // cancel_reason of a complete (the design notes' corrections, "likely")
)

// AfterSend judges the answer to sending an operation of kind.
func AfterSend(kind outbox.OpKind, err error) Verdict {
	if err == nil {
		return Verdict{Action: Applied}
	}
	var we *wxpay.Error
	if !errors.As(err, &we) {
		// Not an answer from the client: nothing says it did not leave.
		return Verdict{Action: Reconcile}
	}
	switch {
	case we.Class == wxpay.Network && !we.ReachedServer:
		return Verdict{Action: Resend}
	case we.Clock != nil && we.Clock.RequestRefused:
		// Its timestamp was refused: not processed. Sent again, on the
		// time the refusal said.
		return Verdict{Action: Resend}
	case we.Class == wxpay.RateLimited:
		return Verdict{Action: Resend, RetryAfter: we.RetryAfter}
	case we.Ambiguous():
		// No answer after it may have arrived, a system error, or an
		// answer that does not verify.
		return Verdict{Action: Reconcile}
	case we.Class == wxpay.Invalid && kind != outbox.OpCreate:
		// Any refusal, not only INVALID_REQUEST: WeChat Pay may check a
		// field (a finish_ticket that changed) before the order's state.
		return Verdict{Action: Check}
	default:
		return Verdict{Action: Refuse, Code: we.Code, Message: we.Error()}
	}
}

// AfterCheck judges a cancel or complete that WeChat Pay refused
// (refusal), from a query of the order (q, or the query's error). It was
// applied only if what WeChat Pay shows is what body asks: a complete with
// the same finish type and amounts; a cancel that the order's record says
// was this one (ours is true when the outbox holds this very operation, so
// a revoked order was revoked by it: WeChat Pay's query does not show a
// cancel's reason).
func AfterCheck(kind outbox.OpKind, body json.RawMessage, ours bool, refusal error, q *wxpay.Order, qerr error) Verdict {
	refused := refusalOf(refusal)
	if v, done := checkWithoutOrder(refused, qerr); done {
		return v
	}
	same, shown := appliedAs(q, kind, body, ours)
	if same {
		return Verdict{Action: Applied}
	}
	if kind == outbox.OpCancel && q.State == wxpay.StateUserAccepted {
		// The customer confirmed between the query and the cancel: it is
		// now sent as a complete with finish_type 1 (Before decides).
		return Verdict{Action: Resend}
	}
	refused.Message += "; WeChat Pay shows the order " + shown
	return refused
}

// AfterQuery judges an operation found in flight (sent, outcome unknown)
// from a query of its order. reconcileOnly: a create the host would not
// queue, never to be sent again; tooOld: a create past offline_max_age,
// not to be sent for the first time.
func AfterQuery(kind outbox.OpKind, body json.RawMessage, reconcileOnly, tooOld bool, q *wxpay.Order, qerr error) Verdict {
	notFound := wxpay.ClassOf(qerr) == wxpay.NotFound
	if qerr != nil && !notFound {
		return queryFailed(qerr, "the query to reconcile it")
	}
	switch kind {
	case outbox.OpCreate:
		switch {
		case notFound && reconcileOnly:
			return Verdict{Action: Refuse, Code: CodeNotCreated,
				Message: "WeChat Pay has no such order: it was not created (the host was told it was not queued)"}
		case notFound && tooOld:
			return Verdict{Action: Refuse, Code: CodeExpiredOffline,
				Message: "WeChat Pay has no such order, and it is older than offline_max_age: not sent again"}
		case notFound:
			return Verdict{Action: Send, Wire: kind, Body: body} // it never arrived: this is its first arrival
		}
		return Verdict{Action: Applied}
	case outbox.OpCancel, outbox.OpComplete:
		// Ours: the outbox holds this very operation in flight.
		return Before(kind, body, true, q, qerr)
	}
	return Verdict{Action: Refuse, Code: "BAD_RECORD", Message: fmt.Sprintf("unknown operation %q", kind)}
}

// Before judges a cancel or complete about to be sent, from a query of its
// order made just before: applied already (ours: the outbox holds this very
// operation, sent before), refused for the order's state, or how to send
// it. A cancel is a cancel while the customer has not confirmed (CREATED);
// once they have (USER_ACCEPTED), WeChat Pay refuses a cancel and the only
// way to end the order uncharged is a complete with finish_type 1 and the
// reason as cancel_reason. A complete goes with the order's finish_ticket
// (WeChat Pay wants it; the query gives it) and charges no more than the
// order's risk_amount.
func Before(kind outbox.OpKind, body json.RawMessage, ours bool, q *wxpay.Order, qerr error) Verdict {
	if wxpay.ClassOf(qerr) == wxpay.NotFound {
		return Verdict{Action: Refuse, Code: CodeOrderNotExist, Message: "WeChat Pay has no such order to " + string(kind)}
	}
	if qerr != nil {
		return queryFailed(qerr, "the query before sending")
	}
	same, shown := appliedAs(q, kind, body, ours)
	if same {
		return Verdict{Action: Applied}
	}
	stateRefusal := Verdict{Action: Refuse, Code: CodeOrderStatePrefix + q.State,
		Message: fmt.Sprintf("WeChat Pay shows the order %s: it cannot take this %s", shown, kind)}
	switch kind {
	case outbox.OpCancel:
		var r wxpay.CancelRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return Verdict{Action: Refuse, Code: "BAD_RECORD", Message: "the cancel cannot be read: " + err.Error()}
		}
		switch q.State {
		case wxpay.StateCreated:
			return Verdict{Action: Send, Wire: outbox.OpCancel, Body: body}
		case wxpay.StateUserAccepted:
			if utf8.RuneCountInString(r.Reason) > maxCancelReasonAsComp {
				return Verdict{Action: Refuse, Code: "PARAM_ERROR", Message: fmt.Sprintf(
					"the customer has confirmed the order, so it is ended by a complete with finish_type 1, whose cancel_reason takes at most %d characters: this reason has %d", maxCancelReasonAsComp, utf8.RuneCountInString(r.Reason))}
			}
			c := wxpay.CompleteRequest{AppID: r.AppID, ServiceID: r.ServiceID, FinishType: wxpay.FinishTypeCancel,
				CancelReason: r.Reason, FinishTicket: q.FinishTicket}
			b, _ := json.Marshal(c)
			return Verdict{Action: Send, Wire: outbox.OpComplete, Body: b}
		}
		return stateRefusal
	case outbox.OpComplete:
		var r wxpay.CompleteRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return Verdict{Action: Refuse, Code: "BAD_RECORD", Message: "the complete cannot be read: " + err.Error()}
		}
		if q.State != wxpay.StateUserAccepted {
			return stateRefusal
		}
		if r.FinishType == wxpay.FinishTypeFinish && q.RiskAmount > 0 && r.Charge() > q.RiskAmount {
			return Verdict{Action: Refuse, Code: CodeTotalAboveRisk, Message: fmt.Sprintf(
				"the complete charges %d fen, more than the order's risk_amount of %d fen: WeChat Pay refuses it", r.Charge(), q.RiskAmount)}
		}
		if q.FinishTicket != "" {
			r.FinishTicket = q.FinishTicket // the one just read: a host's, or one kept since, may be stale
		}
		r = r.WithoutRepeatedEndLocation(q) // WeChat Pay wants it left out then
		b, _ := json.Marshal(r)
		return Verdict{Action: Send, Wire: outbox.OpComplete, Body: b}
	}
	return Verdict{Action: Refuse, Code: "BAD_RECORD", Message: fmt.Sprintf("unknown operation %q", kind)}
}

// refusalOf is WeChat Pay's refusal as a Verdict, with its code.
func refusalOf(refusal error) Verdict {
	refused := Verdict{Action: Refuse, Message: fmt.Sprint(refusal)}
	var re *wxpay.Error
	if errors.As(refusal, &re) {
		refused.Code = re.Code
	}
	return refused
}

// checkWithoutOrder judges a refused operation whose check found no order
// to compare (done): none at all, the refusal stands; no answer, wait.
func checkWithoutOrder(refused Verdict, qerr error) (v Verdict, done bool) {
	switch {
	case qerr == nil:
		return Verdict{}, false
	case wxpay.ClassOf(qerr) == wxpay.NotFound:
		return refused, true
	}
	return queryFailed(qerr, "the query to check the refusal"), true
}

// queryFailed judges an operation whose query got no usable answer. A
// query WeChat Pay refuses for good (the service or app is not the
// merchant's) says the operation, made with the same ids, would be refused
// too. Anything else: wait, and ask again.
func queryFailed(qerr error, what string) Verdict {
	var we *wxpay.Error
	if errors.As(qerr, &we) && !we.Retryable() && !we.Ambiguous() {
		return Verdict{Action: Refuse, Code: we.Code, Message: "WeChat Pay refused " + what + ": " + we.Error()}
	}
	v := Verdict{Action: Reconcile}
	if errors.As(qerr, &we) {
		v.RetryAfter = we.RetryAfter
	}
	return v
}

// appliedAs says whether the order WeChat Pay shows (q) is what applying
// body would have made of it, and describes what it shows (for messages).
func appliedAs(q *wxpay.Order, kind outbox.OpKind, body json.RawMessage, ours bool) (bool, string) {
	shown := q.State
	switch q.State {
	case wxpay.StateFinished, wxpay.StateUserPaid:
		shown = fmt.Sprintf("%s (finish_type %d, total_amount %d fen)", q.State, q.FinishType, q.TotalAmount)
	}
	switch kind {
	case outbox.OpCancel:
		// Revoked by a cancel, or (once the customer had confirmed) ended
		// by a complete with finish_type 1, nothing charged.
		endedFree := (q.State == wxpay.StateFinished || q.State == wxpay.StateUserPaid) && q.FinishType == wxpay.FinishTypeCancel && q.TotalAmount == 0
		return ours && (q.State == wxpay.StateRevoked || endedFree), shown
	case outbox.OpComplete:
		var r wxpay.CompleteRequest
		if json.Unmarshal(body, &r) != nil || (q.State != wxpay.StateFinished && q.State != wxpay.StateUserPaid) {
			return false, shown
		}
		if q.FinishType != r.FinishType {
			return false, shown
		}
		if r.FinishType != wxpay.FinishTypeFinish {
			return q.TotalAmount == 0, shown
		}
		return q.TotalAmount == r.Charge() && sameFees(q.Fees, r.Fees) && sameDiscounts(q.Discounts, r.Discounts), shown
	}
	return false, shown
}

// sameFees compares charge lines by name and amount; a query that shows
// none (WeChat Pay need not echo them) does not contradict.
func sameFees(shown, asked []wxpay.Fee) bool {
	if len(shown) == 0 {
		return true
	}
	key := func(f wxpay.Fee) string { return fmt.Sprintf("%s\x00%d", f.FeeName, f.FeeAmount) }
	return sameKeys(shown, asked, key)
}

func sameDiscounts(shown, asked []wxpay.Discount) bool {
	if len(shown) == 0 {
		return true
	}
	key := func(d wxpay.Discount) string { return fmt.Sprintf("%s\x00%d", d.DiscountName, d.DiscountAmount) }
	return sameKeys(shown, asked, key)
}

func sameKeys[T any](a, b []T, key func(T) string) bool {
	if len(a) != len(b) {
		return false
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}
