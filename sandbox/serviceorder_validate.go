package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Service-order sizes and names; each is in doc.go's service-order table
// with its source (wechatpay-serviceorder.md's tags).
const (
	soMaxIntroduction = 20  // service_introduction string(20) [V-off O-create]
	soMaxPayments     = 100 // post_payments ≤100 [V-off O-create]
	soMaxDiscounts    = 30  // post_discounts ≤30 [V-off O-create]
	soMaxItemName     = 20  // name string(20)
	soMaxItemDesc     = 30  // description string(30)
	soMaxCount        = 100 // count [1,100]
	soMaxRiskDesc     = 30  // risk_fund.description ≤30 [V-sdk EV, Y]
	soMaxRemark       = 20  // start_time_remark, end_time_remark (EV 20; Y 50 for end: conflict)
	soMaxLocation     = 50  // start_location, end_location ≤50 [V-sdk EV; Y]
	soMaxAttach       = 256 // attach string(256) [V-off O-create]
	soMaxNotifyURL    = 255 // notify_url string(255) [V-off O-create]
	soMaxReason       = 50  // cancel and modify reason string(50) [V-off O-cancel; O-modify]
	soMaxGoodsTag     = 32  // goods_tag ≤32 [V-sdk EV]
	soMaxDevice       = 64  // device ids: no source gives lengths; assumed, guarding memory

	// RetailItemName is the only post_payments name of the smart-retail
	// (无人设备) profile [V-off O-retail].
	RetailItemName = "商品信息"
	// SyncTypeOrderPaid is sync's only type [V-off W-20].
	SyncTypeOrderPaid = "Order_Paid"
)

// Risk fund names [V-sdk EV, Y, GP; V-org SK]: the first three are 先免
// (the total must stay within risk_fund.amount), the last 先享.
const (
	RiskFundDeposit           = "DEPOSIT"
	RiskFundAdvance           = "ADVANCE"
	RiskFundCashDeposit       = "CASH_DEPOSIT"
	RiskFundEstimateOrderCost = "ESTIMATE_ORDER_COST"
)

func riskFundFirstFree(name string) bool {
	return name == RiskFundDeposit || name == RiskFundAdvance || name == RiskFundCashDeposit
}

// soOutOrderNoRE is the current merchant create page's charset, 数字、大小写
// 字母_-| [V-off O-create]; the partner and old-wiki pages add *.
var soOutOrderNoRE = regexp.MustCompile(`^[0-9A-Za-z_\-|]{1,32}$`)

const soOutOrderNoIssue = "must be 1 to 32 characters of 0-9 A-Z a-z _ - |"

func validServiceOutOrderNo(s string) bool { return soOutOrderNoRE.MatchString(s) }

// child reads an optional object field.
func (o object) child(name string) (object, bool, *apiError) {
	r, ok := o.raw(name)
	if !ok {
		return object{}, false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r, &m); err != nil || m == nil {
		return object{}, false, paramError(locBody, o.path(name), r, "must be an object")
	}
	return object{ptr: o.path(name), m: m}, true, nil
}

// requiredRunes reads a required string of 1 to n characters.
func (o object) requiredRunes(name string, n int) (string, *apiError) {
	if _, err := o.required(name); err != nil {
		return "", err
	}
	return o.maxRunes(name, n)
}

// soIDs reads appid (required) and service_id (required unless optional),
// each string(32).
func (o object) soIDs(serviceIDOptional bool) (appID, serviceID string, err *apiError) {
	if appID, err = o.requiredRunes("appid", maxAppID); err != nil {
		return "", "", err
	}
	if serviceIDOptional {
		serviceID, err = o.maxRunes("service_id", maxServiceID)
	} else {
		serviceID, err = o.requiredRunes("service_id", maxServiceID)
	}
	return appID, serviceID, err
}

