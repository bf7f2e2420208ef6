package shared

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
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
	// ClassUnsupported: the merchant's Pay Score API has no such operation
	// (ModifyOrder, CollectPayment and SyncOrderPaid on the smart-retail API).
	ClassUnsupported Class = "UNSUPPORTED"
)

// ReasonOperationConflict (class INVALID, FAILED_PRECONDITION): the order
// already has another cancel or complete, applied, sent or queued; an
// order takes one, and the same request again gets the first one's outcome.
const ReasonOperationConflict = "OPERATION_CONFLICT"

// Reasons (class INVALID, FAILED_PRECONDITION) for an operation the order's
// state at WeChat Pay, read just before sending, does not allow:
// ORDER_STATE_ and the state (ORDER_STATE_FINISHED, ...), or a complete
// charging more than the order's risk_amount.
const (
	ReasonOrderStatePrefix = "ORDER_STATE_"
	ReasonTotalAboveRisk   = "TOTAL_ABOVE_RISK_AMOUNT"
)

// ReasonClockSkew (class AUTH): time caused the error. WeChat Pay refused
// the request's timestamp twice (the kiosk's clock, and the time its
// answers said), or its answer's timestamp was 5 minutes or more from
// WeChat Pay's time as the plugin knows it (stale or replayed: the
// outcome is unknown, and the plugin reconciles it). The message gives
// the offset of the kiosk's clock; fix it (NTP).
const ReasonClockSkew = "CLOCK_SKEW"

// ReasonOutboxLocked (class OUTBOX, FAILED_PRECONDITION): Configure found
// the outbox held by another process, most likely the kiosk's own plugin
// (one plugin per outbox); the violation on config.outbox_path names its
// pid. An operator reaches a running kiosk's plugin through its
// admin_socket instead.
const ReasonOutboxLocked = "OUTBOX_LOCKED"

// ReasonConfiguredByHost (class INVALID, FAILED_PRECONDITION): Configure
// called on a plugin's admin socket, which serves every other call: the
// kiosk's host configures its plugin, never an operator's tool.
const ReasonConfiguredByHost = "CONFIGURED_BY_HOST"

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

// MaxListedViolations is how many violations an error lists, in its text
// and on the wire; the rest are counted in one more (MoreViolations), so an
// error stays small however many rules a request broke.
const MaxListedViolations = 20

// MoreViolations is the description of the violation that ends a cut list:
// its field is the first violation left out, n counts all left out. The
// plugin's WeChat Pay client words its own the same, so a list cut there
// and again here still counts right.
func MoreViolations(n int) string {
	return fmt.Sprintf("... and %d more violations from here on, not listed", n)
}

