package shared

import (
	"context"
	"errors"
	"reflect"
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