// retailPayments reads post_payments at complete and modify under the
// smart-retail profile [V-off O-retail]: at least one, at most 100, each
// named exactly 商品信息 with the product as its description, count and
// amount (the line's total) required. The general rules (name ≤20, unique
// but for 商品信息, amount or description with a name) hold within it.
func retailPayments(o object) ([]PostPayment, *apiError) {
	if _, ok := o.raw("post_payments"); !ok {
		return nil, paramError(locBody, "/post_payments", nil, "is required")
	}
	items, err := o.objects("post_payments", soMaxPayments)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, paramError(locBody, "/post_payments", nil, "must have at least one "+RetailItemName+" item")
	}
	out := make([]PostPayment, 0, len(items))
	for _, it := range items {
		var p PostPayment
		if p.Name, err = it.required("name"); err != nil {
			return nil, err
		}
		if p.Name != RetailItemName {
			return nil, paramError(locBody, it.path("name"), p.Name, "must be "+RetailItemName+" (smart retail: one item per product)")
		}
		var ok bool
		if p.Amount, ok, err = it.amount("amount"); err != nil {
			return nil, err
		} else if !ok {
			return nil, paramError(locBody, it.path("amount"), nil, "is required (the line's total, fen)")
		}
		if p.Description, err = it.requiredRunes("description", soMaxItemDesc); err != nil {
			return nil, err
		}
		if p.Count, ok, err = it.amount("count"); err != nil {
			return nil, err
		} else if !ok {
			return nil, paramError(locBody, it.path("count"), nil, "is required (the product's quantity)")
		}
		if p.Count < 1 || p.Count > soMaxCount {
			return nil, paramError(locBody, it.path("count"), p.Count, fmt.Sprintf("must be 1 to %d", soMaxCount))
		}
		out = append(out, p)
	}
	return out, nil
}

