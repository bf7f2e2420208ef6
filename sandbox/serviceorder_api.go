package sandbox

import (
	"fmt"
	"net/http"
	"strings"
)

const serviceOrderPath = "/v3/payscore/serviceorder"

// routeServiceOrder picks a service-order endpoint (routeV3's part for
// /v3/payscore/serviceorder); ok is false for a path that is none of them.
func (s *Sandbox) routeServiceOrder(r *http.Request) (h v3Handler, e *apiError, ok bool) {
	p := r.URL.Path
	if p == serviceOrderPath {
		switch r.Method {
		case http.MethodPost:
			return s.handleServiceOrderCreate, nil, true
		case http.MethodGet:
			return s.handleServiceOrderQuery, nil, true
		}
		return nil, newError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
			fmt.Sprintf("%s is not allowed on %s, use GET or POST", r.Method, p)), true
	}
	no, action, found := strings.Cut(strings.TrimPrefix(p, serviceOrderPath+"/"), "/")
	if !strings.HasPrefix(p, serviceOrderPath+"/") || !found || strings.Contains(action, "/") {
		return nil, nil, false
	}
	var do func(no string, body []byte) (int, any)
	switch action {
	case "cancel":
		do = s.handleServiceOrderCancel
	case "modify":
		do = s.handleServiceOrderModify
	case "complete":
		do = s.handleServiceOrderComplete
	case "pay":
		do = s.handleServiceOrderPay
	case "sync":
		do = s.handleServiceOrderSync
	default:
		return nil, nil, false
	}
	if r.Method != http.MethodPost {
		return nil, newError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
			fmt.Sprintf("%s is not allowed on %s, use POST", r.Method, p)), true
	}
	return func(_ *http.Request, b []byte) (int, any) { return do(no, b) }, nil, true
}

// soAnswer is the order body of the service-order answers; each answer
// fills the fields its model lists (the fact sheet's sections 1.1-1.7).
type soAnswer struct {
	AppID               string         `json:"appid"`
	MchID               string         `json:"mchid"`
	OutOrderNo          string         `json:"out_order_no"`
	ServiceID           string         `json:"service_id"`
	ServiceIntroduction string         `json:"service_introduction"`
	State               string         `json:"state"`
	StateDescription    string         `json:"state_description,omitempty"`
	PostPayments        []PostPayment  `json:"post_payments,omitempty"`
	PostDiscounts       []PostDiscount `json:"post_discounts,omitempty"`
	RiskFund            *RiskFund      `json:"risk_fund,omitempty"`
	TotalAmount         *int64         `json:"total_amount,omitempty"`
	NeedCollection      *bool          `json:"need_collection,omitempty"`
	Collection          *Collection    `json:"collection,omitempty"`
	TimeRange           *TimeRange     `json:"time_range,omitempty"`
	Location            *Location      `json:"location,omitempty"`
	Attach              string         `json:"attach,omitempty"`
	NotifyURL           string         `json:"notify_url,omitempty"`
	OpenID              string         `json:"openid,omitempty"`
	OrderID             string         `json:"order_id"`
	Package             string         `json:"package,omitempty"`
}

// queryAnswer is the query answer [V-sdk Y/IM; GP], also modify's and
// sync's ("full order body").
func (o *ServiceOrder) queryAnswer() soAnswer {
	c := o.clone()
	return soAnswer{
		AppID: c.AppID, MchID: c.MchID, OutOrderNo: c.OutOrderNo, ServiceID: c.ServiceID,
		ServiceIntroduction: c.ServiceIntroduction, State: c.State, StateDescription: c.StateDescription,
		PostPayments: c.PostPayments, PostDiscounts: c.PostDiscounts, RiskFund: &c.RiskFund,
		TotalAmount: c.TotalAmount, NeedCollection: c.NeedCollection, Collection: c.Collection,
		TimeRange: &c.TimeRange, Location: c.Location, Attach: c.Attach, NotifyURL: c.NotifyURL,
		OpenID: c.OpenID, OrderID: c.OrderID,
	}
}

