package shared

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Class says what kind of failure an error is, so that a host can decide:
// fix the request, fix the setup, wait, or retry.
type Class string

// The classes. They travel as the reason of an ErrorInfo with domain
// "smartretail".
const (
	ClassInvalid       Class = "INVALID"        // the request is wrong or WeChat Pay refused it for a business reason
	ClassAuth          Class = "AUTH"           // signatures or permissions
	ClassRateLimited   Class = "RATE_LIMITED"   // wait RetryAfter
	ClassTransient     Class = "TRANSIENT"      // WeChat Pay had a system error
	ClassNetwork       Class = "NETWORK"        // WeChat Pay could not be reached
	ClassNotFound      Class = "NOT_FOUND"      // no such order
	ClassNotConfigured Class = "NOT_CONFIGURED" // Configure has not succeeded
	ClassOfflineLimit  Class = "OFFLINE_LIMIT"  // an offline limit would be passed; Reason says which
	ClassOutbox        Class = "OUTBOX"         // the outbox could not keep the order (disk, lock, key)
	ClassInternal      Class = "INTERNAL"       // the plugin failed; its log says why
)

// Error domains in ErrorInfo.
const (
	DomainSmartretail = "smartretail"
	DomainWeChatPay   = "wechatpay"
)

// FieldViolation names a wrong request field by its path in the request
// message (order.fees[0].fee_amount) and says which rule it breaks.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// WeChatPayAnswer is what WeChat Pay said, when it answered.
type WeChatPayAnswer struct {
	Code       string `json:"code"`
	Message    string `json:"message,omitempty"`
	HTTPStatus int    `json:"http_status,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
}

// GetCode is w.Code, or "" when WeChat Pay did not answer (w is nil).
func (w *WeChatPayAnswer) GetCode() string {
	if w == nil {
		return ""
	}
	return w.Code
}

// Error is the error of the contract: the plugin returns it, it crosses
// the wire as a gRPC status with details, and the host gets it back.
type Error struct {
	Class   Class
	Message string
	// Violations name the wrong fields (INVALID_ARGUMENT).
	Violations []FieldViolation
	// WeChatPay is set when WeChat Pay answered.
	WeChatPay *WeChatPayAnswer
	// RetryAfter is how long to wait (RATE_LIMITED).
	RetryAfter time.Duration
	// ReachedServer: the request may have reached WeChat Pay though no
	// answer came; its outcome is unknown until a query.
	ReachedServer bool
	// OutOrderNo names the order the failed call was about, so a host that
	// let the plugin mint it can still query or retry it.
	OutOrderNo string
	// Reason is a finer code within the class, for hosts to switch on
	// (MAX_QUEUED_ORDERS, OFFLINE, ...).
	Reason string
	// Code is the gRPC code, filled when the error came over the wire.
	Code codes.Code
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.WeChatPay != nil && e.WeChatPay.Code != "" && !strings.Contains(e.Message, e.WeChatPay.Code) {
		fmt.Fprintf(&b, " (WeChat Pay %s)", e.WeChatPay.Code)
	}
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(":")
		} else {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s %s", v.Field, v.Description)
	}
	return b.String()
}

// GRPCCode is the one table from class to gRPC status code.
func (e *Error) GRPCCode() codes.Code {
	switch e.Class {
	case ClassInvalid:
		// WeChat Pay refusing a well-formed request (order state, funds)
		// is a precondition; a malformed request is an argument.
		if e.WeChatPay != nil && e.WeChatPay.Code != "" && e.WeChatPay.Code != "PARAM_ERROR" {
			return codes.FailedPrecondition
		}
		return codes.InvalidArgument
	case ClassAuth:
		if e.WeChatPay != nil && (e.WeChatPay.Code == "NO_AUTH" || e.WeChatPay.HTTPStatus == 403) {
			return codes.PermissionDenied
		}
		return codes.Unauthenticated
	case ClassRateLimited:
		return codes.ResourceExhausted
	case ClassTransient, ClassNetwork:
		return codes.Unavailable
	case ClassNotFound:
		return codes.NotFound
	case ClassNotConfigured:
		return codes.FailedPrecondition
	case ClassOfflineLimit:
		return codes.ResourceExhausted
	default:
		return codes.Internal
	}
}

// GRPCStatus makes *Error a gRPC status error with details; grpc-go calls it.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.GRPCCode(), e.Error())
	meta := map[string]string{"message": e.Message}
	if e.ReachedServer {
		meta["reached_server"] = "true"
	}
	if e.OutOrderNo != "" {
		meta["out_order_no"] = e.OutOrderNo
	}
	if e.Reason != "" {
		meta["reason"] = e.Reason
	}
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: string(e.Class), Domain: DomainSmartretail, Metadata: meta}}
	if w := e.WeChatPay; w != nil {
		wm := map[string]string{}
		if w.Message != "" {
			wm["wechat_message"] = w.Message
		}
		if w.HTTPStatus != 0 {
			wm["http_status"] = strconv.Itoa(w.HTTPStatus)
		}
		if w.RequestID != "" {
			wm["request_id"] = w.RequestID
		}
		details = append(details, &errdetails.ErrorInfo{Reason: w.Code, Domain: DomainWeChatPay, Metadata: wm})
	}
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations,
				&errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		details = append(details, br)
	}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return withDetails
}

// ToStatus turns what the plugin returned into what gRPC sends. An error
// that is not an *Error is an internal failure, sent with its text (errors
// never carry secrets).
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return &Error{Class: ClassInternal, Message: "plugin internal error: " + err.Error()}
}

// FromStatus turns a gRPC error back into an *Error, details decoded.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	// Without our details the status did not come from the plugin's code:
	// the process died, the connection broke, or the deadline passed.
	e := &Error{Code: st.Code(), Message: st.Message(), Class: ClassInternal}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			switch d.GetDomain() {
			case DomainSmartretail:
				e.Class = Class(d.GetReason())
				if m, ok := d.GetMetadata()["message"]; ok {
					e.Message = m
				}
				e.ReachedServer = d.GetMetadata()["reached_server"] == "true"
				e.OutOrderNo = d.GetMetadata()["out_order_no"]
				e.Reason = d.GetMetadata()["reason"]
			case DomainWeChatPay:
				m := d.GetMetadata()
				httpStatus, _ := strconv.Atoi(m["http_status"])
				e.WeChatPay = &WeChatPayAnswer{Code: d.GetReason(), Message: m["wechat_message"],
					HTTPStatus: httpStatus, RequestID: m["request_id"]}
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Violations = append(e.Violations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			e.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	return e
}
