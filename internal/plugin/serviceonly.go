package plugin

import (
	"context"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The calls only the service-order API has. On the smart-retail API each
// answers UNIMPLEMENTED (ClassUnsupported) saying what to do instead.

// ModifyOrder lowers a completed service order's amount while its payment
// is pending, or queues the modify behind the order's other operations.
func (s *Service) ModifyOrder(ctx context.Context, r *v1.ModifyOrderRequest) (*v1.ModifyOrderResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	call, err := c.api.modify(r)
	if err != nil {
		return nil, err
	}
	disp, ref, storedAt, _, err := s.operation(ctx, c, call)
	if err != nil {
		return nil, err
	}
	return &v1.ModifyOrderResponse{Disposition: disp, Order: ref, StoredAt: storedAt}, nil
}

// CollectPayment asks WeChat Pay to collect a completed service order's
// payment again. It is sent now or not at all: asking again later is the
// host's to decide, not a queue's.
func (s *Service) CollectPayment(ctx context.Context, r *v1.CollectPaymentRequest) (*v1.CollectPaymentResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	call, err := c.api.pay(r)
	if err != nil {
		return nil, err
	}
	result, err := s.onlineOnly(ctx, c, call)
	if err != nil {
		return nil, err
	}
	return &v1.CollectPaymentResponse{Order: refOf(result, call, c.cfg.MchID)}, nil
}

// SyncOrderPaid tells WeChat Pay a service order was paid by other means,
// and answers with the order as it then is.
func (s *Service) SyncOrderPaid(ctx context.Context, r *v1.SyncOrderPaidRequest) (*v1.SyncOrderPaidResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	call, err := c.api.sync(r)
	if err != nil {
		return nil, err
	}
	result, err := s.onlineOnly(ctx, c, call)
	if err != nil {
		return nil, err
	}
	return &v1.SyncOrderPaidResponse{Order: c.api.order(result)}, nil
}

// serviceOrderOnly is the answer, on the smart-retail API, to a call only
// the service-order API has.
func serviceOrderOnly(call, no, instead string) error {
	return &shared.Error{Class: shared.ClassUnsupported, OutOrderNo: no,
		Message: call + " is an operation of WeChat Pay's service-order API (payscore_api " + config.APIServiceOrder +
			"); this merchant's service uses the " + config.APISmartRetail + " API: " + instead}
}

// onlineOnly sends an operation that is never queued (pay, sync): after
// the order's queued work, judged by the rule book on a query of the
// order like any other, and not kept in the outbox.
func (s *Service) onlineOnly(ctx context.Context, c *configured, call opCall) (any, error) {
	o, err := c.store.Get(call.no)
	if err != nil {
		return nil, withOrder(outboxError(err), call.no)
	}
	if o != nil && c.apiOf(o).Name() != c.api.Name() {
		return nil, otherAPIError(call.no, c.apiOf(o).Name(), c.api.Name())
	}
	if o != nil && o.Next() >= 0 {
		return nil, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: call.no, Reason: shared.ReasonOperationConflict,
			Message: "order " + call.no + " has operations waiting in the outbox (" + pendingOps(o) + "): WeChat Pay must have them first; send the " + string(call.kind) + " once they are submitted (watch for OPERATION_SUBMITTED)"}
	}
	return s.sendChecked(ctx, c, c.api, call)
}

// pendingOps names an order's operations not yet done.
func pendingOps(o *outbox.Order) string {
	out := ""
	for _, op := range o.Ops {
		if op.State != outbox.OpDone {
			if out != "" {
				out += ", "
			}
			out += string(op.Kind)
		}
	}
	return out
}