// createAnswer is the create answer [V-sdk Y, SK Java]: no total, no
// collection, no openid; the package.
func (o *ServiceOrder) createAnswer() soAnswer {
	a := o.queryAnswer()
	a.TotalAmount, a.NeedCollection, a.Collection, a.OpenID = nil, nil, nil, ""
	a.Package = o.Package
	return a
}

// completeAnswer is the complete answer [V-sdk Y]: no collection, attach,
// notify_url or openid.
func (o *ServiceOrder) completeAnswer() soAnswer {
	a := o.queryAnswer()
	a.Collection, a.Attach, a.NotifyURL, a.OpenID = nil, "", "", ""
	return a
}

// payAnswer is the pay answer: the official page lists exactly these
// [V-off O-pay] (Y adds mchid).
type payAnswer struct {
	AppID      string `json:"appid"`
	OutOrderNo string `json:"out_order_no"`
	ServiceID  string `json:"service_id"`
	OrderID    string `json:"order_id"`
}

// checkServiceIDs is checkIDs for a request whose service_id may be left out.
func (s *Sandbox) checkServiceIDs(appID, serviceID string) *apiError {
	if serviceID == "" {
		serviceID = s.creds.ServiceID
	}
	return s.checkIDs(appID, serviceID)
}

func (s *Sandbox) handleServiceOrderCreate(_ *http.Request, body []byte) (int, any) {
	req, perr := parseServiceOrderCreate(body)
	if perr != nil {
		return fail(perr)
	}
	if e := s.checkIDs(req.AppID, req.ServiceID); e != nil {
		return fail(e)
	}
	if max := s.maxRiskAmount; req.RiskFund.Amount > max {
		return fail(paramError(locBody, "/risk_fund/amount", req.RiskFund.Amount,
			fmt.Sprintf("must not be above the service's risk amount cap, %d (创建订单的订单风险金额超过此服务的服务风险金额)", max)))
	}
	fp := req.fingerprint()

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.lookupServiceOrder(req.OutOrderNo); ok {
		// 原参重入 [V-off O-create]: the same order back; other parameters
		// are 400 INVALID_REQUEST [V-off O-p-collect error table].
		n := old.clone()
		n.CreateRequests++
		p, err := s.commitServiceOrder(n)
		if err != nil {
			return systemError(err)
		}
		if old.CreateFingerprint != fp {
			return fail(newError(http.StatusBadRequest, "INVALID_REQUEST",
				fmt.Sprintf("out_order_no %s was already used with different parameters (请确认相同单号是否使用了不同的参数)", req.OutOrderNo)))
		}
		return http.StatusOK, p.createAnswer()
	}
	now := s.now()
	if e := checkCreateTimes(req.TimeRange, now); e != nil {
		return fail(e)
	}
	o := ServiceOrder{
		AppID: req.AppID, MchID: s.creds.MchID, OutOrderNo: req.OutOrderNo, ServiceID: req.ServiceID,
		OrderID: s.newOrderID(now), QueryID: s.newServiceQueryID(),
		ServiceIntroduction: req.ServiceIntroduction, State: ServiceOrderCreated,
		PostDiscounts: req.PostDiscounts, RiskFund: req.RiskFund, TimeRange: req.TimeRange,
		Location: req.Location, Attach: req.Attach, NotifyURL: req.NotifyURL, OpenID: req.OpenID,
		NeedUserConfirm: req.NeedUserConfirm, Device: req.Device,
		Package:        randString(alnum, 48),
		CreateRequests: 1, CreateFingerprint: fp, CreatedAt: now.UTC(),
	}
	if !req.NeedUserConfirm {
		// 免确认: DOING+USER_CONFIRM as created [V-off W-14; O-query-nc].
		o.confirm(now)
	}
	p, err := s.commitServiceOrder(o)
	if err != nil {
		return systemError(err)
	}
	return http.StatusOK, p.createAnswer()
}

