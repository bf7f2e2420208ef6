package wxpay

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Limits WeChat Pay documents for smart-retail orders. Each rule's source is
// in the table of sandbox/doc.go, which enforces the same.
const (
	MaxOutOrderNoLen   = 32
	MaxIntroductionLen = 20 // characters, not bytes
	MaxDiscounts       = 5
	MaxDiscountNameLen = 20 // characters
	// MaxReasonLen bounds complete's cancel_reason (30, the design notes'
	// corrections, "likely") and, here only, the cancel's reason: a cancel
	// of an order the customer has confirmed is sent as a complete with the
	// reason as cancel_reason, and which one it becomes is known only when
	// it is sent. The sandbox's cancel endpoint takes 50.
	MaxReasonLen = 30
	// MaxRealEndLocationLen bounds complete's real_service_end_location (the
	// corrections, "likely"); the create's locations keep the sibling API's 50.
	MaxRealEndLocationLen = 20
	// MaxFeeCount bounds fee_count, 1..100; a fee without one counts 1.
	MaxFeeCount = 100
	// Limits the smart-retail pages do not state, taken from the sibling
	// Pay Score service-order API; the sandbox enforces the same.
	MaxFeeNameLen   = 20
	MaxDescLen      = 30 // fee_desc, discount_desc
	MaxLocationLen  = 50 // service_start_location, service_end_location
	MaxAttachLen    = 256
	MaxOpenIDLen    = 128
	MaxAppIDLen     = 32  // appid string(32)
	MaxServiceIDLen = 32  // service_id string(32)
	MaxQueryIDLen   = 512 // query_id string(512); the old wiki said 64
	// MaxFees: "at most 100" fee lines, from a 2019 integration that copies
	// the official tables (the design notes' corrections, "likely").
	MaxFees = 100
	// MaxFinishTicketLen is an assumption guarding memory, not a WeChat Pay
	// rule: no source states finish_ticket's length (the sandbox mints 32).
	MaxFinishTicketLen = 1024
	// MaxBodyBytes bounds the encoded JSON body: the sandbox's bound
	// (sandbox.MaxBodyBytes), since WeChat Pay states none. Keep it no larger
	// than the sandbox's, or a request could pass here and fail there.
	MaxBodyBytes = 1 << 20
	// MaxListedViolations is how many violations an error lists; the rest
	// are counted in one more, so a refusal stays small whatever the request.
	MaxListedViolations = 20
	// MaxAmount (fen) keeps sums of amounts far from overflow.
	MaxAmount           = 10_000_000_000_000
	StartTimeOnAccept   = "OnAccept"
	timeLayoutDay       = "20060102"
	timeLayoutDayAndSec = "20060102150405"
)

// chinaStandardTime is fixed +08:00: WeChat Pay's times are China Standard
// Time and China has no daylight saving, so no tz database is needed.
var chinaStandardTime = time.FixedZone("CST", 8*60*60)

// ParseTime reads a WeChat Pay time, yyyyMMdd or yyyyMMddHHmmss in China
// Standard Time. RFC 3339 and anything else is refused.
func ParseTime(s string) (time.Time, error) {
	var layout string
	switch len(s) {
	case len(timeLayoutDay):
		layout = timeLayoutDay
	case len(timeLayoutDayAndSec):
		layout = timeLayoutDayAndSec
	default:
		if len(s) > 32 {
			// Never echo a long value: an error must stay small.
			return time.Time{}, fmt.Errorf("want yyyyMMdd or yyyyMMddHHmmss, got %d characters", utf8.RuneCountInString(s))
		}
		return time.Time{}, fmt.Errorf("want yyyyMMdd or yyyyMMddHHmmss, got %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, fmt.Errorf("want yyyyMMdd or yyyyMMddHHmmss, got %q", s)
		}
	}
	t, err := time.ParseInLocation(layout, s, chinaStandardTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a real date and time", s)
	}
	return t, nil
}

// FormatTime writes t as WeChat Pay's yyyyMMddHHmmss in China Standard Time.
func FormatTime(t time.Time) string {
	return t.In(chinaStandardTime).Format(timeLayoutDayAndSec)
}

// ValidOutOrderNo reports why s is not a usable out_order_no, or "".
func ValidOutOrderNo(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > MaxOutOrderNoLen {
		return fmt.Sprintf("must be at most %d characters, got %d", MaxOutOrderNoLen, len(s))
	}
	i := 0
	for _, c := range s { // by character: 订单一 is reported as 订, not as its first byte
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c == '_' || c == '-' || c == '|' || c == '*'
		if !ok {
			return fmt.Sprintf("may hold only 0-9 A-Z a-z _ - | *, found %q at character %d", c, i)
		}
		i++
	}
	return ""
}

