package wxpay

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// The customer's authorisation of the Pay Score service: the official
// smart-retail flow asks before it creates an order (wiki payscore.php
// chapter 14_0). Fields as wechatpay-im/website documents them
// (openapi/v3/payscore/user-service-state.md).
const userServiceStatePath = "/v3/payscore/user-service-state"

// The values of UserServiceState.UseServiceState.
const (
	UserServiceAvailable   = "AVAILABLE"   // the customer may use the service
	UserServiceUnavailable = "UNAVAILABLE" // not authorised, or withdrawn
)

// UserServiceStateRequest asks whether a customer has authorised the
// service. AppID and ServiceID default to the client's.
type UserServiceStateRequest struct {
	OpenID    string
	AppID     string
	ServiceID string
}

// UserServiceState is WeChat Pay's answer, field for field (it has no mchid).
type UserServiceState struct {
	AppID     string `json:"appid"`
	ServiceID string `json:"service_id"`
	OpenID    string `json:"openid,omitempty"`
	// UseServiceState is UserServiceAvailable or UserServiceUnavailable,
	// passed on as WeChat Pay wrote it.
	UseServiceState string `json:"use_service_state"`
}

// Validate checks r without sending it. Issues give the openid's length,
// never the openid.
func (r *UserServiceStateRequest) Validate() error {
	var v violations
	v.required("/appid", r.AppID)
	v.maxChars("/appid", r.AppID, MaxAppIDLen)
	v.required("/service_id", r.ServiceID)
	v.maxChars("/service_id", r.ServiceID, MaxServiceIDLen)
	v.required("/openid", r.OpenID)
	v.maxChars("/openid", r.OpenID, MaxOpenIDLen)
	if err := v.err(opUserServiceState); err != nil {
		err.(*Error).Detail.Location = "query"
		return err
	}
	return nil
}

const opUserServiceState = "user-service-state"

// UserServiceState asks WeChat Pay whether the customer has authorised the
// service. The openid travels in the URL, so every error is scrubbed of it
// before it is returned: errors reach logs, the host and the outbox's
// network status.
func (c *Client) UserServiceState(ctx context.Context, r UserServiceStateRequest) (*UserServiceState, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	if err := r.Validate(); err != nil {
		return nil, err
	}
	q := url.Values{"appid": {r.AppID}, "service_id": {r.ServiceID}, "openid": {r.OpenID}}
	var out UserServiceState
	if err := c.call(ctx, opUserServiceState, http.MethodGet, userServiceStatePath+"?"+q.Encode(), nil, &out); err != nil {
		return nil, withoutOpenID(err, r.OpenID)
	}
	if out.UseServiceState == "" {
		// Verified, but not an answer: use_service_state is required.
		return nil, &Error{Class: Transient, Op: opUserServiceState, ReachedServer: true,
			Message: "answer has no use_service_state"}
	}
	return &out, nil
}

// withoutOpenID returns err with the openid taken out of every text it
// holds. The underlying error (a *url.Error quotes the whole URL) is replaced
// by its scrubbed text; only a context's end stays visible to errors.Is.
func withoutOpenID(err error, openid string) error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Class: Internal, Op: opUserServiceState, Message: redact(err.Error(), openid)}
	}
	out := *e
	out.Message = redact(e.Message, openid)
	if e.Detail != nil {
		d := *e.Detail
		if s, ok := d.Value.(string); ok {
			d.Value = redact(s, openid)
		}
		d.Issue = redact(d.Issue, openid)
		out.Detail = &d
	}
	if e.Err != nil {
		re := &redactedError{text: redact(e.Err.Error(), openid)}
		for _, cause := range []error{context.DeadlineExceeded, context.Canceled} {
			if errors.Is(e.Err, cause) {
				re.cause = cause
			}
		}
		out.Err = re
	}
	return &out
}

// redact replaces the openid, raw and as a URL encodes it, with a marker.
func redact(s, openid string) string {
	if openid == "" {
		return s
	}
	const marker = "(openid)"
	for _, form := range []string{url.QueryEscape(openid), url.PathEscape(openid), openid} {
		s = strings.ReplaceAll(s, form, marker)
	}
	return s
}

type redactedError struct {
	text  string
	cause error // a context's end, or nil
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.cause }
