package plugin

import (
	"context"

	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// ModifyOrder lowers a completed service order's amount while its payment
// is pending. The smart-retail API has no such operation.
func (s *Service) ModifyOrder(_ context.Context, r *v1.ModifyOrderRequest) (*v1.ModifyOrderResponse, error) {
	return nil, s.serviceOrderOnly("ModifyOrder", r.GetOutOrderNo(),
		"a smart-retail order's amount is set by its complete: complete it with what was taken, or cancel it")
}

// CollectPayment asks WeChat Pay to collect a completed service order's
// payment again. The smart-retail API collects by itself.
func (s *Service) CollectPayment(_ context.Context, r *v1.CollectPaymentRequest) (*v1.CollectPaymentResponse, error) {
	return nil, s.serviceOrderOnly("CollectPayment", r.GetOutOrderNo(),
		"WeChat Pay collects a finished smart-retail order's payment by itself: query it for pay_succ_time")
}

// SyncOrderPaid tells WeChat Pay a service order was paid by other means.
func (s *Service) SyncOrderPaid(_ context.Context, r *v1.SyncOrderPaidRequest) (*v1.SyncOrderPaidResponse, error) {
	return nil, s.serviceOrderOnly("SyncOrderPaid", r.GetOutOrderNo(),
		"the smart-retail API has no way to record a payment made by other means")
}

// serviceOrderOnly is the answer, on the smart-retail API, to a call only
// the service-order API has.
func (s *Service) serviceOrderOnly(call, no, instead string) error {
	c, err := s.working()
	if err != nil {
		return err
	}
	return &shared.Error{Class: shared.ClassUnsupported, OutOrderNo: no,
		Message: call + " is an operation of WeChat Pay's service-order API (payscore_api " + config.APIServiceOrder +
			"); this merchant's service uses the " + c.cfg.API() + " API: " + instead}
}
