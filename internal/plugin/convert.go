package plugin

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The one place where the plugin boundary's proto messages meet wxpay's
// WeChat JSON structs.

func feesToWx(in []*v1.Fee) []wxpay.Fee {
	if len(in) == 0 {
		return nil
	}
	out := make([]wxpay.Fee, len(in))
	for i, f := range in {
		out[i] = wxpay.Fee{FeeName: f.GetFeeName(), FeeCount: f.GetFeeCount(), FeeAmount: f.GetFeeAmount(), FeeDesc: f.GetFeeDesc()}
	}
	return out
}

func feesFromWx(in []wxpay.Fee) []*v1.Fee {
	out := make([]*v1.Fee, len(in))
	for i, f := range in {
		out[i] = &v1.Fee{FeeName: f.FeeName, FeeCount: f.FeeCount, FeeAmount: f.FeeAmount, FeeDesc: f.FeeDesc}
	}
	return out
}

func discountsToWx(in []*v1.Discount) []wxpay.Discount {
	if len(in) == 0 {
		return nil
	}
	out := make([]wxpay.Discount, len(in))
	for i, d := range in {
		out[i] = wxpay.Discount{DiscountName: d.GetDiscountName(), DiscountDesc: d.GetDiscountDesc(), DiscountAmount: d.GetDiscountAmount()}
	}
	return out
}

func discountsFromWx(in []wxpay.Discount) []*v1.Discount {
	out := make([]*v1.Discount, len(in))
	for i, d := range in {
		out[i] = &v1.Discount{DiscountName: d.DiscountName, DiscountDesc: d.DiscountDesc, DiscountAmount: d.DiscountAmount}
	}
	return out
}

func createToWx(o *v1.NewOrder) wxpay.CreateRequest {
	return wxpay.CreateRequest{
		AppID:                o.GetAppid(),
		OutOrderNo:           o.GetOutOrderNo(),
		ServiceID:            o.GetServiceId(),
		ServiceStartTime:     o.GetServiceStartTime(),
		ServiceEndTime:       o.GetServiceEndTime(),
		ServiceStartLocation: o.GetServiceStartLocation(),
		ServiceEndLocation:   o.GetServiceEndLocation(),
		ServiceIntroduction:  o.GetServiceIntroduction(),
		Fees:                 feesToWx(o.GetFees()),
		Discounts:            discountsToWx(o.GetDiscounts()),
		RiskAmount:           o.GetRiskAmount(),
		Attach:               o.GetAttach(),
		NeedUserConfirm:      o.NeedUserConfirm,
		OpenID:               o.GetOpenid(),
	}
}

func createdFromWx(r *wxpay.CreateResponse) *v1.CreatedOrder {
	return &v1.CreatedOrder{
		Appid:                   r.AppID,
		Mchid:                   r.MchID,
		OutOrderNo:              r.OutOrderNo,
		ServiceId:               r.ServiceID,
		OrderId:                 r.OrderID,
		MiniprogramBusinesstype: r.MiniprogramBusinessType,
		MiniprogramAppid:        r.MiniprogramAppID,
		MiniprogramPath:         r.MiniprogramPath,
		MiniprogramUsername:     r.MiniprogramUsername,
		Package:                 r.Package,
	}
}

func queryToWx(q *v1.QueryOrderRequest) wxpay.QueryRequest {
	return wxpay.QueryRequest{OutOrderNo: q.GetOutOrderNo(), QueryID: q.GetQueryId(), AppID: q.GetAppid(), ServiceID: q.GetServiceId()}
}

func orderFromWx(o *wxpay.Order) *v1.Order {
	return &v1.Order{
		Appid:                    o.AppID,
		Mchid:                    o.MchID,
		OutOrderNo:               o.OutOrderNo,
		ServiceId:                o.ServiceID,
		State:                    o.State,
		FinishType:               int32(o.FinishType),
		ServiceStartTime:         o.ServiceStartTime,
		ServiceEndTime:           o.ServiceEndTime,
		RealServiceStartTime:     o.RealServiceStartTime,
		RealServiceEndTime:       o.RealServiceEndTime,
		PaySuccTime:              o.PaySuccTime,
		ServiceStartLocation:     o.ServiceStartLocation,
		ServiceEndLocation:       o.ServiceEndLocation,
		RealServiceStartLocation: o.RealServiceStartLocation,
		RealServiceEndLocation:   o.RealServiceEndLocation,
		ServiceIntroduction:      o.ServiceIntroduction,
		Fees:                     feesFromWx(o.Fees),
		Discounts:                discountsFromWx(o.Discounts),
		RiskAmount:               o.RiskAmount,
		TotalAmount:              o.TotalAmount,
		Attach:                   o.Attach,
		FinishTicket:             o.FinishTicket,
		FinishTransactionId:      o.FinishTransactionID,
		PayType:                  o.PayType,
		Stage:                    smartRetailStage(o.State, o.FinishType),
	}
}

