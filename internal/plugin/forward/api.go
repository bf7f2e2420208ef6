package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// API is one of WeChat Pay's two Pay Score APIs as the forwarder and the
// online path use it: how a stored operation is sent, how its order is
// read, and the rule book that judges the answers. The outbox stores
// bodies without knowing which API they are for; the order's record names
// it (outbox.Order.API) and the forwarder sends each order on its own.
type API interface {
	// Name is the API's config name (payscore_api).
	Name() string
	// Call sends one operation, its body as stored.
	Call(ctx context.Context, no string, kind outbox.OpKind, body json.RawMessage) (any, error)
	// Query reads an order. The answer is the API's own type, which only
	// its rule book reads (*wxpay.Order or *wxpay.ServiceOrder).
	Query(ctx context.Context, r wxpay.QueryRequest) (Shown, error)
	// Before, AfterCheck and AfterQuery are the rule book: see rules.go
	// (smart retail) and rules_serviceorder.go (service orders).
	Before(kind outbox.OpKind, body json.RawMessage, ours bool, q Shown, qerr error) Verdict
	AfterCheck(kind outbox.OpKind, body json.RawMessage, ours bool, refusal error, q Shown, qerr error) Verdict
	AfterQuery(kind outbox.OpKind, body json.RawMessage, reconcileOnly, tooOld bool, q Shown, qerr error) Verdict
}

// Shown is an order as an API's query shows it.
type Shown any

// API names, as shared/config spells payscore_api.
const (
	APISmartRetail  = "smartretail"
	APIServiceOrder = "serviceorder"
)

// SmartRetail is the smart-retail order API (/v3/payscore/smartretail-orders).
type SmartRetail struct{ WeChat WeChatPay }

// Name implements API.
func (SmartRetail) Name() string { return APISmartRetail }

// Call implements API.
func (a SmartRetail) Call(ctx context.Context, no string, kind outbox.OpKind, body json.RawMessage) (any, error) {
	return Call(ctx, a.WeChat, no, kind, body)
}

// Query implements API.
func (a SmartRetail) Query(ctx context.Context, r wxpay.QueryRequest) (Shown, error) {
	q, err := a.WeChat.Query(ctx, r)
	if q == nil {
		return nil, err
	}
	return q, err
}

// Before implements API.
func (SmartRetail) Before(kind outbox.OpKind, body json.RawMessage, ours bool, q Shown, qerr error) Verdict {
	return Before(kind, body, ours, asOrder(q), qerr)
}

// AfterCheck implements API.
func (SmartRetail) AfterCheck(kind outbox.OpKind, body json.RawMessage, ours bool, refusal error, q Shown, qerr error) Verdict {
	return AfterCheck(kind, body, ours, refusal, asOrder(q), qerr)
}

// AfterQuery implements API.
func (SmartRetail) AfterQuery(kind outbox.OpKind, body json.RawMessage, reconcileOnly, tooOld bool, q Shown, qerr error) Verdict {
	return AfterQuery(kind, body, reconcileOnly, tooOld, asOrder(q), qerr)
}

// asOrder is a smart-retail query's answer; an empty order stands for
// none, which the rules only read after an error says so.
func asOrder(q Shown) *wxpay.Order {
	if o, ok := q.(*wxpay.Order); ok && o != nil {
		return o
	}
	return &wxpay.Order{}
}

// ServiceOrderClient is what the service-order API calls; *wxpay.Client
// is one.
type ServiceOrderClient interface {
	CreateServiceOrder(context.Context, wxpay.CreateServiceOrderRequest) (*wxpay.ServiceOrder, error)
	QueryServiceOrder(context.Context, wxpay.QueryRequest) (*wxpay.ServiceOrder, error)
	CancelServiceOrder(context.Context, wxpay.CancelServiceOrderRequest) (*wxpay.OrderRef, error)
	ModifyServiceOrder(context.Context, wxpay.ModifyServiceOrderRequest) (*wxpay.ServiceOrder, error)
	CompleteServiceOrder(context.Context, wxpay.CompleteServiceOrderRequest) (*wxpay.ServiceOrder, error)
	PayServiceOrder(context.Context, wxpay.PayServiceOrderRequest) (*wxpay.OrderRef, error)
	SyncServiceOrder(context.Context, wxpay.SyncServiceOrderRequest) (*wxpay.ServiceOrder, error)
}

// ServiceOrders is the Pay Score service-order API (/v3/payscore/serviceorder).
type ServiceOrders struct {
	WeChat ServiceOrderClient
	// Now is WeChat Pay's time as the plugin knows it, for a complete
	// that names no end time when the query before it carried no signed
	// time (see withEnd).
	Now func() time.Time
}

// Name implements API.
func (ServiceOrders) Name() string { return APIServiceOrder }

