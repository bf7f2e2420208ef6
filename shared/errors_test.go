package shared

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorCrossesTheWireWhole(t *testing.T) {
	cases := []struct {
		err  *Error
		code codes.Code
	}{
		{&Error{Class: ClassInvalid, Message: "request refused before sending to WeChat Pay",
			Violations: []FieldViolation{{"order.fees[0].fee_amount", "must be a non-negative integer, got -1"}, {"order.appid", "is required"}}}, codes.InvalidArgument},
		{&Error{Class: ClassInvalid, Message: "order state invalid", WeChatPay: &WeChatPayAnswer{Code: "INVALID_REQUEST", Message: "order state invalid", HTTPStatus: 400, RequestID: "r-1"}}, codes.FailedPrecondition},
		{&Error{Class: ClassInvalid, Message: "bad", WeChatPay: &WeChatPayAnswer{Code: "PARAM_ERROR", HTTPStatus: 400}}, codes.InvalidArgument},
		{&Error{Class: ClassAuth, Message: "sig", WeChatPay: &WeChatPayAnswer{Code: "SIGN_ERROR", HTTPStatus: 401}}, codes.Unauthenticated},
		{&Error{Class: ClassAuth, Message: "answer signature does not verify"}, codes.Unauthenticated},
		{&Error{Class: ClassAuth, Message: "no", WeChatPay: &WeChatPayAnswer{Code: "NO_AUTH", HTTPStatus: 403}}, codes.PermissionDenied},
		{&Error{Class: ClassRateLimited, Message: "slow down", RetryAfter: 3 * time.Second, WeChatPay: &WeChatPayAnswer{Code: "FREQUENCY_LIMITED", HTTPStatus: 429}}, codes.ResourceExhausted},
		{&Error{Class: ClassTransient, Message: "oops", WeChatPay: &WeChatPayAnswer{Code: "SYSTEM_ERROR", HTTPStatus: 500}}, codes.Unavailable},
		{&Error{Class: ClassNetwork, Message: "reset", ReachedServer: true, OutOrderNo: "SR2026"}, codes.Unavailable},
		{&Error{Class: ClassOfflineLimit, Message: "too many", Reason: "MAX_QUEUED_ORDERS"}, codes.ResourceExhausted},
		{&Error{Class: ClassNotFound, Message: "none", WeChatPay: &WeChatPayAnswer{Code: "ORDER_NOT_EXIST", HTTPStatus: 404}}, codes.NotFound},
		{&Error{Class: ClassNotConfigured, Message: "configure"}, codes.FailedPrecondition},
		{&Error{Class: ClassInternal, Message: "disk"}, codes.Internal},
		{&Error{Class: ClassOutbox, Message: "disk full"}, codes.Internal},
		{&Error{Class: ClassOutbox, Message: "held", Reason: ReasonOutboxLocked,
			Violations: []FieldViolation{{"config.outbox_path", "outbox /o.db is locked by another process (pid 7, still running)"}}}, codes.FailedPrecondition},
		{&Error{Class: ClassInvalid, Message: "the host configures", Reason: ReasonConfiguredByHost}, codes.FailedPrecondition},
	}
	for _, tc := range cases {
		wire := ToStatus(tc.err)
		if got := status.Code(wire); got != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err, got, tc.code)
		}
		back := FromStatus(wire).(*Error)
		want := *tc.err
		want.Code = tc.code
		if !reflect.DeepEqual(*back, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", *back, want)
		}
	}
}

func TestToStatusOfOtherErrors(t *testing.T) {
	if ToStatus(nil) != nil || FromStatus(nil) != nil {
		t.Fatal("nil must stay nil")
	}
	se := FromStatus(ToStatus(errors.New("disk full"))).(*Error)
	if se.Class != ClassInternal || se.Code != codes.Internal || se.Message != "plugin internal error: disk full" {
		t.Errorf("plain error: %+v", se)
	}
	if c := status.Code(ToStatus(context.Canceled)); c != codes.Canceled {
		t.Errorf("canceled: %v", c)
	}
	// A status without our details (the process died) is internal, code kept.
	se = FromStatus(status.Error(codes.Unavailable, "connection refused")).(*Error)
	if se.Class != ClassInternal || se.Code != codes.Unavailable {
		t.Errorf("bare status: %+v", se)
	}
}

