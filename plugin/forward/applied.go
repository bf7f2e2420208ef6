package forward

import (
	"encoding/json"

	"github.com/kioskpay/smartretail/plugin/outbox"
	"github.com/kioskpay/smartretail/plugin/wxpay"
)

// AlreadyApplied says whether the order WeChat Pay reports (q) shows the
// cancel or complete in body as done: then a refusal of that operation
// ("order state invalid") means it was applied before, by an attempt whose
// answer was lost, and it is a success, not a failure. A complete counts
// only with the same finish type and, when the request names one, the same
// total.
func AlreadyApplied(q *wxpay.Order, kind outbox.OpKind, body json.RawMessage) bool {
	switch kind {
	case outbox.OpCancel:
		return q.State == wxpay.StateRevoked
	case outbox.OpComplete:
		var r wxpay.CompleteRequest
		if json.Unmarshal(body, &r) != nil {
			return false
		}
		if q.State != wxpay.StateFinished && q.State != wxpay.StateUserPaid {
			return false
		}
		if q.FinishType != 0 && q.FinishType != r.FinishType {
			return false
		}
		return r.TotalAmount == nil || r.FinishType != wxpay.FinishTypeFinish || *r.TotalAmount == q.TotalAmount
	}
	return false
}
