package wxpay

import (
	"fmt"
	"net/url"
	"strings"
)

// The service-order rules: what Validate checks before a request is sent
// and before it is queued. The tags are the fact sheet's
// (shared/design/wechatpay-serviceorder.md, "the sheet"): [V-off] an
// official WeChat Pay page, [V-sdk] an SDK or OpenAPI model, [V-org] the
// official org's skill guide, [C] community, [I] inference; the section
// follows. serviceorder_validate_test.go has a row per rule naming its tag.
//
// Every request
//   - appid: required, at most 32 [V-off O-create §1.1]; the same appid
//     across create, complete and cancel is the caller's to keep.
//   - service_id: required, at most 32 [V-off O-create §1.1]. The 2025
//     需确认 cancel page marks it optional, the 免确认 page and Y required
//     [V-off O-cancel; V-sdk Y]: it is always sent (Settings fills it).
//     Its "32 digits" wording is not checked: only WeChat Pay knows ids.
//   - out_order_no: required, at most 32 [V-off O-create §1.1]. A create
//     takes only 0-9 A-Z a-z _ - | (the merchant page); the partner and old
//     wiki pages add * [V-off O-create, W-14]: the stricter one is checked
//     at create, so an order this client makes passes under either; the
//     calls naming an existing order take * too (ValidOutOrderNo).
//   - the encoded body: at most MaxBodyBytes, the sandbox's bound (WeChat
//     Pay states none).
//
// Create (§1.1)
//   - service_introduction: required, at most 20 characters [V-off O-create].
//   - post_payments: absent or empty [V-off O-retail §2.1; V-sdk IM]: the
//     smart-retail profile names the products at complete.
//   - post_discounts: at most 30 [V-off O-create]; each with name (at most
//     20, unique in the order) and description (at most 30), given together
//     [V-off O-p create §2.2; V-sdk EV]; amount and count not negative [I].
//     Whether amount may be sent at create, sources conflict (EV and Y: no;
//     SK's sample: yes): it is sent as given and WeChat Pay answers.
//   - time_range.start_time: required [V-sdk Y], OnAccept, yyyyMMdd or
//     yyyyMMddHHmmss [V-sdk EV, Y §2.4]; end_time yyyyMMdd or yyyyMMddHHmmss,
//     never OnAccept [V-sdk EV §2.4]; remarks at most 20 [V-sdk EV §2.4] (Y
//     says 50 for end_time_remark: the smaller bound is checked); end_time
//     not before start_time, later at second precision, the same day or
//     later at day precision [V-sdk EV §2.4].
//   - location: start_location and end_location at most 50; end_location
//     only with a start_location [V-sdk EV, Y §2.5].
//   - risk_fund: required [V-off O-create]; name DEPOSIT, ADVANCE,
//     CASH_DEPOSIT or ESTIMATE_ORDER_COST [V-sdk EV, Y, GP; V-org SK §2.3];
//     amount above 0 [V-sdk EV §2.3]; description at most 30 [V-sdk EV, Y].
//   - attach: at most 256 [V-off O-create].
//   - notify_url: required, at most 255 [V-off O-create]; https, with no
//     query [V-off W-21]; no fragment either [I: it is never sent].
//   - need_user_confirm: required and always sent: EV says required, SK
//     says it defaults to true, GP to false [V-sdk EV, GP; V-org SK §1.1].
//   - openid: required when need_user_confirm is false, refused when true
//     [V-sdk EV §1.1]; at most 128 [§1.1].
//
// Complete (§1.5) and modify (§1.4): the smart-retail profile [V-off
// O-retail §2.1]
//   - post_payments: at least one, at most 100 [V-off O-complete, O-retail];
//     every name exactly 商品信息, description (the product) required, at
//     most 30, count (the quantity) 1 to 100, amount the line's total, not
//     negative [V-off O-retail, O-create §2.1].
//   - post_discounts: as at create [§2.2].
//   - total_amount: always sent, equal to the payments' amounts less the
//     discounts', not negative [V-off O-complete §4; V-org SK's "最终总金额
//     计算非法"]; modify is held to the same sum [I: its page is silent].
//   - complete's time_range: start_time and end_time yyyyMMdd or
//     yyyyMMddHHmmss (the real times: OnAccept is refused [I]), end_time
//     not before start_time, remarks at most 20 [V-sdk EV §1.5, §2.4].
//   - complete's location: end_location only, at most 50 [V-sdk Y, EV §1.5].
//   - complete's goods_tag: at most 32 [V-sdk EV, Y §1.5]; profit_sharing
//     always sent [V-sdk EV, Y §1.5].
//   - modify's reason: required, at most 50 [V-off O-modify; V-sdk Y §1.4].
//
// Cancel (§1.3): reason required, at most 50 [V-off O-cancel] (the old
// wiki said 30, W-16: the current page is followed).
// Pay (§1.6): appid and service_id required [V-off O-pay] (Y marks them
// optional; they are always sent).
// Sync (§1.7): type Order_Paid [V-off W-20; V-sdk Y], sent when left empty;
// detail.paid_time required, yyyyMMddHHmmss or yyyyMMdd [V-off W-20].
// Query (§1.2): exactly one of out_order_no and query_id, query_id at most
// 512 [V-off O-query]: QueryRequest.Validate, shared with smart-retail.
//
// Not checked here, because only the order or the moment of sending knows;
// WeChat Pay answers them (Invalid, INVALID_ORDER_STATE and the like):
//   - which state allows which call (§3): complete needs DOING +
//     USER_CONFIRM, modify, pay and sync an order awaiting payment;
//   - start_time at second precision after the create call, end_time a
//     minute after it, a complete's end_time not after the complete call
//     (§2.4, §1.5): a queued request is sent later, and the kiosk's clock
//     may be wrong;
//   - a complete's end_time required when the create gave none, its time
//     format the create's, its end_location only when the create had a
//     start_location (§1.5);
//   - total_amount within risk_fund.amount (先免) or the service's cap
//     (§4), and risk_fund.amount within that cap (§2.3);
//   - a modify only lowering the amount (§1.4);
//   - notify_url being reachable (§1.1); device's lengths (NOT FOUND in
//     any source, §1.1): only the body's size bounds them;
//   - whether the service_id allows need_user_confirm false (§4: NO_AUTH).
//
// Where the sources conflict the client does not decide for WeChat Pay:
// it sends and lets WeChat Pay answer. A cancel of an order awaiting
// payment (official pages yes, SK no, §3), a second modify (old wiki yes,
// partner list "only once", §1.4) and a discount's amount at create
// (§2.2) all go out as asked.

