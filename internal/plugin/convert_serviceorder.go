package plugin

import (
	"encoding/json"
	"fmt"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The contract's orders, which speak smart-retail's names, as Pay Score
// service orders and back (../shared/design/wechatpay-serviceorder.md
// section 7 maps the fields; section 2.1 gives the smart-retail profile:
// no products at create, one 商品信息 item per product at complete). A
// field the service-order API has no place for is refused by name, never
// dropped.

// riskFundDescriptions are WeChat Pay's own words for each risk fund
// (section 2.3), sent as its description.
var riskFundDescriptions = map[string]string{
	wxpay.RiskFundDeposit:           "押金",
	wxpay.RiskFundAdvance:           "预付款",
	wxpay.RiskFundCashDeposit:       "保证金",
	wxpay.RiskFundEstimateOrderCost: "预估订单费用",
}

// serviceOrderCreate is a NewOrder as a service-order create: risk_amount
// becomes the risk fund (named fund), the times and locations their
// objects, and notifyURL the merchant's server.
func serviceOrderCreate(o *v1.NewOrder, fund, notifyURL string) (wxpay.CreateServiceOrderRequest, error) {
	var bad []shared.FieldViolation
	if len(o.GetFees()) > 0 {
		bad = append(bad, shared.FieldViolation{Field: "order.fees",
			Description: "a service order names its products at complete, not at create (the smart-retail profile): leave fees out"})
	}
	for i, d := range o.GetDiscounts() {
		if d.GetDiscountAmount() != 0 {
			bad = append(bad, shared.FieldViolation{Field: fmt.Sprintf("order.discounts[%d].discount_amount", i),
				Description: "a discount's amount is given at complete, not at create"})
		}
	}
	if len(bad) > 0 {
		return wxpay.CreateServiceOrderRequest{}, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: o.GetOutOrderNo(),
			Message: "the order does not fit the service-order API", Violations: bad}
	}
	confirm := true // WeChat Pay's default for the contract, as on smart retail
	if o.NeedUserConfirm != nil {
		confirm = o.GetNeedUserConfirm()
	}
	r := wxpay.CreateServiceOrderRequest{
		OutOrderNo: o.GetOutOrderNo(), AppID: o.GetAppid(), ServiceID: o.GetServiceId(),
		ServiceIntroduction: o.GetServiceIntroduction(),
		TimeRange:           wxpay.TimeRange{StartTime: o.GetServiceStartTime(), EndTime: o.GetServiceEndTime()},
		RiskFund:            wxpay.RiskFund{Name: fund, Amount: o.GetRiskAmount(), Description: riskFundDescriptions[fund]},
		Attach:              o.GetAttach(), NotifyURL: notifyURL, NeedUserConfirm: &confirm, OpenID: o.GetOpenid(),
	}
	for _, d := range o.GetDiscounts() {
		r.PostDiscounts = append(r.PostDiscounts, wxpay.ServiceOrderCoupon{Name: d.GetDiscountName(), Description: d.GetDiscountDesc()})
	}
	if o.GetServiceStartLocation() != "" || o.GetServiceEndLocation() != "" {
		r.Location = &wxpay.Location{StartLocation: o.GetServiceStartLocation(), EndLocation: o.GetServiceEndLocation()}
	}
	return r, nil
}