// violations collects broken rules with their JSON pointers: the first
// MaxListedViolations, and how many more there were. Issues never quote a
// long value, so what is kept is small however large the request.
type violations struct {
	list []Violation
	// more counts the violations past the listed ones; firstMore is the
	// field of the first of them.
	more      int
	firstMore string
}

func (v *violations) add(field, issue string) {
	if len(v.list) < MaxListedViolations {
		v.list = append(v.list, Violation{Field: field, Issue: issue})
		return
	}
	if v.more == 0 {
		v.firstMore = field
	}
	v.more++
}

// MoreViolationsIssue is the issue of the last violation of a list that was
// cut: its field is the first violation left out, n counts all left out.
func MoreViolationsIssue(n int) string {
	return fmt.Sprintf("... and %d more violations from here on, not listed", n)
}

func (v *violations) required(field, value string) {
	if value == "" {
		v.add(field, "is required")
	}
}

// maxChars says how long a value is, never what it is: errors stay small,
// and an openid never reaches one.
func (v *violations) maxChars(field, value string, max int) {
	if n := utf8.RuneCountInString(value); n > max {
		v.add(field, fmt.Sprintf("must be at most %d characters, got %d", max, n))
	}
}

func (v *violations) nonNegative(field string, amount int64) {
	switch {
	case amount < 0:
		v.add(field, fmt.Sprintf("must be a non-negative integer, got %d", amount))
	case amount > MaxAmount:
		v.add(field, fmt.Sprintf("must be at most %d, got %d", int64(MaxAmount), amount))
	}
}

func (v *violations) time(field, value string, onAcceptAllowed bool) {
	if value == "" || onAcceptAllowed && value == StartTimeOnAccept {
		return
	}
	if _, err := ParseTime(value); err != nil {
		issue := err.Error()
		if onAcceptAllowed {
			issue += ` (or "OnAccept")`
		}
		v.add(field, issue)
	}
}

func (v *violations) outOrderNo(field, value string) {
	if issue := ValidOutOrderNo(value); issue != "" {
		v.add(field, issue)
	}
}

// body refuses a request whose encoded JSON is larger than WeChat Pay takes.
// Called only when every field is within its bound, so it encodes little.
func (v *violations) body(r any) {
	b, err := json.Marshal(r)
	switch {
	case err != nil:
		v.add("", "cannot be encoded as JSON: "+err.Error())
	case len(b) > MaxBodyBytes:
		v.add("", fmt.Sprintf("the encoded request is %d bytes, more than the %d WeChat Pay accepts", len(b), MaxBodyBytes))
	}
}

func (v *violations) fees(fees []Fee) {
	if len(fees) > MaxFees {
		v.add("/fees", fmt.Sprintf("must hold at most %d fees, got %d", MaxFees, len(fees)))
	}
	seen := make(map[string]int, len(fees))
	for i, f := range fees {
		p := fmt.Sprintf("/fees/%d", i)
		v.required(p+"/fee_name", f.FeeName)
		v.maxChars(p+"/fee_name", f.FeeName, MaxFeeNameLen)
		v.unique(p+"/fee_name", f.FeeName, seen, i)
		v.maxChars(p+"/fee_desc", f.FeeDesc, MaxDescLen)
		// 0 is not sent (omitempty) and counts 1, WeChat Pay's default.
		if f.FeeCount < 0 || f.FeeCount > MaxFeeCount {
			v.add(p+"/fee_count", fmt.Sprintf("must be 1 to %d, got %d", MaxFeeCount, f.FeeCount))
		}
		v.nonNegative(p+"/fee_amount", f.FeeAmount)
	}
}

// unique refuses a name given to an earlier line of the same list.
func (v *violations) unique(field, name string, seen map[string]int, i int) {
	if name == "" {
		return
	}
	if j, dup := seen[name]; dup {
		v.add(field, fmt.Sprintf("must be unique in the order: line %d has the same name", j))
		return
	}
	seen[name] = i
}

func (v *violations) discounts(ds []Discount) {
	if len(ds) > MaxDiscounts {
		v.add("/discounts", fmt.Sprintf("must hold at most %d discounts, got %d", MaxDiscounts, len(ds)))
	}
	seen := make(map[string]int, len(ds))
	for i, d := range ds {
		p := fmt.Sprintf("/discounts/%d", i)
		v.required(p+"/discount_name", d.DiscountName)
		v.maxChars(p+"/discount_name", d.DiscountName, MaxDiscountNameLen)
		v.unique(p+"/discount_name", d.DiscountName, seen, i)
		v.required(p+"/discount_desc", d.DiscountDesc)
		v.maxChars(p+"/discount_desc", d.DiscountDesc, MaxDescLen)
		v.nonNegative(p+"/discount_amount", d.DiscountAmount)
	}
}

