package wxpay

import (
	"context"
	"net/http"
	"net/url"
)

// The Pay Score service-order API (/v3/payscore/serviceorder), which the
// current official pages document smart retail on, beside the smart-retail
// order API: the same Client, so the same signing on WeChat Pay's time,
// answer checks, backup domain and error classes (call, classOf). AppID and
// ServiceID default to Settings' as they do for smart-retail orders. Every
// request is checked first (serviceorder_validate.go lists the rules and
// their sources) and refused with an Invalid *Error before any network call.
//
// Errors are classed as every call's are: WeChat Pay's refusals for the
// order's state (INVALID_ORDER_STATE, ORDER_CANCELED, ORDER_DONE, 400) are
// Invalid, ORDER_NOT_EXIST (404) NotFound, NO_AUTH Auth.

// CreateServiceOrder creates a service order; the answer is the order,
// with the package that opens the confirmation page when the customer
// confirms. out_order_no is the idempotency key: WeChat Pay answers an
// identical create with the same order, and a create reusing it with other
// parameters with INVALID_REQUEST.
func (c *Client) CreateServiceOrder(ctx context.Context, r CreateServiceOrderRequest) (*ServiceOrder, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[ServiceOrder](ctx, c, r.Validate, "create", http.MethodPost, serviceOrderPath, r)
}

// QueryServiceOrder reads an order by exactly one of out_order_no and
// query_id (what the confirmation page hands the merchant's front end).
func (c *Client) QueryServiceOrder(ctx context.Context, r QueryRequest) (*ServiceOrder, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[ServiceOrder](ctx, c, r.Validate, "query", http.MethodGet, queryPath(serviceOrderPath, r), nil)
}

// CancelServiceOrder revokes an order. Whether an order awaiting payment
// may be cancelled is WeChat Pay's to answer (the sources disagree).
func (c *Client) CancelServiceOrder(ctx context.Context, r CancelServiceOrderRequest) (*OrderRef, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[OrderRef](ctx, c, r.Validate, "cancel", http.MethodPost, serviceOrderOpPath(r.OutOrderNo, "cancel"), r)
}

// ModifyServiceOrder lowers the amount of a completed order awaiting
// payment. How many times is WeChat Pay's to answer (the sources disagree).
func (c *Client) ModifyServiceOrder(ctx context.Context, r ModifyServiceOrderRequest) (*ServiceOrder, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[ServiceOrder](ctx, c, r.Validate, "modify", http.MethodPost, serviceOrderOpPath(r.OutOrderNo, "modify"), r)
}

// CompleteServiceOrder ends an order in service (DOING, USER_CONFIRM) and
// says what it charges; WeChat Pay then deducts until it succeeds.
func (c *Client) CompleteServiceOrder(ctx context.Context, r CompleteServiceOrderRequest) (*ServiceOrder, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[ServiceOrder](ctx, c, r.Validate, "complete", http.MethodPost, serviceOrderOpPath(r.OutOrderNo, "complete"), r)
}

// PayServiceOrder asks WeChat Pay to collect a completed order awaiting
// payment again (催收扣款). WeChat Pay answers 200 with the order's
// reference, or 204 with no body: then the OrderRef is empty (an *OrderRef
// is what call takes a verified empty answer into).
func (c *Client) PayServiceOrder(ctx context.Context, r PayServiceOrderRequest) (*OrderRef, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[OrderRef](ctx, c, r.Validate, "pay", http.MethodPost, serviceOrderOpPath(r.OutOrderNo, "pay"), r)
}

// SyncServiceOrder tells WeChat Pay that a completed order awaiting
// payment was paid by other means (type Order_Paid).
func (c *Client) SyncServiceOrder(ctx context.Context, r SyncServiceOrderRequest) (*ServiceOrder, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[ServiceOrder](ctx, c, r.Validate, "sync", http.MethodPost, serviceOrderOpPath(r.OutOrderNo, "sync"), r)
}

// serviceOrderOpPath is /v3/payscore/serviceorder/{out_order_no}/{op}.
func serviceOrderOpPath(outOrderNo, op string) string {
	return serviceOrderPath + "/" + url.PathEscape(outOrderNo) + "/" + op
}