// serviceOrderComplete is a charging complete (finish_type 2) as a
// service-order complete: each fee one 商品信息 item, the product its
// description, fee_count its count, fee_amount the line's total. A
// complete that charges nothing (finish_type 1) is a cancel on this API,
// which the caller sends instead.
func serviceOrderComplete(r *v1.CompleteOrderRequest) (wxpay.CompleteServiceOrderRequest, error) {
	var bad []shared.FieldViolation
	if r.GetFinishType() != wxpay.FinishTypeFinish {
		bad = append(bad, shared.FieldViolation{Field: "finish_type",
			Description: "a service order is completed charging (finish_type 2); one ended without a charge is cancelled"})
	}
	payments, more := paymentsFromFees(r.GetFees(), "fees")
	bad = append(bad, more...)
	if len(bad) > 0 {
		return wxpay.CompleteServiceOrderRequest{}, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: r.GetOutOrderNo(),
			Message: "the complete does not fit the service-order API", Violations: bad}
	}
	c := wxpay.CompleteServiceOrderRequest{OutOrderNo: r.GetOutOrderNo(), AppID: r.GetAppid(), ServiceID: r.GetServiceId(),
		PostPayments: payments, PostDiscounts: couponsFromDiscounts(r.GetDiscounts()), ProfitSharing: r.GetProfitSharing()}
	c.TotalAmount = totalOf(r.TotalAmount, c.PostPayments, c.PostDiscounts)
	if r.GetRealServiceStartTime() != "" || r.GetRealServiceEndTime() != "" {
		c.TimeRange = &wxpay.TimeRange{StartTime: r.GetRealServiceStartTime(), EndTime: r.GetRealServiceEndTime()}
	}
	if r.GetRealServiceEndLocation() != "" {
		c.Location = &wxpay.Location{EndLocation: r.GetRealServiceEndLocation()}
	}
	return c, nil
}

// serviceOrderModify is a ModifyOrder request as the service-order body.
func serviceOrderModify(r *v1.ModifyOrderRequest) (wxpay.ModifyServiceOrderRequest, error) {
	payments, bad := paymentsFromFees(r.GetFees(), "fees")
	if len(bad) > 0 {
		return wxpay.ModifyServiceOrderRequest{}, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: r.GetOutOrderNo(),
			Message: "the modify does not fit the service-order API", Violations: bad}
	}
	m := wxpay.ModifyServiceOrderRequest{OutOrderNo: r.GetOutOrderNo(), AppID: r.GetAppid(), ServiceID: r.GetServiceId(),
		PostPayments: payments, PostDiscounts: couponsFromDiscounts(r.GetDiscounts()), Reason: r.GetReason()}
	// total_amount is a plain integer in the contract: 0 is "not given".
	var total *int64
	if t := r.GetTotalAmount(); t != 0 {
		total = &t
	}
	m.TotalAmount = totalOf(total, m.PostPayments, m.PostDiscounts)
	return m, nil
}

// paymentsFromFees makes each fee one 商品信息 item. fee_desc has no place:
// the product's name is the item's description.
func paymentsFromFees(fees []*v1.Fee, field string) ([]wxpay.Payment, []shared.FieldViolation) {
	var out []wxpay.Payment
	var bad []shared.FieldViolation
	for i, f := range fees {
		if f.GetFeeDesc() != "" {
			bad = append(bad, shared.FieldViolation{Field: fmt.Sprintf("%s[%d].fee_desc", field, i),
				Description: "a service order's product line has no description of its own: fee_name (the product) is it; leave fee_desc out"})
		}
		count := f.GetFeeCount()
		if count == 0 {
			count = 1 // as on smart retail: one when not given
		}
		out = append(out, wxpay.Payment{Name: wxpay.SmartRetailPaymentName, Description: f.GetFeeName(), Count: count, Amount: f.GetFeeAmount()})
	}
	return out, bad
}

func couponsFromDiscounts(ds []*v1.Discount) []wxpay.ServiceOrderCoupon {
	var out []wxpay.ServiceOrderCoupon
	for _, d := range ds {
		out = append(out, wxpay.ServiceOrderCoupon{Name: d.GetDiscountName(), Description: d.GetDiscountDesc(), Amount: d.GetDiscountAmount(), Count: 1})
	}
	return out
}

// totalOf is the host's total when it gave one (0 included: the rules then
// check it against the lines, never replaced by them), or the payments
// less the discounts.
func totalOf(given *int64, payments []wxpay.Payment, discounts []wxpay.ServiceOrderCoupon) int64 {
	if given != nil {
		return *given
	}
	var t int64
	for _, p := range payments {
		t += p.Amount
	}
	for _, d := range discounts {
		t -= d.Amount
	}
	return t
}