// moreOf reads the count of a MoreViolations description.
func moreOf(v FieldViolation) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(v.Description, "... and %d more violations", &n); err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// listViolations is vs with at most max violations listed and, when some
// are left out, one more that counts them (a count vs already ended with
// included).
func listViolations(vs []FieldViolation, max int) []FieldViolation {
	named, counted := vs, 0
	if n := len(vs); n > 0 {
		if m, ok := moreOf(vs[n-1]); ok {
			named, counted = vs[:n-1], m
		}
	}
	if len(named) <= max {
		return vs
	}
	out := make([]FieldViolation, max, max+1)
	copy(out, named[:max])
	return append(out, FieldViolation{Field: named[max].Field, Description: MoreViolations(len(named) - max + counted)})
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.WeChatPay != nil && e.WeChatPay.Code != "" && !strings.Contains(e.Message, e.WeChatPay.Code) {
		fmt.Fprintf(&b, " (WeChat Pay %s)", e.WeChatPay.Code)
	}
	for i, v := range listViolations(e.Violations, MaxListedViolations) {
		if i == 0 {
			b.WriteString(":")
		} else {
			b.WriteString(";")
		}
		if v.Field == "" {
			fmt.Fprintf(&b, " %s", v.Description)
		} else {
			fmt.Fprintf(&b, " %s %s", v.Field, v.Description)
		}
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
		if e.Reason == ReasonOperationConflict || e.Reason == ReasonTotalAboveRisk || strings.HasPrefix(e.Reason, ReasonOrderStatePrefix) {
			return codes.FailedPrecondition // the order's state, as the plugin knows it
		}
		if e.Reason == ReasonConfiguredByHost {
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
	case ClassUnsupported:
		return codes.Unimplemented
	case ClassOutbox:
		if e.Reason == ReasonOutboxLocked {
			return codes.FailedPrecondition // the plugin is fine; another holds the file
		}
		return codes.Internal
	default:
		return codes.Internal
	}
}

// maxStatusBytes bounds what an error adds to the gRPC trailer: its text
// (grpc-message, percent-encoded) and its details (grpc-status-details-bin:
// the google.rpc.Status, text included, in base64). gRPC in C and Java, and
// soon in Go, refuses header lists over 8 KiB by default; a trailer over
// what the peer takes dropped the connection and every call on it.
const maxStatusBytes = 6 << 10

// Bounds on each text of an error on the wire, before maxStatusBytes.
const (
	maxTextBytes        = 1024 // the message, WeChat Pay's message
	maxFieldBytes       = 200
	maxDescriptionBytes = 300
	maxTokenBytes       = 128 // out_order_no, reason, request id: short when valid
	minTextBytes        = 256 // what every text is cut to if the rest did not suffice
)

// clip cuts s to at most n bytes, on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// clipped is a copy of e with at most MaxListedViolations violations listed
// and its texts cut: the long ones to text bytes, the others shorter.
func (e *Error) clipped(text int) *Error {
	c := *e
	c.Message = clip(e.Message, text)
	c.OutOrderNo = clip(e.OutOrderNo, maxTokenBytes)
	c.Reason = clip(e.Reason, maxTokenBytes)
	if w := e.WeChatPay; w != nil {
		c.WeChatPay = &WeChatPayAnswer{Code: clip(w.Code, maxTokenBytes), Message: clip(w.Message, text),
			HTTPStatus: w.HTTPStatus, RequestID: clip(w.RequestID, maxTokenBytes)}
	}
	listed := listViolations(e.Violations, MaxListedViolations)
	c.Violations = make([]FieldViolation, len(listed))
	for i, v := range listed {
		c.Violations[i] = FieldViolation{Field: clip(v.Field, min(maxFieldBytes, text)), Description: v.Description}
		if _, more := moreOf(v); !more {
			c.Violations[i].Description = clip(v.Description, min(maxDescriptionBytes, text))
		}
	}
	return &c
}

// trailerBytes is what st adds to the trailer, encoded as gRPC sends it.
func trailerBytes(st *status.Status) int {
	n := 0
	for _, c := range []byte(st.Message()) {
		if c < ' ' || c > '~' || c == '%' {
			n += 3 // percent-encoded
		} else {
			n++
		}
	}
	return n + base64.StdEncoding.EncodedLen(proto.Size(st.Proto()))
}

// GRPCStatus makes *Error a gRPC status error with details; grpc-go calls
// it. Whatever e holds, the status stays within maxStatusBytes: texts are
// cut, and violations are listed only as far as they fit, the rest counted.
func (e *Error) GRPCStatus() *status.Status {
	var st *status.Status
	// Long texts first, as many violations as fit; if none do, short texts.
	for _, text := range []int{maxTextBytes, minTextBytes} {
		c := e.clipped(text)
		all := c.Violations
		for keep := MaxListedViolations; keep >= 0; keep-- {
			c.Violations = listViolations(all, keep)
			if st = c.status(); trailerBytes(st) <= maxStatusBytes {
				return st
			}
		}
	}
	return st // not reached: short texts and a count fit
}

// status is e as a gRPC status with details, unbounded: see GRPCStatus.
func (e *Error) status() *status.Status {
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
	if st.Code() == codes.ResourceExhausted && len(st.Details()) == 0 {
		// gRPC's own refusal of a message over its size limit, by the host
		// before sending or by the plugin on receipt: the request must change.
		e.Class = ClassInvalid
		e.Message = fmt.Sprintf("the request or its answer is too large for gRPC between host and plugin (requests up to %d bytes, answers up to %d): %s",
			MaxRequestBytes, MaxAnswerBytes, st.Message())
	}
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