// finish is the check's outcome: the violations found, or, when none, the
// size of the encoded request (a body too large for WeChat Pay).
func (v *violations) finish(r any, op string) error {
	if len(v.list) == 0 {
		v.body(r)
	}
	return v.err(op)
}

func (v *violations) err(op string) error {
	if len(v.list) == 0 {
		return nil
	}
	list := v.list
	if v.more > 0 {
		list = append(list, Violation{Field: v.firstMore, Issue: MoreViolationsIssue(v.more)})
	}
	return &Error{
		Class:      Invalid,
		Op:         op,
		Code:       "PARAM_ERROR",
		Message:    "request refused before sending",
		Detail:     &Detail{Field: list[0].Field, Issue: list[0].Issue, Location: "body"},
		Violations: list,
	}
}

// Validate checks r against WeChat Pay's rules without sending it.
func (r *CreateRequest) Validate() error {
	var v violations
	v.required("/appid", r.AppID)
	v.maxChars("/appid", r.AppID, MaxAppIDLen)
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	v.required("/service_id", r.ServiceID)
	v.maxChars("/service_id", r.ServiceID, MaxServiceIDLen)
	v.required("/service_start_time", r.ServiceStartTime)
	v.time("/service_start_time", r.ServiceStartTime, true)
	v.time("/service_end_time", r.ServiceEndTime, false)
	v.required("/service_start_location", r.ServiceStartLocation)
	v.maxChars("/service_start_location", r.ServiceStartLocation, MaxLocationLen)
	v.maxChars("/service_end_location", r.ServiceEndLocation, MaxLocationLen)
	v.required("/service_introduction", r.ServiceIntroduction)
	v.maxChars("/service_introduction", r.ServiceIntroduction, MaxIntroductionLen)
	v.maxChars("/attach", r.Attach, MaxAttachLen)
	if r.NeedUserConfirm != nil && !*r.NeedUserConfirm {
		// No confirmation page: WeChat Pay must know whom to charge. With
		// confirmation an openid is accepted too (sandbox/doc.go says why).
		if r.OpenID == "" {
			v.add("/openid", "is required when need_user_confirm is false")
		}
	}
	v.maxChars("/openid", r.OpenID, MaxOpenIDLen)
	v.fees(r.Fees)
	for i, d := range r.Discounts {
		if d.DiscountAmount != 0 {
			v.add(fmt.Sprintf("/discounts/%d/discount_amount", i), "is not part of a create (it belongs to complete)")
		}
	}
	v.discounts(r.Discounts)
	if r.RiskAmount == 0 {
		v.add("/risk_amount", "is required: a positive amount in fen, at most the service's configured risk amount")
	}
	v.nonNegative("/risk_amount", r.RiskAmount)
	return v.finish(r, "create")
}

// Validate checks r without sending it.
func (r *QueryRequest) Validate() error {
	var v violations
	v.required("/appid", r.AppID)
	v.maxChars("/appid", r.AppID, MaxAppIDLen)
	v.required("/service_id", r.ServiceID)
	v.maxChars("/service_id", r.ServiceID, MaxServiceIDLen)
	switch {
	case r.OutOrderNo == "" && r.QueryID == "":
		v.add("/out_order_no", "one of out_order_no and query_id is required")
	case r.OutOrderNo != "" && r.QueryID != "":
		v.add("/query_id", "give out_order_no or query_id, not both")
	case r.OutOrderNo != "":
		v.outOrderNo("/out_order_no", r.OutOrderNo)
	default:
		v.maxChars("/query_id", r.QueryID, MaxQueryIDLen)
	}
	if err := v.err("query"); err != nil {
		err.(*Error).Detail.Location = "query"
		return err
	}
	return nil
}

// Validate checks r without sending it.
func (r *CancelRequest) Validate() error {
	var v violations
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	v.required("/appid", r.AppID)
	v.maxChars("/appid", r.AppID, MaxAppIDLen)
	v.required("/service_id", r.ServiceID)
	v.maxChars("/service_id", r.ServiceID, MaxServiceIDLen)
	v.required("/reason", r.Reason)
	v.maxChars("/reason", r.Reason, MaxReasonLen)
	return v.finish(r, "cancel")
}

