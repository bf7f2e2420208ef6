package forward

import (
	"encoding/json"
	"fmt"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// The rule book for Pay Score service orders (/v3/payscore/serviceorder):
// the same decisions as rules.go's, on a service order's state
// (../shared/design/wechatpay-serviceorder.md section 3: state, with
// state_description while DOING, and collection.state). AfterSend is the
// same for both APIs: it reads only the error. Where the sources conflict
// (a cancel while payment is pending; how many modifies), the operation is
// sent and WeChat Pay's answer decides.

// ServiceOrderBefore judges a cancel, complete, modify, pay or sync about
// to be sent, from a query of its order made just before: applied already
// (ours: the outbox holds this very operation, sent before), refused for
// the order's state, or sent as it is.
func ServiceOrderBefore(kind outbox.OpKind, body json.RawMessage, ours bool, q *wxpay.ServiceOrder, qerr error) Verdict {
	if wxpay.ClassOf(qerr) == wxpay.NotFound {
		return Verdict{Action: Refuse, Code: CodeOrderNotExist, Message: "WeChat Pay has no such order to " + string(kind)}
	}
	if qerr != nil {
		return queryFailed(qerr, "the query before sending")
	}
	same, shown, err := serviceOrderAppliedAs(q, kind, body, ours)
	if err != nil {
		return Verdict{Action: Refuse, Code: "BAD_RECORD", Message: fmt.Sprintf("the %s cannot be read: %v", kind, err)}
	}
	if same {
		return Verdict{Action: Applied}
	}
	send := Verdict{Action: Send, Wire: kind, Body: body}
	refuse := Verdict{Action: Refuse, Code: CodeOrderStatePrefix + serviceOrderStateCode(q),
		Message: fmt.Sprintf("WeChat Pay shows the order %s: it cannot take this %s", shown, kind)}
	confirmed := q.State == wxpay.ServiceOrderDoing && q.StateDescription == wxpay.DescriptionUserConfirm
	awaitingPayment := q.State == wxpay.ServiceOrderDoing && q.StateDescription == wxpay.DescriptionMchComplete
	switch kind {
	case outbox.OpCancel:
		// Cancel while payment is pending: the official page allows it, other
		// sources do not; sent, and WeChat Pay's answer decides.
		if q.State == wxpay.ServiceOrderCreated || confirmed || awaitingPayment {
			return send
		}
	case outbox.OpComplete:
		if confirmed {
			var r wxpay.CompleteServiceOrderRequest
			_ = json.Unmarshal(body, &r) // read by serviceOrderAppliedAs
			if capped := deposit(q); capped && r.TotalAmount > q.RiskFund.Amount {
				return Verdict{Action: Refuse, Code: CodeTotalAboveRisk, Message: fmt.Sprintf(
					"the complete charges %d fen, more than the order's risk fund (%s) of %d fen: WeChat Pay refuses it", r.TotalAmount, q.RiskFund.Name, q.RiskFund.Amount)}
			}
			return send
		}
	case outbox.OpModify:
		var r wxpay.ModifyServiceOrderRequest
		_ = json.Unmarshal(body, &r)
		if awaitingPayment && q.Collection != nil && q.Collection.State == wxpay.CollectionUserPaying {
			if r.TotalAmount >= q.TotalAmount {
				return Verdict{Action: Refuse, Code: "PARAM_ERROR", Message: fmt.Sprintf(
					"a modify only lowers the amount: the order charges %d fen, the modify %d fen", q.TotalAmount, r.TotalAmount)}
			}
			return send
		}
	case outbox.OpPay, outbox.OpSync:
		if awaitingPayment {
			return send
		}
	default:
		return Verdict{Action: Refuse, Code: "BAD_RECORD", Message: fmt.Sprintf("unknown operation %q", kind)}
	}
	return refuse
}

// ServiceOrderAfterCheck judges a cancel, complete or modify WeChat Pay
// refused (refusal), from a query of the order: applied only if the order
// shows what body asks (see serviceOrderAppliedAs).
func ServiceOrderAfterCheck(kind outbox.OpKind, body json.RawMessage, ours bool, refusal error, q *wxpay.ServiceOrder, qerr error) Verdict {
	refused := refusalOf(refusal)
	if v, done := checkWithoutOrder(refused, qerr); done {
		return v
	}
	same, shown, err := serviceOrderAppliedAs(q, kind, body, ours)
	if err == nil && same {
		return Verdict{Action: Applied}
	}
	refused.Message += "; WeChat Pay shows the order " + shown
	return refused
}

// ServiceOrderAfterQuery judges an operation found in flight from a query
// of its order, as AfterQuery does for smart-retail orders.
func ServiceOrderAfterQuery(kind outbox.OpKind, body json.RawMessage, reconcileOnly, tooOld bool, q *wxpay.ServiceOrder, qerr error) Verdict {
	if kind == outbox.OpCreate {
		// Whether a create arrived is the same question on both APIs: is
		// the order there.
		if wxpay.ClassOf(qerr) == wxpay.NotFound || qerr != nil {
			return AfterQuery(kind, body, reconcileOnly, tooOld, nil, qerr)
		}
		return Verdict{Action: Applied}
	}
	return ServiceOrderBefore(kind, body, true, q, qerr) // ours: the outbox holds this very operation in flight
}

// serviceOrderAppliedAs says whether the order WeChat Pay shows is what
// applying body would have made of it, and describes what it shows.
//   - cancel: REVOKED, and ours (a query does not show a cancel's reason);
//   - complete: completed (awaiting payment, or paid) with the same total
//     and the same product lines (or none shown);
//   - modify: completed with the modify's total, and ours;
//   - pay: paid; sync: paid by the merchant's channel.
func serviceOrderAppliedAs(q *wxpay.ServiceOrder, kind outbox.OpKind, body json.RawMessage, ours bool) (bool, string, error) {
	shown := q.State
	if q.StateDescription != "" {
		shown += " (" + q.StateDescription + ")"
	}
	completed := q.State == wxpay.ServiceOrderDone || q.State == wxpay.ServiceOrderDoing && q.StateDescription == wxpay.DescriptionMchComplete
	if completed {
		shown += fmt.Sprintf(", total_amount %d fen", q.TotalAmount)
	}
	switch kind {
	case outbox.OpCancel:
		return ours && q.State == wxpay.ServiceOrderRevoked, shown, nil
	case outbox.OpComplete:
		var r wxpay.CompleteServiceOrderRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return false, shown, err
		}
		return completed && q.TotalAmount == r.TotalAmount && samePayments(q.PostPayments, r.PostPayments), shown, nil
	case outbox.OpModify:
		var r wxpay.ModifyServiceOrderRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return false, shown, err
		}
		return ours && completed && q.TotalAmount == r.TotalAmount, shown, nil
	case outbox.OpPay:
		return q.State == wxpay.ServiceOrderDone, shown, nil
	case outbox.OpSync:
		if q.State != wxpay.ServiceOrderDone || q.Collection == nil {
			return false, shown, nil
		}
		for _, d := range q.Collection.Details {
			if d.PaidType == wxpay.PaidTypeMch {
				return true, shown, nil
			}
		}
	}
	return false, shown, nil
}

// samePayments compares product lines by description, count and amount; a
// query that shows none does not contradict.
func samePayments(shown, asked []wxpay.Payment) bool {
	if len(shown) == 0 {
		return true
	}
	key := func(p wxpay.Payment) string {
		return fmt.Sprintf("%s\x00%s\x00%d\x00%d", p.Name, p.Description, p.Count, p.Amount)
	}
	return sameKeys(shown, asked, key)
}

// deposit says whether the order's risk fund is a 先免 one, which caps
// what a complete may charge (section 4).
func deposit(q *wxpay.ServiceOrder) bool {
	return q.RiskFund != nil && q.RiskFund.Amount > 0 && wxpay.DepositFund(q.RiskFund.Name)
}

// serviceOrderStateCode names the order's state for a refusal's code:
// DOING with its description (DOING_MCH_COMPLETE), others as they are.
func serviceOrderStateCode(q *wxpay.ServiceOrder) string {
	if q.State == wxpay.ServiceOrderDoing && q.StateDescription != "" {
		return q.State + "_" + q.StateDescription
	}
	return q.State
}