// Call implements API.
func (a ServiceOrders) Call(ctx context.Context, no string, kind outbox.OpKind, body json.RawMessage) (any, error) {
	switch kind {
	case outbox.OpCreate:
		return callWith(ctx, body, func(r *wxpay.CreateServiceOrderRequest) (*wxpay.ServiceOrder, error) {
			return a.WeChat.CreateServiceOrder(ctx, *r)
		})
	case outbox.OpCancel:
		return callWith(ctx, body, func(r *wxpay.CancelServiceOrderRequest) (*wxpay.OrderRef, error) {
			r.OutOrderNo = no
			return a.WeChat.CancelServiceOrder(ctx, *r)
		})
	case outbox.OpComplete:
		return callWith(ctx, body, func(r *wxpay.CompleteServiceOrderRequest) (*wxpay.ServiceOrder, error) {
			r.OutOrderNo = no
			return a.WeChat.CompleteServiceOrder(ctx, *r)
		})
	case outbox.OpModify:
		return callWith(ctx, body, func(r *wxpay.ModifyServiceOrderRequest) (*wxpay.ServiceOrder, error) {
			r.OutOrderNo = no
			return a.WeChat.ModifyServiceOrder(ctx, *r)
		})
	case outbox.OpPay:
		return callWith(ctx, body, func(r *wxpay.PayServiceOrderRequest) (*wxpay.OrderRef, error) {
			r.OutOrderNo = no
			return a.WeChat.PayServiceOrder(ctx, *r)
		})
	case outbox.OpSync:
		return callWith(ctx, body, func(r *wxpay.SyncServiceOrderRequest) (*wxpay.ServiceOrder, error) {
			r.OutOrderNo = no
			return a.WeChat.SyncServiceOrder(ctx, *r)
		})
	}
	return nil, badRecordError{fmt.Errorf("unknown operation %q", kind)}
}

// withEnd gives a complete about to be sent that names no end time one:
// WeChat Pay wants it when the create gave none, never after the moment
// the complete arrives, nor before the service started. The time WeChat
// Pay answered the query just made is both (the order it showed had
// started; the complete comes after), written with the precision of the
// order's start_time (the day, when that was a day).
func (a ServiceOrders) withEnd(v Verdict, kind outbox.OpKind, q *wxpay.ServiceOrder) Verdict {
	if v.Action != Send || kind != outbox.OpComplete {
		return v
	}
	var r wxpay.CompleteServiceOrderRequest
	if json.Unmarshal(v.Body, &r) != nil || r.TimeRange != nil && r.TimeRange.EndTime != "" {
		return v
	}
	at := q.AnsweredAt
	if at.IsZero() && a.Now != nil {
		at = a.Now().Add(-time.Second) // no signed time to go by: a second back
	}
	if at.IsZero() {
		return v
	}
	if r.TimeRange == nil {
		r.TimeRange = &wxpay.TimeRange{}
	}
	r.TimeRange.EndTime = wxpay.FormatTime(at)
	if q.TimeRange != nil && len(q.TimeRange.StartTime) == 8 && q.TimeRange.StartTime != wxpay.StartTimeOnAccept {
		r.TimeRange.EndTime = r.TimeRange.EndTime[:8]
	}
	v.Body = marshalBody(r)
	return v
}

func marshalBody(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// callWith reads a stored body as R and sends it with send.
func callWith[R, Out any](_ context.Context, body json.RawMessage, send func(*R) (*Out, error)) (any, error) {
	var r R
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, badRecordError{err}
	}
	out, err := send(&r)
	if out == nil {
		return nil, err
	}
	return out, err
}

// Query implements API.
func (a ServiceOrders) Query(ctx context.Context, r wxpay.QueryRequest) (Shown, error) {
	q, err := a.WeChat.QueryServiceOrder(ctx, r)
	if q == nil {
		return nil, err
	}
	return q, err
}

// Before implements API.
func (a ServiceOrders) Before(kind outbox.OpKind, body json.RawMessage, ours bool, q Shown, qerr error) Verdict {
	o := asServiceOrder(q)
	return a.withEnd(ServiceOrderBefore(kind, body, ours, o, qerr), kind, o)
}

// AfterCheck implements API.
func (ServiceOrders) AfterCheck(kind outbox.OpKind, body json.RawMessage, ours bool, refusal error, q Shown, qerr error) Verdict {
	return ServiceOrderAfterCheck(kind, body, ours, refusal, asServiceOrder(q), qerr)
}

// AfterQuery implements API.
func (a ServiceOrders) AfterQuery(kind outbox.OpKind, body json.RawMessage, reconcileOnly, tooOld bool, q Shown, qerr error) Verdict {
	o := asServiceOrder(q)
	return a.withEnd(ServiceOrderAfterQuery(kind, body, reconcileOnly, tooOld, o, qerr), kind, o)
}

func asServiceOrder(q Shown) *wxpay.ServiceOrder {
	if o, ok := q.(*wxpay.ServiceOrder); ok && o != nil {
		return o
	}
	return &wxpay.ServiceOrder{}
}