// Limits of the service-order API that the smart-retail ones do not share
// (appid, service_id, out_order_no, service_introduction, attach, openid
// and query_id have the same bounds on both and use validate.go's).
const (
	MaxPostPayments           = 100 // post_payments items
	MaxPostDiscounts          = 30  // post_discounts items
	MaxPaymentNameLen         = 20
	MaxPaymentDescriptionLen  = 30
	MaxPaymentCount           = 100
	MaxCouponNameLen          = 20
	MaxCouponDescriptionLen   = 30
	MaxRiskFundDescriptionLen = 30
	MaxTimeRemarkLen          = 20
	MaxServiceLocationLen     = 50
	MaxNotifyURLLen           = 255
	MaxServiceOrderReasonLen  = 50 // cancel and modify
	MaxGoodsTagLen            = 32
)

// riskFundNames are risk_fund.name's values.
var riskFundNames = map[string]bool{
	RiskFundDeposit: true, RiskFundAdvance: true, RiskFundCashDeposit: true, RiskFundEstimateOrderCost: true,
}

// Validate checks r against the rules above without sending it.
func (r *CreateServiceOrderRequest) Validate() error {
	var v violations
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	if strings.ContainsRune(r.OutOrderNo, '*') {
		v.add("/out_order_no", "may hold only 0-9 A-Z a-z _ - | at create (the merchant page's charset)")
	}
	v.appAndService(r.AppID, r.ServiceID)
	v.required("/service_introduction", r.ServiceIntroduction)
	v.maxChars("/service_introduction", r.ServiceIntroduction, MaxIntroductionLen)
	if len(r.PostPayments) > 0 {
		v.add("/post_payments", "must be left out at create: smart retail names the products at complete")
	}
	v.coupons(r.PostDiscounts)
	v.required("/time_range/start_time", r.TimeRange.StartTime)
	v.timeRange(&r.TimeRange, true)
	if l := r.Location; l != nil {
		v.maxChars("/location/start_location", l.StartLocation, MaxServiceLocationLen)
		v.maxChars("/location/end_location", l.EndLocation, MaxServiceLocationLen)
		if l.EndLocation != "" && l.StartLocation == "" {
			v.add("/location/end_location", "may be given only with a start_location")
		}
	}
	v.riskFund(&r.RiskFund)
	v.maxChars("/attach", r.Attach, MaxAttachLen)
	v.notifyURL(r.NotifyURL)
	switch {
	case r.NeedUserConfirm == nil:
		v.add("/need_user_confirm", "is required: true (the customer confirms) or false (no confirmation)")
	case *r.NeedUserConfirm && r.OpenID != "":
		v.add("/openid", "must be left out when need_user_confirm is true")
	case !*r.NeedUserConfirm && r.OpenID == "":
		v.add("/openid", "is required when need_user_confirm is false")
	}
	v.maxChars("/openid", r.OpenID, MaxOpenIDLen)
	return v.finish(r, "create")
}