// discounts reads post_discounts: at most 30, each with a unique name (≤20)
// and a description (≤30) given together; amount required when needAmount.
func discounts(o object, needAmount bool) ([]PostDiscount, *apiError) {
	items, err := o.objects("post_discounts", soMaxDiscounts)
	if err != nil {
		return nil, err
	}
	var out []PostDiscount
	seen := map[string]bool{}
	for _, it := range items {
		var d PostDiscount
		if d.Name, err = it.requiredRunes("name", soMaxItemName); err != nil {
			return nil, err
		}
		if seen[d.Name] {
			return nil, paramError(locBody, it.path("name"), d.Name, "must be unique in the order")
		}
		seen[d.Name] = true
		if _, err = it.required("description"); err != nil {
			return nil, paramError(locBody, it.path("description"), nil, "is required with name (name and description go together)")
		}
		if d.Description, err = it.maxRunes("description", soMaxItemDesc); err != nil {
			return nil, err
		}
		v, ok, err := it.amount("amount")
		if err != nil {
			return nil, err
		}
		if ok {
			d.Amount = &v
		} else if needAmount {
			return nil, paramError(locBody, it.path("amount"), nil, "is required")
		}
		if d.Count, _, err = it.amount("count"); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// totalOf checks total_amount = Σpost_payments.amount − Σpost_discounts.amount
// [V-off O-complete] and returns it.
func totalOf(o object, pays []PostPayment, ds []PostDiscount) (int64, *apiError) {
	total, ok, err := o.amount("total_amount")
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, paramError(locBody, "/total_amount", nil, "is required")
	}
	var sum int64
	for _, p := range pays {
		sum += p.Amount
	}
	for _, d := range ds {
		if d.Amount != nil {
			sum -= *d.Amount
		}
	}
	if sum < 0 {
		return 0, paramError(locBody, "/total_amount", total, "post_discounts exceed post_payments")
	}
	if total != sum {
		return 0, paramError(locBody, "/total_amount", total,
			fmt.Sprintf("must equal sum(post_payments.amount) - sum(post_discounts.amount) = %d (最终总金额计算非法)", sum))
	}
	return total, nil
}

// device reads the optional device object.
func device(o object) (*Device, *apiError) {
	d, ok, err := o.child("device")
	if err != nil || !ok {
		return nil, err
	}
	var v Device
	if v.StartDeviceID, err = d.maxRunes("start_device_id", soMaxDevice); err != nil {
		return nil, err
	}
	if v.EndDeviceID, err = d.maxRunes("end_device_id", soMaxDevice); err != nil {
		return nil, err
	}
	if v.MaterielNo, err = d.maxRunes("materiel_no", soMaxDevice); err != nil {
		return nil, err
	}
	return &v, nil
}

// notifyURLIssue says what is wrong with a notify_url: it must be https
// with no query [V-off W-21], at most 255 characters [V-off O-create]. The
// sandbox also takes http to a loopback host (localhost, 127.0.0.0/8,
// ::1), so that a merchant's server on the same machine can be tested
// without a certificate; WeChat Pay would refuse it.
func notifyURLIssue(raw string) string {
	if utf8.RuneCountInString(raw) > soMaxNotifyURL {
		return fmt.Sprintf("must be at most %d characters", soMaxNotifyURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "must be an absolute https URL"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
	default:
		return "must be https (the sandbox also takes http to a loopback host)"
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "must carry no query parameters"
	}
	return ""
}

// loopbackHost: localhost or a loopback IP literal.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// soCreateRequest is the parsed, normalised create body. Its JSON encoding
// is the canonical form compared for idempotent repeats.
type soCreateRequest struct {
	OutOrderNo          string         `json:"out_order_no"`
	AppID               string         `json:"appid"`
	ServiceID           string         `json:"service_id"`
	ServiceIntroduction string         `json:"service_introduction"`
	PostDiscounts       []PostDiscount `json:"post_discounts"`
	TimeRange           TimeRange      `json:"time_range"`
	Location            *Location      `json:"location"`
	RiskFund            RiskFund       `json:"risk_fund"`
	Attach              string         `json:"attach"`
	NotifyURL           string         `json:"notify_url"`
	NeedUserConfirm     bool           `json:"need_user_confirm"`
	OpenID              string         `json:"openid"`
	Device              *Device        `json:"device"`
}

func (c *soCreateRequest) fingerprint() string {
	b, _ := json.Marshal(c) // cannot fail: plain types only
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func parseServiceOrderCreate(body []byte) (*soCreateRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &soCreateRequest{NeedUserConfirm: true}
	if c.OutOrderNo, err = o.required("out_order_no"); err != nil {
		return nil, err
	}
	if !validServiceOutOrderNo(c.OutOrderNo) {
		return nil, paramError(locBody, "/out_order_no", c.OutOrderNo, soOutOrderNoIssue)
	}
	if c.AppID, c.ServiceID, err = o.soIDs(false); err != nil {
		return nil, err
	}
	if c.ServiceIntroduction, err = o.requiredRunes("service_introduction", soMaxIntroduction); err != nil {
		return nil, err
	}
	// Smart retail: no post_payments at create; an empty array is what the
	// SDK example sends ("固定传空值，或者不传键值") [V-off O-retail; V-sdk IM].
	if items, err := o.objects("post_payments", soMaxPayments); err != nil {
		return nil, err
	} else if len(items) > 0 {
		return nil, paramError(locBody, "/post_payments", nil, "must be left out (or empty) at create: smart retail sends the products at complete")
	}
	if c.PostDiscounts, err = discounts(o, false); err != nil {
		return nil, err
	}
	tr, ok, err := o.child("time_range")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, paramError(locBody, "/time_range", nil, "is required")
	}
	if _, err = tr.required("start_time"); err != nil {
		return nil, err
	}
	if c.TimeRange.StartTime, err = tr.time("start_time", true); err != nil {
		return nil, err
	}
	if c.TimeRange.StartTimeRemark, err = tr.maxRunes("start_time_remark", soMaxRemark); err != nil {
		return nil, err
	}
	if c.TimeRange.EndTime, err = tr.time("end_time", false); err != nil {
		return nil, err
	}
	if c.TimeRange.EndTimeRemark, err = tr.maxRunes("end_time_remark", soMaxRemark); err != nil {
		return nil, err
	}
	if loc, ok, err := o.child("location"); err != nil {
		return nil, err
	} else if ok {
		var l Location
		if l.StartLocation, err = loc.maxRunes("start_location", soMaxLocation); err != nil {
			return nil, err
		}
		if l.EndLocation, err = loc.maxRunes("end_location", soMaxLocation); err != nil {
			return nil, err
		}
		if l.EndLocation != "" && l.StartLocation == "" {
			return nil, paramError(locBody, "/location/end_location", l.EndLocation, "may be given only with start_location")
		}
		if l != (Location{}) {
			c.Location = &l
		}
	}
	rf, ok, err := o.child("risk_fund")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, paramError(locBody, "/risk_fund", nil, "is required")
	}
	if c.RiskFund.Name, err = rf.required("name"); err != nil {
		return nil, err
	}
	switch c.RiskFund.Name {
	case RiskFundDeposit, RiskFundAdvance, RiskFundCashDeposit, RiskFundEstimateOrderCost:
	default:
		return nil, paramError(locBody, "/risk_fund/name", c.RiskFund.Name, "must be DEPOSIT, ADVANCE, CASH_DEPOSIT or ESTIMATE_ORDER_COST")
	}
	if v, ok, err := rf.amount("amount"); err != nil {
		return nil, err
	} else if !ok || v == 0 {
		return nil, paramError(locBody, "/risk_fund/amount", nil, "is required and must be positive")
	} else {
		c.RiskFund.Amount = v
	}
	if c.RiskFund.Description, err = rf.maxRunes("description", soMaxRiskDesc); err != nil {
		return nil, err
	}
	if c.Attach, err = o.maxRunes("attach", soMaxAttach); err != nil {
		return nil, err
	}
	if c.NotifyURL, err = o.required("notify_url"); err != nil {
		return nil, err
	}
	if issue := notifyURLIssue(c.NotifyURL); issue != "" {
		return nil, paramError(locBody, "/notify_url", c.NotifyURL, issue)
	}
	if v, ok, err := o.boolean("need_user_confirm"); err != nil {
		return nil, err
	} else if ok {
		c.NeedUserConfirm = v
	}
	if c.OpenID, err = o.maxRunes("openid", maxOpenID); err != nil {
		return nil, paramError(locBody, "/openid", nil, fmt.Sprintf("must be a string of at most %d characters", maxOpenID))
	}
	switch {
	case !c.NeedUserConfirm && c.OpenID == "":
		return nil, paramError(locBody, "/openid", nil, "is required when need_user_confirm is false")
	case c.NeedUserConfirm && c.OpenID != "":
		return nil, paramError(locBody, "/openid", nil, "must be left out when need_user_confirm is true (the customer is known when they confirm)")
	}
	if c.Device, err = device(o); err != nil {
		return nil, err
	}
	return c, nil
}

// checkCreateTimes applies create's rules on times against the call time
// [V-sdk EV (old wiki)]: a start to the second not before the call's
// second (the source says after; the call's own second is taken, since a
// kiosk's "now" is rounded), a start day not before today; an end to the
// second after the start and more than a minute after the call, an end
// day not before the start day nor today.
func checkCreateTimes(tr TimeRange, now time.Time) *apiError {
	nowSec := now.Truncate(time.Second)
	today := dayOf(now)
	var start time.Time
	if tr.StartTime != "OnAccept" {
		start, _ = parseWechatTime(tr.StartTime)
		if len(tr.StartTime) == 14 && start.Before(nowSec) {
			return paramError(locBody, "/time_range/start_time", tr.StartTime, "must not be before the time of the call ("+formatWechatTime(now)+")")
		}
		if len(tr.StartTime) == 8 && start.Before(today) {
			return paramError(locBody, "/time_range/start_time", tr.StartTime, "must not be before the day of the call")
		}
	}
	if tr.EndTime == "" {
		return nil
	}
	end, _ := parseWechatTime(tr.EndTime)
	if len(tr.EndTime) == 14 {
		if !end.After(now.Add(time.Minute)) {
			return paramError(locBody, "/time_range/end_time", tr.EndTime, "must be more than 1 minute after the time of the call")
		}
		if tr.StartTime != "OnAccept" && len(tr.StartTime) == 14 && !end.After(start) {
			return paramError(locBody, "/time_range/end_time", tr.EndTime, "must be after start_time")
		}
		return nil
	}
	if end.Before(today) {
		return paramError(locBody, "/time_range/end_time", tr.EndTime, "must not be before the day of the call")
	}
	if tr.StartTime != "OnAccept" && end.Before(dayOf(start)) {
		return paramError(locBody, "/time_range/end_time", tr.EndTime, "must not be before start_time's day")
	}
	return nil
}

// dayOf is the start of t's day in China Standard Time.
func dayOf(t time.Time) time.Time {
	y, m, d := t.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

type soCompleteRequest struct {
	AppID, ServiceID string
	PostPayments     []PostPayment
	PostDiscounts    []PostDiscount
	TotalAmount      int64
	TimeRange        *TimeRange
	EndLocation      string
	ProfitSharing    bool
	GoodsTag         string
	Device           *Device
}

func parseServiceOrderComplete(body []byte) (*soCompleteRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &soCompleteRequest{}
	if c.AppID, c.ServiceID, err = o.soIDs(false); err != nil {
		return nil, err
	}
	if c.PostPayments, err = retailPayments(o); err != nil {
		return nil, err
	}
	if c.PostDiscounts, err = discounts(o, true); err != nil {
		return nil, err
	}
	if c.TotalAmount, err = totalOf(o, c.PostPayments, c.PostDiscounts); err != nil {
		return nil, err
	}
	if tr, ok, err := o.child("time_range"); err != nil {
		return nil, err
	} else if ok {
		var t TimeRange
		if t.StartTime, err = tr.time("start_time", false); err != nil {
			return nil, err
		}
		if t.StartTimeRemark, err = tr.maxRunes("start_time_remark", soMaxRemark); err != nil {
			return nil, err
		}
		if t.EndTime, err = tr.time("end_time", false); err != nil {
			return nil, err
		}
		if t.EndTimeRemark, err = tr.maxRunes("end_time_remark", soMaxRemark); err != nil {
			return nil, err
		}
		c.TimeRange = &t
	}
	if loc, ok, err := o.child("location"); err != nil {
		return nil, err
	} else if ok {
		if s, _, err := loc.str("start_location"); err != nil {
			return nil, err
		} else if s != "" {
			return nil, paramError(locBody, "/location/start_location", s, "must be left out at complete (only end_location)")
		}
		if c.EndLocation, err = loc.maxRunes("end_location", soMaxLocation); err != nil {
			return nil, err
		}
	}
	if c.ProfitSharing, _, err = o.boolean("profit_sharing"); err != nil {
		return nil, err
	}
	if c.GoodsTag, err = o.maxRunes("goods_tag", soMaxGoodsTag); err != nil {
		return nil, err
	}
	if c.Device, err = device(o); err != nil {
		return nil, err
	}
	return c, nil
}

// checkCompleteTimes applies complete's rules on times [V-sdk EV; C
// B-csdn19] against the order and the call time: an end time is required
// when create gave none; times have the precision create's start_time had
// (to the second when it was OnAccept); the end is not after the call and
// not before the start (the confirmation's second for OnAccept).
func checkCompleteTimes(o *ServiceOrder, tr *TimeRange, now time.Time) *apiError {
	if tr == nil {
		tr = &TimeRange{}
	}
	if tr.EndTime == "" && o.TimeRange.EndTime == "" {
		return paramError(locBody, "/time_range/end_time", nil, "is required: the order was created without an end time (创建订单未填写服务结束时间，则结束时间必填)")
	}
	precision := 14
	if o.TimeRange.StartTime != "OnAccept" {
		precision = len(o.TimeRange.StartTime)
	}
	for _, f := range []struct{ name, v string }{{"start_time", tr.StartTime}, {"end_time", tr.EndTime}} {
		if f.v != "" && len(f.v) != precision {
			want := "yyyyMMddHHmmss"
			if precision == 8 {
				want = "yyyyMMdd"
			}
			return paramError(locBody, "/time_range/"+f.name, f.v, "must be "+want+", the precision of the order's start_time")
		}
	}
	if tr.EndTime == "" {
		return nil
	}
	end, _ := parseWechatTime(tr.EndTime)
	if precision == 14 && end.After(now) || precision == 8 && end.After(dayOf(now)) {
		return paramError(locBody, "/time_range/end_time", tr.EndTime, "must not be after the time of the complete call (实际结束时间不能晚于使用完结接口的时间)")
	}
	start := tr.StartTime
	if start == "" {
		start = o.TimeRange.StartTime
	}
	var st time.Time
	if start == "OnAccept" {
		if o.ConfirmedAt == nil {
			return nil
		}
		st = o.ConfirmedAt.Truncate(time.Second)
	} else {
		st, _ = parseWechatTime(start)
	}
	// Refused when before the start, as the observed message says
	// (真实结束时间小于预计开始时间); the same second is taken.
	if end.Before(st) {
		return paramError(locBody, "/time_range/end_time", tr.EndTime, "must not be before the start time (真实结束时间小于预计开始时间)")
	}
	return nil
}

type soModifyRequest struct {
	AppID, ServiceID string
	PostPayments     []PostPayment
	PostDiscounts    []PostDiscount
	TotalAmount      int64
	Reason           string
	Device           *Device
}

func parseServiceOrderModify(body []byte) (*soModifyRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &soModifyRequest{}
	if c.AppID, c.ServiceID, err = o.soIDs(false); err != nil {
		return nil, err
	}
	if c.PostPayments, err = retailPayments(o); err != nil {
		return nil, err
	}
	if c.PostDiscounts, err = discounts(o, true); err != nil {
		return nil, err
	}
	if c.TotalAmount, err = totalOf(o, c.PostPayments, c.PostDiscounts); err != nil {
		return nil, err
	}
	if c.Reason, err = o.requiredRunes("reason", soMaxReason); err != nil {
		return nil, err
	}
	if c.Device, err = device(o); err != nil {
		return nil, err
	}
	return c, nil
}

type soCancelRequest struct{ AppID, ServiceID, Reason string }

func parseServiceOrderCancel(body []byte) (*soCancelRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &soCancelRequest{}
	// service_id: 选填 on the current 需确认 page [V-off O-cancel 2025.02.13],
	// 必填 on the 免确认 page and in Y; checked when given.
	if c.AppID, c.ServiceID, err = o.soIDs(true); err != nil {
		return nil, err
	}
	if c.Reason, err = o.requiredRunes("reason", soMaxReason); err != nil {
		return nil, err
	}
	return c, nil
}

type soIDsRequest struct{ AppID, ServiceID string }

func parseServiceOrderPay(body []byte) (*soIDsRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &soIDsRequest{}
	if c.AppID, c.ServiceID, err = o.soIDs(false); err != nil {
		return nil, err
	}
	return c, nil
}

type soSyncRequest struct{ AppID, ServiceID, PaidTime string }

func parseServiceOrderSync(body []byte) (*soSyncRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &soSyncRequest{}
	if c.AppID, c.ServiceID, err = o.soIDs(false); err != nil {
		return nil, err
	}
	typ, err := o.required("type")
	if err != nil {
		return nil, err
	}
	if typ != SyncTypeOrderPaid {
		return nil, paramError(locBody, "/type", typ, "must be "+SyncTypeOrderPaid)
	}
	d, ok, err := o.child("detail")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, paramError(locBody, "/detail", nil, "is required")
	}
	if _, err = d.required("paid_time"); err != nil {
		return nil, err
	}
	if c.PaidTime, err = d.time("paid_time", false); err != nil {
		return nil, err
	}
	return c, nil
}
