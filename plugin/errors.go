package plugin

import (
	"errors"

	"github.com/kioskpay/smartretail/plugin/wxpay"
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
		e.WeChatPay = &shared.WeChatPayAnswer{Code: we.Code, Message: we.Message,
			HTTPStatus: we.StatusCode, RequestID: we.RequestID}
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