// orderFromServiceOrder is WeChat Pay's service order in the contract's
// words: each 商品信息 item a fee named for its product.
func orderFromServiceOrder(o *wxpay.ServiceOrder) *v1.Order {
	out := &v1.Order{Appid: o.AppID, Mchid: o.MchID, OutOrderNo: o.OutOrderNo, ServiceId: o.ServiceID,
		State: o.State, StateDescription: o.StateDescription, Stage: serviceOrderStage(o.State, o.StateDescription),
		ServiceIntroduction: o.ServiceIntroduction, TotalAmount: o.TotalAmount, Attach: o.Attach, OrderId: o.OrderID}
	for _, p := range o.PostPayments {
		name := p.Description
		if p.Name != wxpay.SmartRetailPaymentName {
			name = p.Name // not the smart-retail profile's: its own name
		}
		out.Fees = append(out.Fees, &v1.Fee{FeeName: name, FeeCount: p.Count, FeeAmount: p.Amount})
	}
	for _, d := range o.PostDiscounts {
		out.Discounts = append(out.Discounts, &v1.Discount{DiscountName: d.Name, DiscountDesc: d.Description, DiscountAmount: d.Amount})
	}
	if o.RiskFund != nil {
		out.RiskAmount = o.RiskFund.Amount
	}
	if t := o.TimeRange; t != nil {
		out.ServiceStartTime, out.ServiceEndTime = t.StartTime, t.EndTime
	}
	if l := o.Location; l != nil {
		out.ServiceStartLocation, out.ServiceEndLocation = l.StartLocation, l.EndLocation
	}
	if c := o.Collection; c != nil {
		out.Collection = &v1.Collection{State: c.State, TotalAmount: c.TotalAmount, PayingAmount: c.PayingAmount, PaidAmount: c.PaidAmount}
		for _, d := range c.Details {
			out.Collection.Details = append(out.Collection.Details, &v1.CollectionDetail{Seq: d.Seq, Amount: d.Amount,
				PaidType: d.PaidType, PaidTime: d.PaidTime, TransactionId: d.TransactionID})
		}
	}
	return out
}

// serviceOrderStage is where a service order is, in the stages both APIs
// share (section 3: state, with state_description while DOING).
func serviceOrderStage(state, description string) v1.LifecycleStage {
	switch {
	case state == wxpay.ServiceOrderCreated:
		return v1.LifecycleStage_LIFECYCLE_STAGE_CREATED
	case state == wxpay.ServiceOrderDoing && description == wxpay.DescriptionMchComplete:
		return v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT
	case state == wxpay.ServiceOrderDoing:
		return v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED
	case state == wxpay.ServiceOrderDone:
		return v1.LifecycleStage_LIFECYCLE_STAGE_PAID
	case state == wxpay.ServiceOrderRevoked:
		return v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED
	case state == wxpay.ServiceOrderExpired:
		return v1.LifecycleStage_LIFECYCLE_STAGE_EXPIRED
	}
	return v1.LifecycleStage_LIFECYCLE_STAGE_UNSPECIFIED
}

// serviceOrderAPI is the Pay Score service-order API (/v3/payscore/serviceorder).
type serviceOrderAPI struct {
	forward.ServiceOrders
	cfg *config.Config
}