func (s *Sandbox) handleServiceOrderQuery(r *http.Request, _ []byte) (int, any) {
	outNo, queryID, e := s.orderQuery(r, validServiceOutOrderNo, soOutOrderNoIssue)
	if e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	what := "out_order_no " + outNo
	if queryID != "" {
		what = "query_id " + queryID
		outNo = s.soByQueryID[queryID]
	}
	o, ok := s.lookupServiceOrder(outNo)
	if !ok {
		return fail(orderNotExist(what))
	}
	return http.StatusOK, o.queryAnswer()
}

// opResult is what an operation on one order decides: the answer made
// from the order as committed, the notification to post, or nothing to
// change (a repeated cancel) and the answer from the order as it is.
type opResult struct {
	answer    func(*ServiceOrder) any
	event     string
	unchanged bool
}

// serviceOrderOp is the frame of the operations on one order: the number
// in the path checked, the body parsed, the ids checked, the order found
// under s.mu; do changes a copy n of it, and n is committed.
func (s *Sandbox) serviceOrderOp(outNo string, parse func() (appID, serviceID string, e *apiError),
	do func(o, n *ServiceOrder) (opResult, *apiError)) (int, any) {
	if !validServiceOutOrderNo(outNo) {
		return fail(paramError(locURI, "/out_order_no", outNo, soOutOrderNoIssue))
	}
	appID, serviceID, e := parse()
	if e != nil {
		return fail(e)
	}
	if e := s.checkServiceIDs(appID, serviceID); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.lookupServiceOrder(outNo)
	if !ok {
		return fail(orderNotExist("out_order_no " + outNo))
	}
	n := o.clone()
	res, e := do(o, &n)
	if e != nil {
		return fail(e)
	}
	if res.unchanged {
		return http.StatusOK, res.answer(o)
	}
	p, err := s.commitServiceOrder(n)
	if err != nil {
		return systemError(err)
	}
	if o.stateName() != p.stateName() {
		s.logf("sandbox: service order %s %s -> %s", outNo, o.stateName(), p.stateName())
	}
	if res.event != "" {
		s.notifier.post(p, res.event)
	}
	return http.StatusOK, res.answer(p)
}

func cancelAnswer(o *ServiceOrder) any {
	return orderRef{AppID: o.AppID, MchID: o.MchID, OutOrderNo: o.OutOrderNo, ServiceID: o.ServiceID, OrderID: o.OrderID}
}

func (s *Sandbox) handleServiceOrderCancel(outNo string, body []byte) (int, any) {
	var req *soCancelRequest
	parse := func() (string, string, *apiError) {
		var e *apiError
		req, e = parseServiceOrderCancel(body)
		if e != nil {
			return "", "", e
		}
		return req.AppID, req.ServiceID, nil
	}
	return s.serviceOrderOp(outNo, parse, func(o, n *ServiceOrder) (opResult, *apiError) {
		switch {
		case o.State == ServiceOrderRevoked && o.CancelReason == req.Reason:
			// Re-entry with the same parameters, reason included [V-off O-cancel, W-16].
			return opResult{answer: cancelAnswer, unchanged: true}, nil
		case o.State == ServiceOrderCreated, o.State == ServiceOrderDoing:
			// DOING includes MCH_COMPLETE, awaiting payment: the official
			// page allows it [V-off O-cancel 2025.02.13, W-16]; SK says no
			// (doc.go, conflicts).
			n.State, n.StateDescription = ServiceOrderRevoked, ""
			n.CancelReason = req.Reason
			return opResult{answer: cancelAnswer}, nil
		}
		return opResult{}, serviceOrderStateError(o, "cancel")
	})
}

