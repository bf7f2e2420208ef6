package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// apiError is a WeChat Pay error answer.
type apiError struct {
	status  int
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Detail  *errorDetail `json:"detail,omitempty"`
}

type errorDetail struct {
	Field    string `json:"field"`
	Value    any    `json:"value,omitempty"`
	Issue    string `json:"issue"`
	Location string `json:"location"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, Code: code, Message: msg}
}

// maxEcho bounds a value echoed in an error's detail: an answer that
// quotes a huge value could pass the client's bound on an answer's size.
const maxEcho = 256

// paramError is 400 PARAM_ERROR about one field. field is a JSON pointer.
func paramError(location, field string, value any, issue string) *apiError {
	switch v := value.(type) {
	case json.RawMessage:
		if len(v) > maxEcho {
			value = nil
		} else {
			value = string(v)
		}
	case string:
		if len(v) > maxEcho {
			value = nil
		}
	}
	return &apiError{
		status:  http.StatusBadRequest,
		Code:    "PARAM_ERROR",
		Message: fmt.Sprintf("%s %s", field, issue),
		Detail:  &errorDetail{Field: field, Value: value, Issue: issue, Location: location},
	}
}

const (
	locBody  = "body"
	locQuery = "query"
	locURI   = "uri_template"
)

// China Standard Time: WeChat times are local to +08:00, no DST.
var cst = time.FixedZone("CST", 8*3600)

var outOrderNoRE = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{1,32}$`)

func validOutOrderNo(s string) bool { return outOrderNoRE.MatchString(s) }

// parseWechatTime accepts yyyyMMdd or yyyyMMddHHmmss naming a real instant.
func parseWechatTime(s string) (time.Time, bool) {
	var layout string
	switch len(s) {
	case 8:
		layout = "20060102"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, false
		}
	}
	t, err := time.ParseInLocation(layout, s, cst)
	if err != nil || t.Format(layout) != s {
		return time.Time{}, false
	}
	return t, true
}

func formatWechatTime(t time.Time) string { return t.In(cst).Format("20060102150405") }

// Sizes. Those the smart-retail pages do not state come from the sibling
// Pay Score API (appid, service_id) or the design notes' corrections (fees);
// maxFinishTicket is an assumption guarding memory, not a WeChat Pay rule.
// The client (internal/plugin/wxpay) uses the same numbers; a test checks they agree.
const (
	maxAppID        = 32
	maxServiceID    = 32
	maxFees         = 100
	maxFeeCount     = 100 // fee_count 1..100, default 1 (corrections, "likely")
	maxFinishTicket = 1024
	maxQueryID      = 512 // the sibling API's string(512); the old wiki said 64
	maxCancelReason = 30  // complete's cancel_reason (corrections, "likely")
	maxRevokeReason = 50  // the cancel endpoint's reason: sources silent, the sibling API's
	maxRealEndLoc   = 20  // real_service_end_location (corrections, "likely")
)

// DefaultMaxRiskAmount (fen) is the service's configured risk amount when
// Options.MaxRiskAmount is 0: the plugin's default offline_max_order_amount,
// so an order the plugin queues within its default limits is never above it.
// WeChat Pay configures it per service when the service is applied for; no
// public source states a value.
const DefaultMaxRiskAmount = 100000

// maxAmount bounds integers so that sums over a 1 MiB body cannot overflow int64.
const maxAmount = 1e13

var integerRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// object is a JSON object decoded lazily, so each field's type and range can
// be checked and reported with its JSON pointer.
type object struct {
	ptr string
	m   map[string]json.RawMessage
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// parseBody decodes a request body that must be one JSON object.
func parseBody(body []byte) (object, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil || m == nil {
		return object{}, &apiError{status: http.StatusBadRequest, Code: "PARAM_ERROR",
			Message: "request body is not a valid JSON object"}
	}
	if _, err := dec.Token(); err == nil {
		return object{}, &apiError{status: http.StatusBadRequest, Code: "PARAM_ERROR",
			Message: "request body has data after the JSON object"}
	}
	return object{m: m}, nil
}

func (o object) path(name string) string { return o.ptr + "/" + name }

func (o object) raw(name string) (json.RawMessage, bool) {
	r, ok := o.m[name]
	if !ok || isNull(r) {
		return nil, false
	}
	return r, true
}

// str reads an optional string field; present reports whether it is non-empty.
func (o object) str(name string) (string, bool, *apiError) {
	r, ok := o.raw(name)
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", false, paramError(locBody, o.path(name), r, "must be a string")
	}
	return s, s != "", nil
}