// The contract's names for the service-order fields a rule can name (see
// checked): a host reads what it sent.
var (
	productFields = map[string]string{
		"/post_payments": "/fees", "/post_payments/*": "/fees/*",
		"/post_payments/*/name": "/fees/*/fee_name", "/post_payments/*/description": "/fees/*/fee_name",
		"/post_payments/*/count": "/fees/*/fee_count", "/post_payments/*/amount": "/fees/*/fee_amount",
		"/post_discounts": "/discounts", "/post_discounts/*": "/discounts/*",
		"/post_discounts/*/name": "/discounts/*/discount_name", "/post_discounts/*/description": "/discounts/*/discount_desc",
		"/post_discounts/*/amount": "/discounts/*/discount_amount",
	}
	createFields = withFields(productFields, map[string]string{
		"/time_range/start_time": "/service_start_time", "/time_range/end_time": "/service_end_time",
		"/location/start_location": "/service_start_location", "/location/end_location": "/service_end_location",
		"/risk_fund/amount": "/risk_amount",
	})
	completeFields = withFields(productFields, map[string]string{
		"/time_range/start_time": "/real_service_start_time", "/time_range/end_time": "/real_service_end_time",
		"/location/end_location": "/real_service_end_location",
	})
	cancelAsCompleteFields = map[string]string{"/reason": "/cancel_reason"}
)

func withFields(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func (a serviceOrderAPI) ids(appID, serviceID string) wxpay.OrderRef {
	return wxpay.OrderRef{AppID: appID, ServiceID: serviceID}
}

func (a serviceOrderAPI) create(o *v1.NewOrder, no string) (newCreate, error) {
	req, err := serviceOrderCreate(o, a.cfg.FundName(), a.cfg.NotifyURL)
	if err != nil {
		return newCreate{}, withOrder(err, no)
	}
	req.OutOrderNo = no
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return newCreate{}, checked(err, no, "order", createFields)
	}
	return newCreate{no: no, appID: req.AppID, serviceID: req.ServiceID, body: marshal(req), amount: req.RiskFund.Amount,
		confirm: *req.NeedUserConfirm}, nil
}

func (serviceOrderAPI) createdFrom(result json.RawMessage) (*v1.CreatedOrder, bool) {
	var r wxpay.ServiceOrder
	if json.Unmarshal(result, &r) != nil || r.OrderID == "" {
		return nil, false
	}
	return &v1.CreatedOrder{Appid: r.AppID, Mchid: r.MchID, OutOrderNo: r.OutOrderNo, ServiceId: r.ServiceID,
		OrderId: r.OrderID, Package: r.Package}, true
}

func (a serviceOrderAPI) cancel(r *v1.CancelOrderRequest) (opCall, error) {
	return a.cancelWith(r.GetOutOrderNo(), r.GetAppid(), r.GetServiceId(), r.GetReason(), nil)
}

func (a serviceOrderAPI) cancelWith(no, appID, serviceID, reason string, fields map[string]string) (opCall, error) {
	req := wxpay.CancelServiceOrderRequest{OutOrderNo: no, AppID: appID, ServiceID: serviceID, Reason: reason}
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return opCall{}, checked(err, no, "", fields)
	}
	return opCall{no: no, kind: outbox.OpCancel, body: marshal(req), ids: a.ids(req.AppID, req.ServiceID)}, nil
}

// complete: one that charges nothing (finish_type 1) is the order's
// cancel, its cancel_reason the reason: a service order has no complete
// that ends it uncharged.
func (a serviceOrderAPI) complete(r *v1.CompleteOrderRequest) (opCall, error) {
	if r.GetFinishType() == wxpay.FinishTypeCancel {
		if len(r.GetFees()) > 0 || r.GetTotalAmount() != 0 {
			return opCall{}, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: r.GetOutOrderNo(), Message: "a complete with finish_type 1 charges nothing",
				Violations: []shared.FieldViolation{{Field: "fees", Description: "must be left out with finish_type 1 (on service orders it is sent as the order's cancel)"}}}
		}
		return a.cancelWith(r.GetOutOrderNo(), r.GetAppid(), r.GetServiceId(), r.GetCancelReason(), cancelAsCompleteFields)
	}
	req, err := serviceOrderComplete(r)
	if err != nil {
		return opCall{}, err
	}
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return opCall{}, checked(err, req.OutOrderNo, "", completeFields)
	}
	return opCall{no: req.OutOrderNo, kind: outbox.OpComplete, body: marshal(req), ids: a.ids(req.AppID, req.ServiceID)}, nil
}