// Validate checks r without sending it.
func (r *CancelServiceOrderRequest) Validate() error {
	var v violations
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	v.appAndService(r.AppID, r.ServiceID)
	v.required("/reason", r.Reason)
	v.maxChars("/reason", r.Reason, MaxServiceOrderReasonLen)
	return v.finish(r, "cancel")
}

// Validate checks r without sending it: every rule that does not need the
// order (see the list above for those that do).
func (r *ModifyServiceOrderRequest) Validate() error {
	var v violations
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	v.appAndService(r.AppID, r.ServiceID)
	v.productPayments(r.PostPayments)
	v.coupons(r.PostDiscounts)
	v.totalAmount(r.TotalAmount, r.PostPayments, r.PostDiscounts)
	v.required("/reason", r.Reason)
	v.maxChars("/reason", r.Reason, MaxServiceOrderReasonLen)
	return v.finish(r, "modify")
}

// Validate checks r without sending it: every rule that does not need the
// order (see the list above for those that do).
func (r *CompleteServiceOrderRequest) Validate() error {
	var v violations
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	v.appAndService(r.AppID, r.ServiceID)
	v.productPayments(r.PostPayments)
	v.coupons(r.PostDiscounts)
	v.totalAmount(r.TotalAmount, r.PostPayments, r.PostDiscounts)
	if r.TimeRange != nil {
		v.timeRange(r.TimeRange, false)
	}
	if l := r.Location; l != nil {
		if l.StartLocation != "" {
			v.add("/location/start_location", "must be left out at complete: only end_location is taken")
		}
		v.maxChars("/location/end_location", l.EndLocation, MaxServiceLocationLen)
	}
	v.maxChars("/goods_tag", r.GoodsTag, MaxGoodsTagLen)
	return v.finish(r, "complete")
}

// Validate checks r without sending it.
func (r *PayServiceOrderRequest) Validate() error {
	var v violations
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	v.appAndService(r.AppID, r.ServiceID)
	return v.err("pay")
}

// Validate checks r without sending it.
func (r *SyncServiceOrderRequest) Validate() error {
	var v violations
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	v.appAndService(r.AppID, r.ServiceID)
	if r.Type != "" && r.Type != SyncTypeOrderPaid {
		v.add("/type", fmt.Sprintf("must be %q (or left empty, which sends it)", SyncTypeOrderPaid))
	}
	v.required("/detail/paid_time", r.Detail.PaidTime)
	v.time("/detail/paid_time", r.Detail.PaidTime, false)
	return v.finish(r, "sync")
}

func (v *violations) appAndService(appID, serviceID string) {
	v.required("/appid", appID)
	v.maxChars("/appid", appID, MaxAppIDLen)
	v.required("/service_id", serviceID)
	v.maxChars("/service_id", serviceID, MaxServiceIDLen)
}

// productPayments checks post_payments against the smart-retail profile:
// one 商品信息 line per product.
func (v *violations) productPayments(ps []Payment) {
	switch {
	case len(ps) == 0:
		v.add("/post_payments", "is required: at least one 商品信息 line")
	case len(ps) > MaxPostPayments:
		v.add("/post_payments", fmt.Sprintf("must hold at most %d items, got %d", MaxPostPayments, len(ps)))
	}
	for i, p := range ps {
		f := fmt.Sprintf("/post_payments/%d", i)
		if p.Name != SmartRetailPaymentName {
			v.add(f+"/name", "must be exactly "+SmartRetailPaymentName+" (smart retail: one line per product)")
		}
		v.required(f+"/description", p.Description)
		v.maxChars(f+"/description", p.Description, MaxPaymentDescriptionLen)
		if p.Count < 1 || p.Count > MaxPaymentCount {
			v.add(f+"/count", fmt.Sprintf("must be 1 to %d (the quantity), got %d", MaxPaymentCount, p.Count))
		}
		v.nonNegative(f+"/amount", p.Amount)
	}
}