func manyViolations(n int, desc string) []FieldViolation {
	vs := make([]FieldViolation, n)
	for i := range vs {
		vs[i] = FieldViolation{Field: fmt.Sprintf("order.fees[%d].fee_name", i), Description: desc}
	}
	return vs
}

// Whatever an error holds, it crosses the wire in a trailer that every gRPC
// takes: an error of 60,000 violations once made a 2.4 MB trailer, and one of
// 180,000 dropped the connection with every call on it.
func TestErrorsStayWithinTheTrailerBudget(t *testing.T) {
	huge := strings.Repeat("错", 2<<20)
	cases := []struct {
		name string
		err  *Error
		more int // the count the last violation must carry, 0 for none
	}{
		{"60,000 violations", &Error{Class: ClassInvalid, Message: "refused", Violations: manyViolations(60000, "is required")}, 60000 - MaxListedViolations},
		{"long descriptions", &Error{Class: ClassInvalid, Message: "refused", Violations: manyViolations(60000, huge)}, -1},
		{"long texts everywhere", &Error{Class: ClassInvalid, Message: huge, OutOrderNo: huge, Reason: huge,
			WeChatPay:  &WeChatPayAnswer{Code: huge, Message: huge, HTTPStatus: 400, RequestID: huge},
			Violations: []FieldViolation{{Field: huge, Description: huge}}}, 0},
		{"a list already cut by the client", &Error{Class: ClassInvalid, Message: "refused",
			Violations: append(manyViolations(MaxListedViolations, "is required"), FieldViolation{"order.fees[20].fee_name", MoreViolations(59980)})}, 59980},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.err.GRPCStatus()
			if n := trailerBytes(st); n > maxStatusBytes {
				t.Errorf("the status takes %d bytes of the trailer, want at most %d", n, maxStatusBytes)
			}
			back := FromStatus(st.Err()).(*Error)
			if back.Class != tc.err.Class || back.Code != tc.err.GRPCCode() {
				t.Errorf("class %v code %v", back.Class, back.Code)
			}
			if n := len(back.Violations); n == 0 || n > MaxListedViolations+1 {
				t.Fatalf("%d violations came back", n)
			}
			last := back.Violations[len(back.Violations)-1]
			got, counted := moreOf(last)
			switch {
			case tc.more > 0 && got != tc.more:
				t.Errorf("last violation %+v, want a count of %d", last, tc.more)
			case tc.more < 0 && (!counted || got+len(back.Violations)-1 != 60000):
				// Fewer listed to fit: those left out are counted, all of them.
				t.Errorf("listed %d and counted %d (%v), want 60000 in all", len(back.Violations)-1, got, counted)
			case tc.more == 0 && counted:
				t.Errorf("nothing was left out, yet the last violation counts %d", got)
			}
			if tc.more != 0 && !strings.Contains(back.Error(), "more violations") {
				t.Errorf("the text does not count what it leaves out: %.300s", back.Error())
			}
		})
	}
}

func TestErrorTextListsABoundedNumberOfViolations(t *testing.T) {
	e := &Error{Class: ClassInvalid, Message: "refused", Violations: manyViolations(1000, "is required")}
	text := e.Error()
	if strings.Count(text, "is required") != MaxListedViolations || !strings.Contains(text, "order.fees[20].fee_name "+MoreViolations(980)) {
		t.Errorf("text: %s", text)
	}
	if len(e.Violations) != 1000 {
		t.Error("Error() changed the error")
	}
}

// A status without our details saying RESOURCE_EXHAUSTED is gRPC refusing a
// message for its size: the request must change, not the setup.
func TestMessageTooLargeIsInvalid(t *testing.T) {
	se := FromStatus(status.Error(codes.ResourceExhausted, "grpc: received message larger than max (15728705 vs. 262144)")).(*Error)
	if se.Class != ClassInvalid || se.Code != codes.ResourceExhausted || !strings.Contains(se.Message, "too large") || !strings.Contains(se.Message, "15728705") {
		t.Errorf("%+v", se)
	}
	// Ours (rate limits, offline limits) keep their class.
	se = FromStatus(ToStatus(&Error{Class: ClassOfflineLimit, Message: "full", Reason: "MAX_QUEUED_ORDERS"})).(*Error)
	if se.Class != ClassOfflineLimit {
		t.Errorf("%+v", se)
	}
}