func (s *Sandbox) handleServiceOrderComplete(outNo string, body []byte) (int, any) {
	var req *soCompleteRequest
	parse := func() (string, string, *apiError) {
		var e *apiError
		req, e = parseServiceOrderComplete(body)
		if e != nil {
			return "", "", e
		}
		return req.AppID, req.ServiceID, nil
	}
	return s.serviceOrderOp(outNo, parse, func(o, n *ServiceOrder) (opResult, *apiError) {
		// Only DOING+USER_CONFIRM [V-sdk Y/JS; V-off acquiring-bank complete];
		// a second complete is refused (SK says allowed, unverified).
		if o.State != ServiceOrderDoing || o.StateDescription != DescUserConfirm {
			return opResult{}, serviceOrderStateError(o, "complete")
		}
		if e := checkCompleteTimes(o, req.TimeRange, s.now()); e != nil {
			return opResult{}, e
		}
		if req.EndLocation != "" && (o.Location == nil || o.Location.StartLocation == "") {
			return opResult{}, paramError(locBody, "/location/end_location", req.EndLocation, "may be given only when the order has a start_location")
		}
		if e := s.checkTotalWithinRisk(o, req.TotalAmount); e != nil {
			return opResult{}, e
		}
		n.StateDescription = DescMchComplete
		n.PostPayments, n.PostDiscounts = req.PostPayments, req.PostDiscounts
		total := req.TotalAmount
		n.TotalAmount = &total
		if tr := req.TimeRange; tr != nil {
			if tr.StartTime != "" {
				n.TimeRange.StartTime, n.TimeRange.StartTimeRemark = tr.StartTime, tr.StartTimeRemark
			}
			if tr.EndTime != "" {
				n.TimeRange.EndTime, n.TimeRange.EndTimeRemark = tr.EndTime, tr.EndTimeRemark
			}
		}
		if req.EndLocation != "" {
			n.Location.EndLocation = req.EndLocation
		}
		n.ProfitSharing, n.GoodsTag = req.ProfitSharing, req.GoodsTag
		n.Device = mergeDevice(n.Device, req.Device)
		need := total > 0
		n.NeedCollection = &need
		n.Collection = &Collection{State: CollectionUserPaying, TotalAmount: total, PayingAmount: total}
		if total == 0 {
			// Nothing to collect (assumed, doc.go): done at once, unpaid.
			n.Collection.State = CollectionUserPaid
			n.State, n.StateDescription = ServiceOrderDone, ""
		}
		return opResult{answer: (*ServiceOrder).completeAnswerAny}, nil
	})
}

func (o *ServiceOrder) completeAnswerAny() any { return o.completeAnswer() }
func (o *ServiceOrder) queryAnswerAny() any    { return o.queryAnswer() }

// checkTotalWithinRisk: total ≤ risk_fund.amount for 先免 names, and
// ≤ the service's risk cap always [V-off O-complete].
func (s *Sandbox) checkTotalWithinRisk(o *ServiceOrder, total int64) *apiError {
	if riskFundFirstFree(o.RiskFund.Name) && total > o.RiskFund.Amount {
		return paramError(locBody, "/total_amount", total,
			fmt.Sprintf("must not be above the order's risk_fund.amount, %d (risk_fund %s)", o.RiskFund.Amount, o.RiskFund.Name))
	}
	if total > s.maxRiskAmount {
		return paramError(locBody, "/total_amount", total,
			fmt.Sprintf("must not be above the service's risk amount cap, %d (总金额超过服务风险金额)", s.maxRiskAmount))
	}
	return nil
}

// mergeDevice keeps create's device ids where a later call leaves them out.
func mergeDevice(old, d *Device) *Device {
	if d == nil {
		return old
	}
	m := Device{}
	if old != nil {
		m = *old
	}
	if d.StartDeviceID != "" {
		m.StartDeviceID = d.StartDeviceID
	}
	if d.EndDeviceID != "" {
		m.EndDeviceID = d.EndDeviceID
	}
	if d.MaterielNo != "" {
		m.MaterielNo = d.MaterielNo
	}
	return &m
}