func (v *violations) coupons(cs []ServiceOrderCoupon) {
	if len(cs) > MaxPostDiscounts {
		v.add("/post_discounts", fmt.Sprintf("must hold at most %d items, got %d", MaxPostDiscounts, len(cs)))
	}
	seen := make(map[string]int, len(cs))
	for i, c := range cs {
		f := fmt.Sprintf("/post_discounts/%d", i)
		v.required(f+"/name", c.Name)
		v.maxChars(f+"/name", c.Name, MaxCouponNameLen)
		v.unique(f+"/name", c.Name, seen, i)
		v.required(f+"/description", c.Description)
		v.maxChars(f+"/description", c.Description, MaxCouponDescriptionLen)
		v.nonNegative(f+"/amount", c.Amount)
		if c.Count < 0 {
			v.add(f+"/count", fmt.Sprintf("must not be negative, got %d", c.Count))
		}
	}
}

// totalAmount holds total to the payments less the discounts.
func (v *violations) totalAmount(total int64, ps []Payment, cs []ServiceOrderCoupon) {
	v.nonNegative("/total_amount", total)
	var want int64
	for _, p := range ps {
		if p.Amount < 0 || p.Amount > MaxAmount {
			return // refused already; no sum to speak of
		}
		want += p.Amount
	}
	for _, c := range cs {
		if c.Amount < 0 || c.Amount > MaxAmount {
			return
		}
		want -= c.Amount
	}
	switch {
	case want < 0:
		v.add("/total_amount", fmt.Sprintf("the discounts exceed the payments: payments less discounts is %d", want))
	case total >= 0 && total != want:
		v.add("/total_amount", fmt.Sprintf("must equal the payments less the discounts, %d, got %d", want, total))
	}
}

// timeRange checks formats, remarks and order; OnAccept is a start time
// only at create.
func (v *violations) timeRange(t *TimeRange, create bool) {
	v.time("/time_range/start_time", t.StartTime, create)
	v.maxChars("/time_range/start_time_remark", t.StartTimeRemark, MaxTimeRemarkLen)
	v.time("/time_range/end_time", t.EndTime, false)
	v.maxChars("/time_range/end_time_remark", t.EndTimeRemark, MaxTimeRemarkLen)
	start, serr := ParseTime(t.StartTime)
	end, eerr := ParseTime(t.EndTime)
	if serr != nil || eerr != nil {
		return // absent, OnAccept or refused above
	}
	if len(t.EndTime) == len(timeLayoutDay) {
		if t.EndTime < t.StartTime[:len(timeLayoutDay)] {
			v.add("/time_range/end_time", "must be on or after start_time's day")
		}
		return
	}
	if !end.After(start) {
		v.add("/time_range/end_time", "must be after start_time")
	}
}

func (v *violations) riskFund(r *RiskFund) {
	if !riskFundNames[r.Name] {
		issue := "must be DEPOSIT, ADVANCE, CASH_DEPOSIT or ESTIMATE_ORDER_COST"
		if r.Name == "" {
			issue = "is required: " + issue
		} else if len(r.Name) <= 32 {
			issue += fmt.Sprintf(", got %q", r.Name)
		}
		v.add("/risk_fund/name", issue)
	}
	if r.Amount <= 0 {
		v.add("/risk_fund/amount", fmt.Sprintf("must be above 0 (fen, at most the service's risk cap), got %d", r.Amount))
	} else {
		v.nonNegative("/risk_fund/amount", r.Amount) // its upper bound
	}
	v.maxChars("/risk_fund/description", r.Description, MaxRiskFundDescriptionLen)
}

func (v *violations) notifyURL(s string) {
	const f = "/notify_url"
	if s == "" {
		v.add(f, "is required: WeChat Pay posts the confirmation and payment notifications there")
		return
	}
	v.maxChars(f, s, MaxNotifyURLLen)
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		v.add(f, "must be an https:// URL with a host")
	case u.Scheme != "https":
		v.add(f, "must be https")
	case u.RawQuery != "" || u.ForceQuery:
		v.add(f, "must carry no query")
	case u.Fragment != "" || strings.Contains(s, "#"):
		v.add(f, "must carry no fragment")
	}
}