// smartRetailStage is where a smart-retail order is, in the stages both
// APIs share (../shared/design/wechatpay-serviceorder.md section 7 maps the
// states): FINISHED with finish_type 1 ended without a charge.
func smartRetailStage(state string, finishType int) v1.LifecycleStage {
	switch state {
	case wxpay.StateCreated:
		return v1.LifecycleStage_LIFECYCLE_STAGE_CREATED
	case wxpay.StateUserAccepted:
		return v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED
	case wxpay.StateFinished:
		if finishType == wxpay.FinishTypeCancel {
			return v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED
		}
		return v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT
	case wxpay.StateUserPaid:
		return v1.LifecycleStage_LIFECYCLE_STAGE_PAID
	case wxpay.StateRevoked:
		return v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED
	case wxpay.StateExpired:
		return v1.LifecycleStage_LIFECYCLE_STAGE_EXPIRED
	}
	return v1.LifecycleStage_LIFECYCLE_STAGE_UNSPECIFIED
}

func cancelToWx(r *v1.CancelOrderRequest) wxpay.CancelRequest {
	return wxpay.CancelRequest{OutOrderNo: r.GetOutOrderNo(), AppID: r.GetAppid(), ServiceID: r.GetServiceId(), Reason: r.GetReason()}
}

func completeToWx(r *v1.CompleteOrderRequest) wxpay.CompleteRequest {
	return wxpay.CompleteRequest{
		OutOrderNo:             r.GetOutOrderNo(),
		AppID:                  r.GetAppid(),
		ServiceID:              r.GetServiceId(),
		FinishType:             int(r.GetFinishType()),
		CancelReason:           r.GetCancelReason(),
		RealServiceStartTime:   r.GetRealServiceStartTime(),
		RealServiceEndTime:     r.GetRealServiceEndTime(),
		RealServiceEndLocation: r.GetRealServiceEndLocation(),
		Fees:                   feesToWx(r.GetFees()),
		Discounts:              discountsToWx(r.GetDiscounts()),
		TotalAmount:            r.TotalAmount,
		FinishTicket:           r.GetFinishTicket(),
		ProfitSharing:          r.GetProfitSharing(),
	}
}

func refFromWx(r *wxpay.OrderRef) *v1.OrderRef {
	return &v1.OrderRef{Appid: r.AppID, Mchid: r.MchID, OutOrderNo: r.OutOrderNo, ServiceId: r.ServiceID, OrderId: r.OrderID}
}

// fieldPath turns wxpay's JSON pointer (/fees/0/fee_amount) into the field's
// path in the request message (order.fees[0].fee_amount), which is what a
// host sees in google.rpc.BadRequest.
func fieldPath(prefix, pointer string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, part := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		if part == "" {
			continue
		}
		if isIndex(part) {
			fmt.Fprintf(&b, "[%s]", part)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(part)
	}
	return b.String()
}