func (s *Sandbox) handleServiceOrderModify(outNo string, body []byte) (int, any) {
	var req *soModifyRequest
	parse := func() (string, string, *apiError) {
		var e *apiError
		req, e = parseServiceOrderModify(body)
		if e != nil {
			return "", "", e
		}
		return req.AppID, req.ServiceID, nil
	}
	return s.serviceOrderOp(outNo, parse, func(o, n *ServiceOrder) (opResult, *apiError) {
		// Only while awaiting payment [V-off O-modify].
		if !o.awaitingPayment() {
			return opResult{}, serviceOrderStateError(o, "modify")
		}
		// Only once (the partner API list, 2024) rather than several times
		// each lower (old wiki W-17): doc.go, conflicts.
		if o.Modifications > 0 {
			return opResult{}, newError(http.StatusBadRequest, "INVALID_ORDER_STATE",
				"order state invalid: the order was already modified once, and may be modified only once")
		}
		if req.TotalAmount >= o.Collection.TotalAmount {
			return opResult{}, paramError(locBody, "/total_amount", req.TotalAmount,
				fmt.Sprintf("must be lower than the order's total_amount, %d: modify only lowers the amount", o.Collection.TotalAmount))
		}
		if e := s.checkTotalWithinRisk(o, req.TotalAmount); e != nil {
			return opResult{}, e
		}
		total := req.TotalAmount
		n.PostPayments, n.PostDiscounts, n.TotalAmount = req.PostPayments, req.PostDiscounts, &total
		n.Collection.TotalAmount = total
		n.Collection.PayingAmount = total - n.Collection.PaidAmount
		n.ModifyReason = req.Reason
		n.Modifications++
		n.Device = mergeDevice(n.Device, req.Device)
		return opResult{answer: (*ServiceOrder).queryAnswerAny}, nil
	})
}

func (s *Sandbox) handleServiceOrderPay(outNo string, body []byte) (int, any) {
	parse := func() (string, string, *apiError) {
		req, e := parseServiceOrderPay(body)
		if e != nil {
			return "", "", e
		}
		return req.AppID, req.ServiceID, nil
	}
	return s.serviceOrderOp(outNo, parse, func(o, n *ServiceOrder) (opResult, *apiError) {
		// Only while 待支付 [V-off O-pay].
		if !o.awaitingPayment() {
			return opResult{}, serviceOrderStateError(o, "collect payment for")
		}
		answer := func(p *ServiceOrder) any {
			return payAnswer{AppID: p.AppID, OutOrderNo: p.OutOrderNo, ServiceID: p.ServiceID, OrderID: p.OrderID}
		}
		if o.DeductionsFail {
			// The request is taken; the deduction it asks for fails and
			// the order stays awaiting payment (assumed, doc.go).
			return opResult{answer: answer}, nil
		}
		now := s.now()
		n.paid(PaidTypeNewton, formatWechatTime(now), newTransactionID(now))
		return opResult{answer: answer, event: EventUserPaid}, nil
	})
}

func (s *Sandbox) handleServiceOrderSync(outNo string, body []byte) (int, any) {
	var req *soSyncRequest
	parse := func() (string, string, *apiError) {
		var e *apiError
		req, e = parseServiceOrderSync(body)
		if e != nil {
			return "", "", e
		}
		return req.AppID, req.ServiceID, nil
	}
	return s.serviceOrderOp(outNo, parse, func(o, n *ServiceOrder) (opResult, *apiError) {
		// Only while MCH_COMPLETE, 待支付 [V-off W-20]; already deducted is
		// ORDER_DONE [C C-done].
		if !o.awaitingPayment() {
			return opResult{}, serviceOrderStateError(o, "sync")
		}
		n.paid(PaidTypeMCH, req.PaidTime, "")
		return opResult{answer: (*ServiceOrder).queryAnswerAny}, nil
	})
}
