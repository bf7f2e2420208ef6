package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
)

// The one place where wxpay's error classes become the contract's.
var classes = map[wxpay.Class]shared.Class{
	wxpay.Invalid:     shared.ClassInvalid,
	wxpay.Auth:        shared.ClassAuth,
	wxpay.RateLimited: shared.ClassRateLimited,
	wxpay.Transient:   shared.ClassTransient,
	wxpay.Network:     shared.ClassNetwork,
	wxpay.NotFound:    shared.ClassNotFound,
}

var errNotConfigured = &shared.Error{Class: shared.ClassNotConfigured,
	Message: "the plugin is not configured: call Configure first"}

// fromWxpay converts a wxpay error; prefix is where the WeChat fields sit in
// the request message ("order" for CreateOrderRequest).
func fromWxpay(err error, prefix string) error {
	var we *wxpay.Error
	if !errors.As(err, &we) {
		return err
	}
	e := &shared.Error{
		Class:         classes[we.Class],
		Message:       we.Error(),
		RetryAfter:    we.RetryAfter,
		ReachedServer: we.ReachedServer,
	}
	if e.Class == "" {
		e.Class = shared.ClassInternal
	}
	if we.StatusCode != 0 {
		e.WeChatPay = &shared.WeChatPayAnswer{HTTPStatus: we.StatusCode, RequestID: we.RequestID}
		if !(we.Class == wxpay.Auth && we.ReachedServer) {
			// An answer that did not verify (or was stale) is nobody's
			// word: its code and message are not passed on as WeChat Pay's.
			e.WeChatPay.Code, e.WeChatPay.Message = we.Code, we.Message
		}
	}
	for _, v := range we.Violations {
		e.Violations = append(e.Violations, shared.FieldViolation{Field: fieldPath(prefix, v.Field), Description: v.Issue})
	}
	if len(we.Violations) == 0 && we.Detail != nil && we.Detail.Field != "" {
		e.Violations = append(e.Violations, shared.FieldViolation{Field: fieldPath(prefix, we.Detail.Field), Description: we.Detail.Issue})
	}
	if len(we.Violations) > 0 {
		e.Message = "request refused before sending to WeChat Pay"
	}
	if we.Clock != nil {
		e.Reason = shared.ReasonClockSkew
	}
	return e
}

// fromConfig turns config problems into field violations on config.<key>.
func fromConfig(err error) error {
	e := &shared.Error{Class: shared.ClassInvalid, Message: "configuration refused"}
	var problems config.Problems
	var keyErr *config.KeyError
	switch {
	case errors.As(err, &problems):
		for _, p := range problems {
			e.Violations = append(e.Violations, shared.FieldViolation{Field: "config." + p.Key, Description: p.Err.Error()})
		}
	case errors.As(err, &keyErr):
		e.Violations = append(e.Violations, shared.FieldViolation{Field: "config." + keyErr.Key, Description: keyErr.Err.Error()})
	default:
		e.Message = "configuration refused: " + err.Error()
	}
	return e
}

// mayHaveArrived marks an error about an order whose create may already be
// at WeChat Pay (it was in flight): its outcome is unknown, not failed.
func mayHaveArrived(err error, state outbox.OpState) error {
	var se *shared.Error
	if state == outbox.OpInFlight && errors.As(err, &se) {
		se.ReachedServer = true
		se.Message += "; the order may already exist at WeChat Pay: query it by out_order_no before selling it again"
	}
	return err
}

// withOrder names the order in an error, so a host that let the plugin
// mint out_order_no can still find it.
func withOrder(err error, no string) error {
	var se *shared.Error
	if errors.As(err, &se) && se.OutOrderNo == "" {
		se.OutOrderNo = no
	}
	return err
}

// failedError is the answer for an order on the failed list.
func failedError(o *outbox.Order) error {
	f := o.Failure
	return &shared.Error{Class: shared.ClassInvalid, OutOrderNo: o.OutOrderNo, Reason: f.Code,
		WeChatPay: &shared.WeChatPayAnswer{Code: f.Code, Message: f.Message},
		Message:   fmt.Sprintf("order %s is on the failed list (%s: %s): retry it with RetryFailed or drop it", o.OutOrderNo, f.Code, f.Message)}
}

func outboxError(err error) error {
	var le *outbox.LimitError
	if errors.As(err, &le) {
		return &shared.Error{Class: shared.ClassOfflineLimit, Reason: le.Reason, Message: "not queued: " + le.Message}
	}
	return &shared.Error{Class: shared.ClassOutbox, Message: "the outbox could not keep the order: " + err.Error()}
}

// conflictError refuses an operation on an order that already has another
// cancel or complete waiting: one order takes one, and the first one asked
// decides.
func conflictError(no string, have outbox.Op, kind outbox.OpKind) error {
	return &shared.Error{Class: shared.ClassInvalid, OutOrderNo: no, Reason: shared.ReasonOperationConflict,
		Message: fmt.Sprintf("order %s already has a %s; this %s differs and was not sent: an order takes one cancel or complete, and the same request again is answered with the first one's outcome", no, describeOp(have), kind)}
}

// describeOp says what an operation asks and how far it got; the body
// says which API's it is (a smart-retail complete has a finish_type).
func describeOp(op outbox.Op) string {
	what := string(op.Kind)
	var r wxpay.CompleteRequest
	var so struct { // a service order's complete or modify: its total is always sent
		TotalAmount int64 `json:"total_amount"`
	}
	switch {
	case op.Kind == outbox.OpComplete && json.Unmarshal(op.Body, &r) == nil && r.FinishType != 0:
		what = fmt.Sprintf("complete with finish_type %d", r.FinishType)
		if r.FinishType == wxpay.FinishTypeFinish {
			what += fmt.Sprintf(" charging %d fen", r.Charge())
		}
	case (op.Kind == outbox.OpComplete || op.Kind == outbox.OpModify) && json.Unmarshal(op.Body, &so) == nil:
		what = fmt.Sprintf("%s charging %d fen", op.Kind, so.TotalAmount)
	}
	var cr wxpay.CancelRequest
	if op.Kind == outbox.OpCancel && json.Unmarshal(op.Body, &cr) == nil {
		what = fmt.Sprintf("cancel with reason %q", cr.Reason)
	}
	switch op.State {
	case outbox.OpDone:
		return what + " applied " + op.DoneAt.Format(time.RFC3339)
	case outbox.OpInFlight:
		return what + " sent (its outcome is being reconciled)"
	}
	return what + " queued"
}

// errNotFailed refuses RetryFailed and DropFailed on an order that is not
// on the failed list.
var errNotFailed = errors.New("not on the failed list")

// isKeyFileError says whether an outbox open failed over its key file.
func isKeyFileError(err error, keyFile string) bool {
	var ke *outbox.KeyFileError
	var pe *os.PathError
	return (errors.As(err, &ke) && ke.Path == keyFile) || (errors.As(err, &pe) && pe.Path == keyFile)
}