func isIndex(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func eventToProto(ev outbox.Event) *v1.Event {
	types := map[string]v1.EventType{
		outbox.EventOrderQueued:          v1.EventType_EVENT_TYPE_ORDER_QUEUED,
		outbox.EventOrderSubmitted:       v1.EventType_EVENT_TYPE_ORDER_SUBMITTED,
		outbox.EventOrderFailed:          v1.EventType_EVENT_TYPE_ORDER_FAILED,
		outbox.EventOperationQueued:      v1.EventType_EVENT_TYPE_OPERATION_QUEUED,
		outbox.EventOperationSubmitted:   v1.EventType_EVENT_TYPE_OPERATION_SUBMITTED,
		outbox.EventNetworkStatusChanged: v1.EventType_EVENT_TYPE_NETWORK_STATUS_CHANGED,
		outbox.EventEventsLost:           v1.EventType_EVENT_TYPE_EVENTS_LOST,
		outbox.EventClockSkew:            v1.EventType_EVENT_TYPE_CLOCK_SKEW,
		outbox.EventAPIDomainChanged:     v1.EventType_EVENT_TYPE_API_DOMAIN_CHANGED,
	}
	out := &v1.Event{
		Sequence:      ev.Seq,
		Type:          types[ev.Type],
		Time:          timestamppb.New(ev.Time),
		OutOrderNo:    ev.OutOrderNo,
		Operation:     string(ev.Op),
		OrderId:       ev.OrderID,
		Package:       ev.Package,
		Code:          ev.Code,
		Message:       ev.Message,
		NetworkStatus: networkStatus(ev.Network),
	}
	if ev.APIBaseURL != "" {
		out.ApiBaseUrl = redactURL(ev.APIBaseURL)
	}
	if ev.Type == outbox.EventClockSkew {
		out.ClockOffset = durationpb.New(ev.ClockOffset)
	}
	return out
}

func networkStatus(s string) v1.NetworkStatus {
	switch s {
	case "ONLINE":
		return v1.NetworkStatus_NETWORK_STATUS_ONLINE
	case "OFFLINE":
		return v1.NetworkStatus_NETWORK_STATUS_OFFLINE
	}
	return v1.NetworkStatus_NETWORK_STATUS_UNKNOWN
}

// queuedFromOutbox is the outbox's view of an order.
func queuedFromOutbox(o *outbox.Order) *v1.QueuedOrder {
	q := &v1.QueuedOrder{OutOrderNo: o.OutOrderNo, StoredAt: timestamppb.New(o.StoredAt), Amount: o.Amount}
	switch o.State() {
	case outbox.StateQueued:
		q.LocalState = v1.LocalState_LOCAL_STATE_QUEUED
	case outbox.StateSubmitting:
		q.LocalState = v1.LocalState_LOCAL_STATE_SUBMITTING
	case outbox.StateSubmitted:
		q.LocalState = v1.LocalState_LOCAL_STATE_SUBMITTED
	case outbox.StateFailed:
		q.LocalState = v1.LocalState_LOCAL_STATE_FAILED
		q.FailureCode, q.FailureMessage, q.FailedOperation = o.Failure.Code, o.Failure.Message, string(o.Failure.Op)
	}
	for _, op := range o.Ops {
		if op.State != outbox.OpDone {
			q.PendingOperations = append(q.PendingOperations, string(op.Kind))
		}
	}
	if i := o.Next(); i >= 0 {
		q.Attempts, q.LastError = int32(o.Ops[i].Attempts), o.Ops[i].LastError
	}
	return q
}

// orderFromQueued builds the Order message from a queued create, for a
// query that WeChat Pay cannot answer yet. State stays empty: WeChat Pay
// has given it none.
func (s *Service) orderFromQueued(c *configured, api payscore, o *outbox.Order) *v1.Order {
	out, err := api.queuedOrder(c.cfg.MchID, o.Ops[0].Body)
	if err != nil {
		// Answer what the outbox knows, and say why the rest is missing.
		s.log.Error("queued create cannot be read: its fields are left out of the answer", "out_order_no", o.OutOrderNo, "error", err)
	}
	out.OutOrderNo = o.OutOrderNo
	return out
}

// createdOrderID is WeChat Pay's order_id from the create answer the
// outbox kept (both APIs' answers name it order_id); "" when it holds none
// (the create went online, or its answer was never read).
func createdOrderID(o *outbox.Order) string {
	if !o.Has(outbox.OpCreate) {
		return ""
	}
	var r struct {
		OrderID string `json:"order_id"`
	}
	if json.Unmarshal(o.Ops[0].Result, &r) != nil {
		return ""
	}
	return r.OrderID
}

// smartRetailAPI is the smart-retail order API (/v3/payscore/smartretail-orders).
type smartRetailAPI struct {
	forward.SmartRetail
	cfg *config.Config
}

// defaults fills an empty appid and service_id with the config's, on
// either API.
func defaults(cfg *config.Config, appID, serviceID *string) {
	if *appID == "" {
		*appID = cfg.AppID
	}
	if *serviceID == "" {
		*serviceID = cfg.ServiceID
	}
}

func (a smartRetailAPI) create(o *v1.NewOrder, no string) (newCreate, error) {
	req := createToWx(o)
	req.OutOrderNo = no
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return newCreate{}, checked(err, no, "order", nil)
	}
	return newCreate{no: no, appID: req.AppID, serviceID: req.ServiceID, body: marshal(req), amount: queuedAmount(req),
		confirm: req.NeedUserConfirm == nil || *req.NeedUserConfirm}, nil
}

