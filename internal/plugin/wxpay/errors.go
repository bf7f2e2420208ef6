package wxpay

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Class is what a caller decides on: retry, queue, refuse or fix the setup.
type Class int

// The classes, from the layers' point of view.
const (
	// Invalid: the request is wrong or WeChat Pay refuses it for a business
	// reason (4xx). Sending it again unchanged will not help.
	Invalid Class = iota + 1
	// Auth: signatures or permissions: 401, SIGN_ERROR, NO_AUTH, or an answer
	// whose signature does not verify. A setup problem, not a retry.
	Auth
	// RateLimited: 429 / FREQUENCY_LIMITED. Retry after RetryAfter.
	RateLimited
	// Transient: WeChat Pay answered with a system error (5xx, SYSTEM_ERROR).
	// Retry with the same parameters.
	Transient
	// Network: no answer at all. ReachedServer says whether the request may
	// have arrived; if it may, the outcome is unknown until a query.
	Network
	// NotFound: WeChat Pay knows no such order.
	NotFound
	// Internal: the request could not be made here (signing failed); it
	// never left.
	Internal
)

var classNames = map[Class]string{
	Invalid:     "invalid",
	Auth:        "auth",
	RateLimited: "rate_limited",
	Transient:   "transient",
	Network:     "network",
	NotFound:    "not_found",
	Internal:    "internal",
}

func (c Class) String() string {
	if s, ok := classNames[c]; ok {
		return s
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Detail is WeChat Pay's error detail: which field broke which rule.
type Detail struct {
	Field    string `json:"field,omitempty"`
	Value    any    `json:"value,omitempty"`
	Issue    string `json:"issue,omitempty"`
	Location string `json:"location,omitempty"`
}

// Violation is one broken rule found before sending: Field is a JSON
// pointer into the request body (/fees/0/fee_amount), or "" for the body
// as a whole.
type Violation struct {
	Field string
	Issue string
}

// Error is the one error type of this package. Everything Client returns
// that is not nil is an *Error.
type Error struct {
	Class Class
	// Op is the operation: create, query, cancel or complete.
	Op string
	// StatusCode is the HTTP status WeChat Pay answered; 0 when it did not
	// answer or the request was refused before sending.
	StatusCode int
	// Code and Message are WeChat Pay's (PARAM_ERROR, ...); for a request
	// refused before sending, Code is PARAM_ERROR and Violations lists why.
	Code    string
	Message string
	Detail  *Detail
	// Violations are the rules the request broke, found before any network
	// call. Empty when WeChat Pay itself refused the request. At most
	// MaxListedViolations are listed; when there were more, one last
	// violation counts them (MoreViolationsIssue), at the first left out.
	Violations []Violation
	// RetryAfter is WeChat Pay's Retry-After, for RateLimited (0 if absent).
	RetryAfter time.Duration
	// ReachedServer is set when the request may have reached WeChat Pay
	// and no answer we can trust says what became of it: a Network error
	// after the connection was made, or an answer whose signature does not
	// verify. Its outcome is unknown: query before resending.
	ReachedServer bool
	// RequestID is WeChat Pay's Request-ID header, for support tickets.
	RequestID string
	// Clock is set when time caused the error: WeChat Pay refused the
	// request's timestamp, or its answer's was too far from its time.
	Clock *ClockFault
	// Err is the underlying error, if any (network, signature check).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wxpay %s: %s", e.Op, e.Class)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.StatusCode)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
		b.WriteString(")")
	} else if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Detail != nil && e.Detail.Field != "" && len(e.Violations) == 0 {
		fmt.Fprintf(&b, " [field %s", e.Detail.Field)
		if e.Detail.Issue != "" {
			fmt.Fprintf(&b, ": %s", e.Detail.Issue)
		}
		b.WriteString("]")
	}
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(":")
		} else {
			b.WriteString(";")
		}
		if v.Field == "" {
			fmt.Fprintf(&b, " %s", v.Issue)
		} else {
			fmt.Fprintf(&b, " %s %s", v.Field, v.Issue)
		}
	}
	if e.Clock != nil {
		fmt.Fprintf(&b, ": %s", e.Clock)
	}
	switch {
	case e.ReachedServer:
		b.WriteString(" (the request may have reached WeChat Pay: outcome unknown)")
	case e.Class == Network:
		b.WriteString(" (the request did not reach WeChat Pay)")
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns err's class, or 0 when err is nil or not from this package.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}

// Retryable says whether sending the same request again later may succeed.
func (e *Error) Retryable() bool {
	switch e.Class {
	case RateLimited, Transient, Network:
		return true
	}
	return false
}

// Ambiguous says whether the operation may have taken effect at WeChat Pay
// although no trusted answer says so: reconcile by query before resending.
// A system error counts: WeChat Pay may have applied the request first.
func (e *Error) Ambiguous() bool {
	return e.ReachedServer || e.Class == Transient
}