// Validate checks r without sending it: every rule that does not need the
// order. It is what a complete must pass to be queued; finish_ticket, which
// only a query of the order gives, is checked by ValidateToSend.
func (r *CompleteRequest) Validate() error {
	var v violations
	r.validate(&v)
	return v.finish(r, "complete")
}

// ValidateToSend is Validate and the rules for the moment of sending: a
// finish_ticket (WeChat Pay's query gives it while the order is
// USER_ACCEPTED; the sandbox refuses a complete without it).
func (r *CompleteRequest) ValidateToSend() error {
	var v violations
	r.validate(&v)
	v.required("/finish_ticket", r.FinishTicket)
	return v.finish(r, "complete")
}

func (r *CompleteRequest) validate(v *violations) {
	v.outOrderNo("/out_order_no", r.OutOrderNo)
	v.required("/appid", r.AppID)
	v.maxChars("/appid", r.AppID, MaxAppIDLen)
	v.required("/service_id", r.ServiceID)
	v.maxChars("/service_id", r.ServiceID, MaxServiceIDLen)
	switch r.FinishType {
	case FinishTypeCancel:
		v.required("/cancel_reason", r.CancelReason)
		if r.RealServiceEndLocation != "" {
			v.add("/real_service_end_location", "must be left out when finish_type is 1 (cancel)")
		}
	case FinishTypeFinish:
		if len(r.Fees) == 0 {
			v.add("/fees", "is required when finish_type is 2 (finish and charge)")
		}
	default:
		v.add("/finish_type", fmt.Sprintf("must be 1 (cancel) or 2 (finish and charge), got %d", r.FinishType))
	}
	v.maxChars("/cancel_reason", r.CancelReason, MaxReasonLen)
	v.time("/real_service_start_time", r.RealServiceStartTime, false)
	v.time("/real_service_end_time", r.RealServiceEndTime, false)
	v.maxChars("/real_service_end_location", r.RealServiceEndLocation, MaxRealEndLocationLen)
	v.maxChars("/finish_ticket", r.FinishTicket, MaxFinishTicketLen)
	v.fees(r.Fees)
	v.discounts(r.Discounts)
	for i, d := range r.Discounts {
		if d.DiscountAmount == 0 {
			// WeChat Pay wants the amount of every discount it is told of.
			v.add(fmt.Sprintf("/discounts/%d/discount_amount", i), "is required in a complete (a positive amount in fen)")
		}
	}
	if r.TotalAmount != nil {
		v.nonNegative("/total_amount", *r.TotalAmount)
	}
	switch r.FinishType {
	case FinishTypeFinish:
		want := r.sum()
		switch {
		case want < 0:
			v.add("/total_amount", fmt.Sprintf("the discounts exceed the fees: fees less discounts is %d", want))
		case r.TotalAmount != nil && *r.TotalAmount >= 0 && *r.TotalAmount != want:
			v.add("/total_amount", fmt.Sprintf("must equal the fees less the discounts, %d, got %d", want, *r.TotalAmount))
		}
	case FinishTypeCancel:
		if r.TotalAmount != nil && *r.TotalAmount > 0 {
			v.add("/total_amount", fmt.Sprintf("must be 0 when finish_type is 1 (cancel: nothing is charged), got %d", *r.TotalAmount))
		}
	}
}

// WithoutRepeatedEndLocation returns r without real_service_end_location
// when it repeats the order's service_start_location or
// service_end_location: the official table says to leave it out then
// (sandbox/doc.go). Only a query of the order knows them, so this is for
// the moment of sending.
func (r CompleteRequest) WithoutRepeatedEndLocation(o *Order) CompleteRequest {
	if o != nil && r.RealServiceEndLocation != "" &&
		(r.RealServiceEndLocation == o.ServiceStartLocation || r.RealServiceEndLocation == o.ServiceEndLocation) {
		r.RealServiceEndLocation = ""
	}
	return r
}

// Charge is what a complete charges: its total_amount, or, when it names
// none, the fees less the discounts (finish_type 2) or 0 (finish_type 1).
// It is the total_amount sent.
func (r *CompleteRequest) Charge() int64 {
	if r.TotalAmount != nil {
		return *r.TotalAmount
	}
	if r.FinishType == FinishTypeCancel {
		return 0
	}
	return r.sum()
}

// sum is the fees less the discounts, the total_amount WeChat Pay expects.
func (r *CompleteRequest) sum() int64 {
	var t int64
	for _, f := range r.Fees {
		t += f.FeeAmount
	}
	for _, d := range r.Discounts {
		t -= d.DiscountAmount
	}
	return t
}
