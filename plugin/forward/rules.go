package forward

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kioskpay/smartretail/plugin/outbox"
	"github.com/kioskpay/smartretail/plugin/wxpay"
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
	// Send: a query showed it has not taken effect and can be sent now.
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
}

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
	refused := Verdict{Action: Refuse, Message: fmt.Sprint(refusal)}
	var re *wxpay.Error
	if errors.As(refusal, &re) {
		refused.Code = re.Code
	}
	if qerr != nil {
		if wxpay.ClassOf(qerr) == wxpay.NotFound {
			return refused
		}
		return queryFailed(qerr, "the query to check the refusal")
	}
	same, shown := appliedAs(q, kind, body, ours)
	if same {
		return Verdict{Action: Applied}
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
			return Verdict{Action: Send} // it never arrived: this is its first arrival
		}
		return Verdict{Action: Applied}
	case outbox.OpCancel, outbox.OpComplete:
		if notFound {
			return Verdict{Action: Refuse, Code: "ORDER_NOT_EXIST", Message: "WeChat Pay has no such order to " + string(kind)}
		}
		if same, _ := appliedAs(q, kind, body, true); same {
			return Verdict{Action: Applied}
		}
		if sendable(q.State, kind) {
			return Verdict{Action: Send}
		}
		_, shown := appliedAs(q, kind, body, true)
		return Verdict{Action: Refuse, Code: "ORDER_STATE_" + q.State,
			Message: fmt.Sprintf("WeChat Pay shows the order %s: it cannot take this %s", shown, kind)}
	}
	return Verdict{Action: Refuse, Code: "BAD_RECORD", Message: fmt.Sprintf("unknown operation %q", kind)}
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

// sendable says whether an order in state can take an operation of kind.
func sendable(state string, kind outbox.OpKind) bool {
	switch kind {
	case outbox.OpComplete:
		return state == wxpay.StateUserAccepted
	case outbox.OpCancel:
		return state == wxpay.StateCreated || state == wxpay.StateUserAccepted
	}
	return false
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
		return ours && q.State == wxpay.StateRevoked, shown
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