func (a serviceOrderAPI) modify(r *v1.ModifyOrderRequest) (opCall, error) {
	req, err := serviceOrderModify(r)
	if err != nil {
		return opCall{}, err
	}
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return opCall{}, checked(err, req.OutOrderNo, "", productFields)
	}
	return opCall{no: req.OutOrderNo, kind: outbox.OpModify, body: marshal(req), ids: a.ids(req.AppID, req.ServiceID)}, nil
}

func (a serviceOrderAPI) pay(r *v1.CollectPaymentRequest) (opCall, error) {
	req := wxpay.PayServiceOrderRequest{OutOrderNo: r.GetOutOrderNo(), AppID: r.GetAppid(), ServiceID: r.GetServiceId()}
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return opCall{}, checked(err, req.OutOrderNo, "", nil)
	}
	return opCall{no: req.OutOrderNo, kind: outbox.OpPay, body: marshal(req), ids: a.ids(req.AppID, req.ServiceID)}, nil
}

func (a serviceOrderAPI) sync(r *v1.SyncOrderPaidRequest) (opCall, error) {
	req := wxpay.SyncServiceOrderRequest{OutOrderNo: r.GetOutOrderNo(), AppID: r.GetAppid(), ServiceID: r.GetServiceId(),
		Detail: wxpay.SyncDetail{PaidTime: r.GetPaidTime()}}
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return opCall{}, checked(err, req.OutOrderNo, "", map[string]string{"/detail/paid_time": "/paid_time"})
	}
	return opCall{no: req.OutOrderNo, kind: outbox.OpSync, body: marshal(req), ids: a.ids(req.AppID, req.ServiceID)}, nil
}

func (serviceOrderAPI) order(q forward.Shown) *v1.Order {
	o, _ := q.(*wxpay.ServiceOrder)
	if o == nil {
		return &v1.Order{}
	}
	return orderFromServiceOrder(o)
}

func (serviceOrderAPI) queuedOrder(mchID string, body json.RawMessage) (*v1.Order, error) {
	var r wxpay.CreateServiceOrderRequest
	err := json.Unmarshal(body, &r)
	out := &v1.Order{Appid: r.AppID, Mchid: mchID, OutOrderNo: r.OutOrderNo, ServiceId: r.ServiceID,
		ServiceIntroduction: r.ServiceIntroduction, ServiceStartTime: r.TimeRange.StartTime, ServiceEndTime: r.TimeRange.EndTime,
		RiskAmount: r.RiskFund.Amount, Attach: r.Attach}
	if l := r.Location; l != nil {
		out.ServiceStartLocation, out.ServiceEndLocation = l.StartLocation, l.EndLocation
	}
	for _, d := range r.PostDiscounts {
		out.Discounts = append(out.Discounts, &v1.Discount{DiscountName: d.Name, DiscountDesc: d.Description})
	}
	return out, err
}

// aboveRisk: a 先免 risk fund (a deposit) caps what a complete charges
// (the fact sheet's section 4); 预估订单费用 is capped only by the
// service's limit, which WeChat Pay alone knows.
func (serviceOrderAPI) aboveRisk(no string, create, complete json.RawMessage) error {
	var c wxpay.CreateServiceOrderRequest
	var r wxpay.CompleteServiceOrderRequest
	if json.Unmarshal(create, &c) != nil || json.Unmarshal(complete, &r) != nil || !wxpay.DepositFund(c.RiskFund.Name) || r.TotalAmount <= c.RiskFund.Amount {
		return nil
	}
	return &shared.Error{Class: shared.ClassInvalid, OutOrderNo: no, Reason: shared.ReasonTotalAboveRisk,
		Message: fmt.Sprintf("the complete charges %d fen, more than the order's risk fund (%s) of %d fen: WeChat Pay refuses it", r.TotalAmount, c.RiskFund.Name, c.RiskFund.Amount)}
}