// ids reads the required appid and service_id, each of bounded length.
func (o object) ids() (appID, serviceID string, err *apiError) {
	if _, err = o.required("appid"); err != nil {
		return "", "", err
	}
	if appID, err = o.maxRunes("appid", maxAppID); err != nil {
		return "", "", err
	}
	if _, err = o.required("service_id"); err != nil {
		return "", "", err
	}
	if serviceID, err = o.maxRunes("service_id", maxServiceID); err != nil {
		return "", "", err
	}
	return appID, serviceID, nil
}

func (o object) required(name string) (string, *apiError) {
	s, ok, err := o.str(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", paramError(locBody, o.path(name), nil, "is required")
	}
	return s, nil
}

// maxRunes reads an optional string of at most n characters.
func (o object) maxRunes(name string, n int) (string, *apiError) {
	s, _, err := o.str(name)
	if err != nil {
		return "", err
	}
	if utf8.RuneCountInString(s) > n {
		return "", paramError(locBody, o.path(name), s, fmt.Sprintf("must be at most %d characters", n))
	}
	return s, nil
}

// amount reads an optional non-negative integer. Numbers are checked on
// their JSON text so 1.5, 1e2, "1" or -1 are all reported, never truncated.
func (o object) amount(name string) (int64, bool, *apiError) {
	r, ok := o.raw(name)
	if !ok {
		return 0, false, nil
	}
	text := string(bytes.TrimSpace(r))
	if !integerRE.MatchString(text) {
		return 0, false, paramError(locBody, o.path(name), r, "must be a non-negative integer")
	}
	if text[0] == '-' {
		return 0, false, paramError(locBody, o.path(name), r, "must not be negative")
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil || v > maxAmount {
		return 0, false, paramError(locBody, o.path(name), r, "is too large")
	}
	return v, true, nil
}

func (o object) boolean(name string) (bool, bool, *apiError) {
	r, ok := o.raw(name)
	if !ok {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(r, &b); err != nil {
		return false, false, paramError(locBody, o.path(name), r, "must be a boolean")
	}
	return b, true, nil
}

func (o object) time(name string, allowOnAccept bool) (string, *apiError) {
	s, ok, err := o.str(name)
	if err != nil || !ok {
		return "", err
	}
	if allowOnAccept && s == "OnAccept" {
		return s, nil
	}
	if _, ok := parseWechatTime(s); !ok {
		issue := "must be a time yyyyMMdd or yyyyMMddHHmmss"
		if allowOnAccept {
			issue = "must be OnAccept or a time yyyyMMdd or yyyyMMddHHmmss"
		}
		return "", paramError(locBody, o.path(name), s, issue)
	}
	return s, nil
}

// objects reads an optional array of objects.
func (o object) objects(name string, max int) ([]object, *apiError) {
	r, ok := o.raw(name)
	if !ok {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(r, &items); err != nil {
		return nil, paramError(locBody, o.path(name), r, "must be an array")
	}
	if max > 0 && len(items) > max {
		return nil, paramError(locBody, o.path(name), nil, fmt.Sprintf("must have at most %d items", max))
	}
	out := make([]object, len(items))
	for i, it := range items {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(it, &m); err != nil || m == nil {
			return nil, paramError(locBody, fmt.Sprintf("%s/%d", o.path(name), i), it, "must be an object")
		}
		out[i] = object{ptr: fmt.Sprintf("%s/%d", o.path(name), i), m: m}
	}
	return out, nil
}

func parseFees(o object) ([]Fee, *apiError) {
	items, err := o.objects("fees", maxFees)
	if err != nil {
		return nil, err
	}
	var fees []Fee
	seen := map[string]bool{}
	for _, it := range items {
		var f Fee
		if f.FeeName, err = it.required("fee_name"); err != nil {
			return nil, err
		}
		if f.FeeName, err = it.maxRunes("fee_name", 20); err != nil {
			return nil, err
		}
		if seen[f.FeeName] {
			return nil, paramError(locBody, it.path("fee_name"), f.FeeName, "must be unique in the order")
		}
		seen[f.FeeName] = true
		var ok bool
		if f.FeeCount, ok, err = it.amount("fee_count"); err != nil {
			return nil, err
		}
		switch {
		case !ok:
			f.FeeCount = 1 // the default
		case f.FeeCount < 1 || f.FeeCount > maxFeeCount:
			return nil, paramError(locBody, it.path("fee_count"), f.FeeCount, fmt.Sprintf("must be 1 to %d", maxFeeCount))
		}
		if f.FeeAmount, ok, err = it.amount("fee_amount"); err != nil {
			return nil, err
		}
		if !ok {
			return nil, paramError(locBody, it.path("fee_amount"), nil, "is required")
		}
		if f.FeeDesc, err = it.maxRunes("fee_desc", 30); err != nil {
			return nil, err
		}
		fees = append(fees, f)
	}
	return fees, nil
}

func parseDiscounts(o object, needAmount bool) ([]Discount, *apiError) {
	items, err := o.objects("discounts", 5)
	if err != nil {
		return nil, err
	}
	var ds []Discount
	seen := map[string]bool{}
	for _, it := range items {
		var d Discount
		if _, err = it.required("discount_name"); err != nil {
			return nil, err
		}
		if d.DiscountName, err = it.maxRunes("discount_name", 20); err != nil {
			return nil, err
		}
		if seen[d.DiscountName] {
			return nil, paramError(locBody, it.path("discount_name"), d.DiscountName, "must be unique in the order")
		}
		seen[d.DiscountName] = true
		if _, err = it.required("discount_desc"); err != nil {
			return nil, err
		}
		if d.DiscountDesc, err = it.maxRunes("discount_desc", 30); err != nil {
			return nil, err
		}
		var ok bool
		if d.DiscountAmount, ok, err = it.amount("discount_amount"); err != nil {
			return nil, err
		}
		if needAmount && !ok {
			return nil, paramError(locBody, it.path("discount_amount"), nil, "is required")
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// createRequest is the parsed, normalised create body. Its JSON encoding is
// the canonical form compared for idempotent repeats.
type createRequest struct {
	AppID                string     `json:"appid"`
	ServiceID            string     `json:"service_id"`
	OutOrderNo           string     `json:"out_order_no"`
	ServiceStartTime     string     `json:"service_start_time"`
	ServiceEndTime       string     `json:"service_end_time"`
	ServiceStartLocation string     `json:"service_start_location"`
	ServiceEndLocation   string     `json:"service_end_location"`
	ServiceIntroduction  string     `json:"service_introduction"`
	Attach               string     `json:"attach"`
	OpenID               string     `json:"openid"`
	Fees                 []Fee      `json:"fees"`
	Discounts            []Discount `json:"discounts"`
	RiskAmount           *int64     `json:"risk_amount"`
	NeedUserConfirm      bool       `json:"need_user_confirm"`
}

func (c *createRequest) fingerprint() string {
	b, _ := json.Marshal(c) // cannot fail: plain types only
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func parseCreate(body []byte) (*createRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &createRequest{NeedUserConfirm: true}
	if c.AppID, c.ServiceID, err = o.ids(); err != nil {
		return nil, err
	}
	if c.OutOrderNo, err = o.required("out_order_no"); err != nil {
		return nil, err
	}
	if !validOutOrderNo(c.OutOrderNo) {
		return nil, paramError(locBody, "/out_order_no", c.OutOrderNo,
			"must be 1 to 32 characters of 0-9 A-Z a-z _ - | *")
	}
	if _, err = o.required("service_start_time"); err != nil {
		return nil, err
	}
	if c.ServiceStartTime, err = o.time("service_start_time", true); err != nil {
		return nil, err
	}
	if c.ServiceEndTime, err = o.time("service_end_time", false); err != nil {
		return nil, err
	}
	if _, err = o.required("service_start_location"); err != nil {
		return nil, err
	}
	if c.ServiceStartLocation, err = o.maxRunes("service_start_location", 50); err != nil {
		return nil, err
	}
	if c.ServiceEndLocation, err = o.maxRunes("service_end_location", 50); err != nil {
		return nil, err
	}
	if _, err = o.required("service_introduction"); err != nil {
		return nil, err
	}
	if c.ServiceIntroduction, err = o.maxRunes("service_introduction", 20); err != nil {
		return nil, err
	}
	if c.Attach, err = o.maxRunes("attach", 256); err != nil {
		return nil, err
	}
	if c.OpenID, err = o.maxRunes("openid", 128); err != nil {
		return nil, err
	}
	if c.Fees, err = parseFees(o); err != nil {
		return nil, err
	}
	if c.Discounts, err = parseDiscounts(o, false); err != nil {
		return nil, err
	}
	if v, ok, err := o.amount("risk_amount"); err != nil {
		return nil, err
	} else if !ok || v == 0 {
		return nil, paramError(locBody, "/risk_amount", nil, "is required and must be positive")
	} else {
		c.RiskAmount = &v
	}
	if v, ok, err := o.boolean("need_user_confirm"); err != nil {
		return nil, err
	} else if ok {
		c.NeedUserConfirm = v
	}
	if !c.NeedUserConfirm && c.OpenID == "" {
		return nil, paramError(locBody, "/openid", nil, "is required when need_user_confirm is false")
	}
	return c, nil
}

type completeRequest struct {
	AppID                  string
	ServiceID              string
	FinishType             int
	CancelReason           string
	RealServiceStartTime   string
	RealServiceEndTime     string
	RealServiceEndLocation string
	Fees                   []Fee
	Discounts              []Discount
	TotalAmount            int64
	FinishTicket           string
	ProfitSharing          bool
}

func parseComplete(body []byte) (*completeRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &completeRequest{}
	if c.AppID, c.ServiceID, err = o.ids(); err != nil {
		return nil, err
	}
	ft, ok, err := o.amount("finish_type")
	if err != nil {
		return nil, paramError(locBody, "/finish_type", o.m["finish_type"], "must be 1 or 2")
	}
	if !ok {
		return nil, paramError(locBody, "/finish_type", nil, "is required")
	}
	if ft != FinishTypeCancel && ft != FinishTypeCharge {
		return nil, paramError(locBody, "/finish_type", o.m["finish_type"], "must be 1 or 2")
	}
	c.FinishType = int(ft)
	if c.CancelReason, err = o.maxRunes("cancel_reason", maxCancelReason); err != nil {
		return nil, err
	}
	if c.FinishType == FinishTypeCancel && c.CancelReason == "" {
		return nil, paramError(locBody, "/cancel_reason", nil, "is required when finish_type is 1")
	}
	if c.RealServiceStartTime, err = o.time("real_service_start_time", false); err != nil {
		return nil, err
	}
	if c.RealServiceEndTime, err = o.time("real_service_end_time", false); err != nil {
		return nil, err
	}
	if c.RealServiceEndLocation, err = o.maxRunes("real_service_end_location", maxRealEndLoc); err != nil {
		return nil, err
	}
	if c.FinishType == FinishTypeCancel && c.RealServiceEndLocation != "" {
		return nil, paramError(locBody, "/real_service_end_location", c.RealServiceEndLocation, "must be left out when finish_type is 1")
	}
	if c.Fees, err = parseFees(o); err != nil {
		return nil, err
	}
	if c.FinishType == FinishTypeCharge && len(c.Fees) == 0 {
		return nil, paramError(locBody, "/fees", nil, "must not be empty when finish_type is 2")
	}
	if c.Discounts, err = parseDiscounts(o, true); err != nil {
		return nil, err
	}
	total, haveTotal, err := o.amount("total_amount")
	if err != nil {
		return nil, err
	}
	if !haveTotal {
		return nil, paramError(locBody, "/total_amount", nil, "is required")
	}
	if c.FinishType == FinishTypeCancel && total != 0 {
		return nil, paramError(locBody, "/total_amount", total, "must be 0 when finish_type is 1")
	}
	if c.FinishType == FinishTypeCharge {
		var sum int64
		for _, f := range c.Fees {
			sum += f.FeeAmount
		}
		for _, d := range c.Discounts {
			sum -= d.DiscountAmount
		}
		if sum < 0 {
			return nil, paramError(locBody, "/total_amount", nil, "discounts exceed fees")
		}
		if total != sum {
			return nil, paramError(locBody, "/total_amount", total,
				fmt.Sprintf("must equal sum(fee_amount) - sum(discount_amount) = %d", sum))
		}
		c.TotalAmount = sum
	}
	if _, err = o.required("finish_ticket"); err != nil {
		return nil, err
	}
	if c.FinishTicket, err = o.maxRunes("finish_ticket", maxFinishTicket); err != nil {
		return nil, err
	}
	if c.ProfitSharing, ok, err = o.boolean("profit_sharing"); err != nil {
		return nil, err
	}
	if !ok {
		return nil, paramError(locBody, "/profit_sharing", nil, "is required (true or false)")
	}
	return c, nil
}

type cancelRequest struct {
	AppID, ServiceID, Reason string
}

func parseCancel(body []byte) (*cancelRequest, *apiError) {
	o, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	c := &cancelRequest{}
	if c.AppID, c.ServiceID, err = o.ids(); err != nil {
		return nil, err
	}
	if c.Reason, err = o.required("reason"); err != nil {
		return nil, err
	}
	if c.Reason, err = o.maxRunes("reason", maxRevokeReason); err != nil {
		return nil, err
	}
	return c, nil
}