func (smartRetailAPI) createdFrom(result json.RawMessage) (*v1.CreatedOrder, bool) {
	var r wxpay.CreateResponse
	if json.Unmarshal(result, &r) != nil || r.OrderID == "" {
		return nil, false
	}
	return createdFromWx(&r), true
}

func (a smartRetailAPI) cancel(r *v1.CancelOrderRequest) (opCall, error) {
	req := cancelToWx(r)
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return opCall{}, checked(err, req.OutOrderNo, "", nil)
	}
	return opCall{no: req.OutOrderNo, kind: outbox.OpCancel, body: marshal(req), ids: wxpay.OrderRef{AppID: req.AppID, ServiceID: req.ServiceID}}, nil
}

func (a smartRetailAPI) complete(r *v1.CompleteOrderRequest) (opCall, error) {
	req := completeToWx(r)
	defaults(a.cfg, &req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return opCall{}, checked(err, req.OutOrderNo, "", nil)
	}
	return opCall{no: req.OutOrderNo, kind: outbox.OpComplete, body: marshal(req), ids: wxpay.OrderRef{AppID: req.AppID, ServiceID: req.ServiceID}}, nil
}

func (smartRetailAPI) modify(r *v1.ModifyOrderRequest) (opCall, error) {
	return opCall{}, serviceOrderOnly("ModifyOrder", r.GetOutOrderNo(),
		"a smart-retail order's amount is set by its complete: complete it with what was taken, or cancel it")
}

func (smartRetailAPI) pay(r *v1.CollectPaymentRequest) (opCall, error) {
	return opCall{}, serviceOrderOnly("CollectPayment", r.GetOutOrderNo(),
		"WeChat Pay collects a finished smart-retail order's payment by itself: query it for pay_succ_time")
}

func (smartRetailAPI) sync(r *v1.SyncOrderPaidRequest) (opCall, error) {
	return opCall{}, serviceOrderOnly("SyncOrderPaid", r.GetOutOrderNo(),
		"the smart-retail API has no way to record a payment made by other means")
}

func (smartRetailAPI) order(q forward.Shown) *v1.Order {
	o, _ := q.(*wxpay.Order)
	if o == nil {
		return &v1.Order{}
	}
	return orderFromWx(o)
}

func (smartRetailAPI) queuedOrder(mchID string, body json.RawMessage) (*v1.Order, error) {
	var r wxpay.CreateRequest
	err := json.Unmarshal(body, &r)
	return &v1.Order{
		Appid: r.AppID, Mchid: mchID, OutOrderNo: r.OutOrderNo, ServiceId: r.ServiceID,
		ServiceStartTime: r.ServiceStartTime, ServiceEndTime: r.ServiceEndTime,
		ServiceStartLocation: r.ServiceStartLocation, ServiceEndLocation: r.ServiceEndLocation,
		ServiceIntroduction: r.ServiceIntroduction, Fees: feesFromWx(r.Fees),
		Discounts: discountsFromWx(r.Discounts), RiskAmount: r.RiskAmount, Attach: r.Attach,
	}, err
}

// aboveRisk: a smart-retail complete charges no more than the create's
// risk_amount.
func (smartRetailAPI) aboveRisk(no string, create, complete json.RawMessage) error {
	var c wxpay.CreateRequest
	var r wxpay.CompleteRequest
	if json.Unmarshal(create, &c) != nil || json.Unmarshal(complete, &r) != nil || r.FinishType != wxpay.FinishTypeFinish || c.RiskAmount <= 0 || r.Charge() <= c.RiskAmount {
		return nil
	}
	return &shared.Error{Class: shared.ClassInvalid, OutOrderNo: no, Reason: shared.ReasonTotalAboveRisk,
		Message: fmt.Sprintf("the complete charges %d fen, more than the order's risk_amount of %d fen: WeChat Pay refuses it", r.Charge(), c.RiskAmount)}
}
