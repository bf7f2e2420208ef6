package forward

import (
	"context"
	"encoding/json"
	"fmt"

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
	// Times writes a complete's real times as WeChat Pay must get them,
	// from the sale and the order q shows (times.go); any other operation
	// goes as it is.
	Times(kind outbox.OpKind, body json.RawMessage, q Shown, sale Sale) json.RawMessage
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
func (ServiceOrders) Before(kind outbox.OpKind, body json.RawMessage, ours bool, q Shown, qerr error) Verdict {
	return ServiceOrderBefore(kind, body, ours, asServiceOrder(q), qerr)
}

// AfterCheck implements API.
func (ServiceOrders) AfterCheck(kind outbox.OpKind, body json.RawMessage, ours bool, refusal error, q Shown, qerr error) Verdict {
	return ServiceOrderAfterCheck(kind, body, ours, refusal, asServiceOrder(q), qerr)
}

// AfterQuery implements API.
func (ServiceOrders) AfterQuery(kind outbox.OpKind, body json.RawMessage, reconcileOnly, tooOld bool, q Shown, qerr error) Verdict {
	return ServiceOrderAfterQuery(kind, body, reconcileOnly, tooOld, asServiceOrder(q), qerr)
}

func asServiceOrder(q Shown) *wxpay.ServiceOrder {
	if o, ok := q.(*wxpay.ServiceOrder); ok && o != nil {
		return o
	}
	return &wxpay.ServiceOrder{}
}
