package wxpay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func validCreate() CreateRequest {
	return CreateRequest{
		AppID: "wxd678efh567hg6787", OutOrderNo: "K1-2026|A*b_c", ServiceID: "500001",
		ServiceStartTime: StartTimeOnAccept, ServiceEndTime: "20261126183000", ServiceStartLocation: "A栋1楼",
		ServiceIntroduction: "无人售货柜", Fees: []Fee{{FeeName: "可乐", FeeCount: 2, FeeAmount: 600}},
		Discounts: []Discount{{DiscountName: "新客立减", DiscountDesc: "减1元"}}, RiskAmount: 20000,
	}
}

func validComplete() CompleteRequest {
	return CompleteRequest{
		OutOrderNo: "K1", AppID: "wx1", ServiceID: "500001", FinishType: FinishTypeFinish,
		RealServiceEndTime: "20261126", Fees: []Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: 300}},
		Discounts: []Discount{{DiscountName: "券", DiscountDesc: "满3减1", DiscountAmount: 100}}, TotalAmount: ptr[int64](200),
	}
}

// violationOf returns the fields an error names, or fails the test.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	if e.Class != Invalid || e.Code != "PARAM_ERROR" || e.StatusCode != 0 {
		t.Fatalf("want a local PARAM_ERROR of class invalid, got %+v", e)
	}
	var fields []string
	for _, v := range e.Violations {
		fields = append(fields, v.Field)
	}
	if e.Detail == nil || len(fields) == 0 || e.Detail.Field != fields[0] {
		t.Fatalf("detail %+v does not name the first violation %v", e.Detail, fields)
	}
	return fields
}

func TestCreateValidation(t *testing.T) {
	if err := ptr(validCreate()).Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(*CreateRequest)
		field string
		issue string
	}{
		{"appid required", func(r *CreateRequest) { r.AppID = "" }, "/appid", "required"},
		{"service_id required", func(r *CreateRequest) { r.ServiceID = "" }, "/service_id", "required"},
		{"out_order_no required", func(r *CreateRequest) { r.OutOrderNo = "" }, "/out_order_no", "required"},
		{"out_order_no too long", func(r *CreateRequest) { r.OutOrderNo = strings.Repeat("a", 33) }, "/out_order_no", "at most 32"},
		{"out_order_no charset", func(r *CreateRequest) { r.OutOrderNo = "a b" }, "/out_order_no", "may hold only"},
		{"out_order_no slash", func(r *CreateRequest) { r.OutOrderNo = "a/b" }, "/out_order_no", "may hold only"},
		// The character itself is named, not its first byte (è).
		{"out_order_no chinese", func(r *CreateRequest) { r.OutOrderNo = "订单一" }, "/out_order_no", "found '订' at character 0"},
		{"start time rfc3339", func(r *CreateRequest) { r.ServiceStartTime = "2026-11-26T10:00:00+08:00" }, "/service_start_time", "yyyyMMdd"},
		{"start time not a date", func(r *CreateRequest) { r.ServiceStartTime = "20260230" }, "/service_start_time", "not a real date"},
		{"end time OnAccept", func(r *CreateRequest) { r.ServiceEndTime = StartTimeOnAccept }, "/service_end_time", "yyyyMMdd"},
		{"end time hour 24", func(r *CreateRequest) { r.ServiceEndTime = "20261126240000" }, "/service_end_time", "not a real date"},
		{"introduction too long", func(r *CreateRequest) { r.ServiceIntroduction = strings.Repeat("售", 21) }, "/service_introduction", "at most 20"},
		{"negative fee", func(r *CreateRequest) { r.Fees[0].FeeAmount = -1 }, "/fees/0/fee_amount", "non-negative"},
		{"negative count", func(r *CreateRequest) { r.Fees[0].FeeCount = -2 }, "/fees/0/fee_count", "1 to 100"},
		{"too many discounts", func(r *CreateRequest) { r.Discounts = make([]Discount, 6) }, "/discounts", "at most 5"},
		{"discount name too long", func(r *CreateRequest) { r.Discounts[0].DiscountName = strings.Repeat("折", 21) }, "/discounts/0/discount_name", "at most 20"},
		{"discount amount in create", func(r *CreateRequest) { r.Discounts[0].DiscountAmount = 5 }, "/discounts/0/discount_amount", "complete"},
		{"negative risk", func(r *CreateRequest) { r.RiskAmount = -5 }, "/risk_amount", "non-negative"},
		// The corrections of the design notes (sandbox/doc.go's table).
		{"start time required", func(r *CreateRequest) { r.ServiceStartTime = "" }, "/service_start_time", "required"},
		{"start location required", func(r *CreateRequest) { r.ServiceStartLocation = "" }, "/service_start_location", "required"},
		{"introduction required", func(r *CreateRequest) { r.ServiceIntroduction = "" }, "/service_introduction", "required"},
		{"risk required", func(r *CreateRequest) { r.RiskAmount = 0 }, "/risk_amount", "required"},
		{"openid without confirmation", func(r *CreateRequest) { r.NeedUserConfirm = ptr(false) }, "/openid", "need_user_confirm"},
		{"fee name unique", func(r *CreateRequest) { r.Fees = append(r.Fees, Fee{FeeName: "可乐", FeeAmount: 1}) }, "/fees/1/fee_name", "unique"},
		{"fee count 101", func(r *CreateRequest) { r.Fees[0].FeeCount = 101 }, "/fees/0/fee_count", "1 to 100"},
		{"discount name unique", func(r *CreateRequest) {
			r.Discounts = append(r.Discounts, Discount{DiscountName: "新客立减", DiscountDesc: "x"})
		}, "/discounts/1/discount_name", "unique"},
		{"discount desc required", func(r *CreateRequest) { r.Discounts[0].DiscountDesc = "" }, "/discounts/0/discount_desc", "required"},
		{"huge risk", func(r *CreateRequest) { r.RiskAmount = MaxAmount + 1 }, "/risk_amount", "at most"},
		{"fee name required", func(r *CreateRequest) { r.Fees[0].FeeName = "" }, "/fees/0/fee_name", "required"},
		{"fee name too long", func(r *CreateRequest) { r.Fees[0].FeeName = strings.Repeat("水", 21) }, "/fees/0/fee_name", "at most 20"},
		{"fee desc too long", func(r *CreateRequest) { r.Fees[0].FeeDesc = strings.Repeat("d", 31) }, "/fees/0/fee_desc", "at most 30"},
		{"discount name required", func(r *CreateRequest) { r.Discounts[0].DiscountName = "" }, "/discounts/0/discount_name", "required"},
		{"discount desc too long", func(r *CreateRequest) { r.Discounts[0].DiscountDesc = strings.Repeat("d", 31) }, "/discounts/0/discount_desc", "at most 30"},
		{"start location too long", func(r *CreateRequest) { r.ServiceStartLocation = strings.Repeat("l", 51) }, "/service_start_location", "at most 50"},
		{"end location too long", func(r *CreateRequest) { r.ServiceEndLocation = strings.Repeat("l", 51) }, "/service_end_location", "at most 50"},
		{"attach too long", func(r *CreateRequest) { r.Attach = strings.Repeat("a", 257) }, "/attach", "at most 256"},
		{"openid too long", func(r *CreateRequest) { r.OpenID = strings.Repeat("o", 129) }, "/openid", "at most 128"},
		{"appid too long", func(r *CreateRequest) { r.AppID = "wx" + strings.Repeat("a", 31) }, "/appid", "at most 32"},
		{"service_id too long", func(r *CreateRequest) { r.ServiceID = strings.Repeat("5", 33) }, "/service_id", "at most 32"},
		{"101 fees", func(r *CreateRequest) { r.Fees = manyFees(101) }, "/fees", "at most 100"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validCreate()
			tc.edit(&r)
			err := r.Validate()
			fields := fieldsOf(t, err)
			if fields[0] != tc.field {
				t.Errorf("fields %v, want %s first", fields, tc.field)
			}
			if !strings.Contains(err.Error(), tc.issue) {
				t.Errorf("error %q does not say %q", err, tc.issue)
			}
		})
	}
}

func TestCreateValidationReportsEveryViolation(t *testing.T) {
	r := validCreate()
	r.AppID, r.RiskAmount, r.Fees[0].FeeAmount = "", -1, -1
	got := strings.Join(fieldsOf(t, r.Validate()), " ")
	if got != "/appid /fees/0/fee_amount /risk_amount" {
		t.Errorf("fields = %s", got)
	}
}

func TestCompleteValidation(t *testing.T) {
	if err := ptr(validComplete()).Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(*CompleteRequest)
		field string
	}{
		{"out_order_no", func(r *CompleteRequest) { r.OutOrderNo = "x?" }, "/out_order_no"},
		{"appid", func(r *CompleteRequest) { r.AppID = "" }, "/appid"},
		{"service_id", func(r *CompleteRequest) { r.ServiceID = "" }, "/service_id"},
		{"finish_type", func(r *CompleteRequest) { r.FinishType = 3 }, "/finish_type"},
		{"cancel needs reason", func(r *CompleteRequest) { r.FinishType = FinishTypeCancel; r.TotalAmount = nil }, "/cancel_reason"},
		{"finish needs fees", func(r *CompleteRequest) { r.Fees, r.TotalAmount = nil, nil }, "/fees"},
		{"real end time", func(r *CompleteRequest) { r.RealServiceEndTime = "2026112" }, "/real_service_end_time"},
		{"real start time", func(r *CompleteRequest) { r.RealServiceStartTime = "OnAccept" }, "/real_service_start_time"},
		{"negative discount", func(r *CompleteRequest) { r.Discounts[0].DiscountAmount = -1; r.TotalAmount = nil }, "/discounts/0/discount_amount"},
		{"total mismatch", func(r *CompleteRequest) { r.TotalAmount = ptr[int64](300) }, "/total_amount"},
		{"negative total", func(r *CompleteRequest) { r.TotalAmount = ptr[int64](-1) }, "/total_amount"},
		{"six discounts", func(r *CompleteRequest) {
			r.Discounts = []Discount{{DiscountName: "a", DiscountDesc: "x", DiscountAmount: 1}, {DiscountName: "b", DiscountDesc: "x", DiscountAmount: 1},
				{DiscountName: "c", DiscountDesc: "x", DiscountAmount: 1}, {DiscountName: "d", DiscountDesc: "x", DiscountAmount: 1},
				{DiscountName: "e", DiscountDesc: "x", DiscountAmount: 1}, {DiscountName: "f", DiscountDesc: "x", DiscountAmount: 1}}
			r.TotalAmount = nil
		}, "/discounts"},
		{"discount without amount", func(r *CompleteRequest) { r.Discounts[0].DiscountAmount = 0; r.TotalAmount = nil }, "/discounts/0/discount_amount"},
		{"discounts exceed fees, no total", func(r *CompleteRequest) { r.Discounts[0].DiscountAmount = 301; r.TotalAmount = nil }, "/total_amount"},
		{"long cancel reason on a finish", func(r *CompleteRequest) { r.CancelReason = strings.Repeat("因", 31) }, "/cancel_reason"},
		// The corrections of the design notes (sandbox/doc.go's table).
		{"total not 0 with finish_type 1", func(r *CompleteRequest) { r.FinishType, r.CancelReason = FinishTypeCancel, "缺货" }, "/total_amount"},
		{"end location 21", func(r *CompleteRequest) { r.RealServiceEndLocation = strings.Repeat("地", 21) }, "/real_service_end_location"},
		{"end location with finish_type 1", func(r *CompleteRequest) {
			r.FinishType, r.CancelReason, r.TotalAmount, r.RealServiceEndLocation = FinishTypeCancel, "缺货", nil, "门口"
		}, "/real_service_end_location"},
		{"fee name unique", func(r *CompleteRequest) {
			r.Fees = append(r.Fees, Fee{FeeName: "可乐", FeeAmount: 1})
			r.TotalAmount = nil
		}, "/fees/1/fee_name"},
		{"fee count 101", func(r *CompleteRequest) { r.Fees[0].FeeCount = 101 }, "/fees/0/fee_count"},
		{"discount desc required", func(r *CompleteRequest) { r.Discounts[0].DiscountDesc = "" }, "/discounts/0/discount_desc"},
		{"discount name unique", func(r *CompleteRequest) {
			r.Discounts = append(r.Discounts, Discount{DiscountName: "券", DiscountDesc: "x", DiscountAmount: 1})
			r.TotalAmount = nil
		}, "/discounts/1/discount_name"},
		{"appid too long", func(r *CompleteRequest) { r.AppID = strings.Repeat("w", 33) }, "/appid"},
		{"service_id too long", func(r *CompleteRequest) { r.ServiceID = strings.Repeat("5", 33) }, "/service_id"},
		{"finish_ticket too long", func(r *CompleteRequest) { r.FinishTicket = strings.Repeat("t", 1025) }, "/finish_ticket"},
		{"101 fees", func(r *CompleteRequest) { r.Fees, r.TotalAmount = manyFees(101), nil }, "/fees"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validComplete()
			tc.edit(&r)
			if fields := fieldsOf(t, r.Validate()); fields[0] != tc.field {
				t.Errorf("fields %v, want %s first", fields, tc.field)
			}
		})
	}
}

func TestQueryAndCancelValidation(t *testing.T) {
	q := []struct {
		r     QueryRequest
		field string
	}{
		{QueryRequest{AppID: "wx", ServiceID: "1"}, "/out_order_no"},
		{QueryRequest{AppID: "wx", ServiceID: "1", OutOrderNo: "a", QueryID: "b"}, "/query_id"},
		{QueryRequest{ServiceID: "1", QueryID: "b"}, "/appid"},
		{QueryRequest{AppID: "wx", QueryID: "b"}, "/service_id"},
		{QueryRequest{AppID: "wx", ServiceID: "1", OutOrderNo: "é"}, "/out_order_no"},
		{QueryRequest{AppID: "wx", ServiceID: "1", QueryID: strings.Repeat("q", 513)}, "/query_id"},
		{QueryRequest{AppID: strings.Repeat("w", 33), ServiceID: "1", QueryID: "b"}, "/appid"},
		{QueryRequest{AppID: "wx", ServiceID: strings.Repeat("5", 33), QueryID: "b"}, "/service_id"},
	}
	for _, tc := range q {
		err := tc.r.Validate()
		if fields := fieldsOf(t, err); fields[0] != tc.field {
			t.Errorf("query %+v: fields %v, want %s", tc.r, fields, tc.field)
		}
		if loc := err.(*Error).Detail.Location; loc != "query" {
			t.Errorf("query %+v: location %q, want query", tc.r, loc)
		}
	}
	c := []struct {
		r     CancelRequest
		field string
	}{
		{CancelRequest{AppID: "wx", ServiceID: "1", Reason: "r"}, "/out_order_no"},
		{CancelRequest{OutOrderNo: "a", ServiceID: "1", Reason: "r"}, "/appid"},
		{CancelRequest{OutOrderNo: "a", AppID: "wx", Reason: "r"}, "/service_id"},
		{CancelRequest{OutOrderNo: "a", AppID: "wx", ServiceID: "1"}, "/reason"},
		// 30, not the sandbox's cancel endpoint's 50: a cancel may be sent as
		// a complete with the reason as cancel_reason (MaxReasonLen).
		{CancelRequest{OutOrderNo: "a", AppID: "wx", ServiceID: "1", Reason: strings.Repeat("因", 31)}, "/reason"},
		{CancelRequest{OutOrderNo: "a", AppID: strings.Repeat("w", 33), ServiceID: "1", Reason: "r"}, "/appid"},
		{CancelRequest{OutOrderNo: "a", AppID: "wx", ServiceID: strings.Repeat("5", 33), Reason: "r"}, "/service_id"},
	}
	for _, tc := range c {
		if fields := fieldsOf(t, tc.r.Validate()); fields[0] != tc.field {
			t.Errorf("cancel %+v: fields %v, want %s", tc.r, fields, tc.field)
		}
	}
}

func manyFees(n int) []Fee {
	fees := make([]Fee, n)
	for i := range fees {
		fees[i] = Fee{FeeName: fmt.Sprintf("水%d", i), FeeCount: 1, FeeAmount: 1}
	}
	return fees
}

// A request can break a rule tens of thousands of times; the error lists
// the first MaxListedViolations and counts the rest in one more, so that it
// stays small enough to cross gRPC (a 2.4 MB error once dropped the
// connection and every sale on it).
func TestViolationsAreListedUpToABound(t *testing.T) {
	r := validCreate()
	r.Fees = make([]Fee, 60000) // each: no name, and (below) negative count and amount
	for i := range r.Fees {
		r.Fees[i] = Fee{FeeCount: -1, FeeAmount: -1}
	}
	err := r.Validate()
	fields := fieldsOf(t, err)
	if len(fields) != MaxListedViolations+1 {
		t.Fatalf("%d violations, want %d listed and one counting the rest", len(fields), MaxListedViolations)
	}
	// /fees (too many), then three per fee: fees 0 to 5 and fee 6's name
	// are listed; fee 6's count is the first left out.
	e := err.(*Error)
	last := e.Violations[MaxListedViolations]
	if fields[0] != "/fees" || fields[MaxListedViolations-1] != "/fees/6/fee_name" || last.Field != "/fees/6/fee_count" {
		t.Errorf("fields %v", fields)
	}
	if want := MoreViolationsIssue(1 + 3*60000 - MaxListedViolations); last.Issue != want {
		t.Errorf("last issue %q, want %q", last.Issue, want)
	}
	if n := len(err.Error()); n > 4<<10 {
		t.Errorf("the error is %d bytes", n)
	}
	if !strings.Contains(err.Error(), "and 179981 more violations") {
		t.Errorf("the error does not count the rest: %s", err)
	}
}

// A huge value is refused by its length and never echoed.
func TestHugeValuesAreNotEchoed(t *testing.T) {
	huge := strings.Repeat("2", 15<<20)
	edits := map[string]func(*CreateRequest){
		"service_id":       func(r *CreateRequest) { r.ServiceID = huge },
		"appid":            func(r *CreateRequest) { r.AppID = huge },
		"out_order_no":     func(r *CreateRequest) { r.OutOrderNo = huge },
		"service_end_time": func(r *CreateRequest) { r.ServiceEndTime = huge },
		"attach":           func(r *CreateRequest) { r.Attach = huge },
		"openid":           func(r *CreateRequest) { r.OpenID = huge },
	}
	for name, edit := range edits {
		r := validCreate()
		edit(&r)
		err := r.Validate()
		if fields := fieldsOf(t, err); fields[0] != "/"+name {
			t.Errorf("%s: fields %v", name, fields)
		}
		if n := len(err.Error()); n > 512 {
			t.Errorf("%s: the error is %d bytes: %.200s", name, n, err)
		}
	}
}

// The largest valid requests, every string at its bound in characters
// that JSON encodes longest, pass, and their bodies fit WeChat Pay's.
func TestLargestValidRequestsFitTheBody(t *testing.T) {
	long := func(n int) string { return strings.Repeat("<", n) } // "\u003c" in JSON
	// unique is a name of n characters, distinct for each i.
	unique := func(n, i int) string { return fmt.Sprintf("%s%03d", long(n-3), i) }
	fees := make([]Fee, MaxFees)
	for i := range fees {
		fees[i] = Fee{FeeName: unique(MaxFeeNameLen, i), FeeCount: MaxFeeCount, FeeAmount: 1, FeeDesc: long(MaxDescLen)}
	}
	var ds []Discount
	for i := 0; i < MaxDiscounts; i++ {
		ds = append(ds, Discount{DiscountName: unique(MaxDiscountNameLen, i), DiscountDesc: long(MaxDescLen)})
	}
	c := CreateRequest{AppID: strings.Repeat("w", MaxAppIDLen), OutOrderNo: strings.Repeat("a", MaxOutOrderNoLen),
		ServiceID: strings.Repeat("5", MaxServiceIDLen), ServiceStartTime: "20261126093000", ServiceEndTime: "20261126183000",
		ServiceStartLocation: long(MaxLocationLen), ServiceEndLocation: long(MaxLocationLen), ServiceIntroduction: long(MaxIntroductionLen),
		Fees: fees, Discounts: ds, RiskAmount: MaxAmount, Attach: long(MaxAttachLen), OpenID: long(MaxOpenIDLen)}
	if err := c.Validate(); err != nil {
		t.Fatalf("largest create refused: %.500v", err)
	}
	for i := range ds {
		ds[i].DiscountAmount = 1
	}
	f := CompleteRequest{OutOrderNo: c.OutOrderNo, AppID: c.AppID, ServiceID: c.ServiceID, FinishType: FinishTypeFinish,
		CancelReason: long(MaxReasonLen), RealServiceStartTime: "20261126093000", RealServiceEndTime: "20261126183000",
		RealServiceEndLocation: long(MaxRealEndLocationLen), Fees: fees, Discounts: ds, FinishTicket: long(MaxFinishTicketLen)}
	if err := f.ValidateToSend(); err != nil {
		t.Fatalf("largest complete refused: %.500v", err)
	}
	for _, r := range []any{c, f} {
		b, _ := json.Marshal(r)
		if len(b) > MaxBodyBytes/4 {
			t.Errorf("%T: a valid body is %d bytes, near the %d bound", r, len(b), MaxBodyBytes)
		}
	}
}

func TestBodyOverTheBoundIsRefused(t *testing.T) {
	var v violations
	v.body(struct{ S string }{strings.Repeat("a", MaxBodyBytes)})
	err := v.err("create")
	if fields := fieldsOf(t, err); fields[0] != "" || !strings.Contains(err.Error(), "more than the 1048576") {
		t.Errorf("fields %v: %v", fields, err)
	}
	v = violations{}
	v.body(struct{ S string }{strings.Repeat("a", MaxBodyBytes-100)})
	if err := v.err("create"); err != nil {
		t.Errorf("a body under the bound refused: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	got, err := ParseTime("20261126093000")
	if err != nil {
		t.Fatal(err)
	}
	if got.UTC().Format("2006-01-02T15:04:05Z") != "2026-11-26T01:30:00Z" {
		t.Errorf("20261126093000 CST = %v, want 01:30 UTC", got.UTC())
	}
	if FormatTime(got) != "20261126093000" {
		t.Errorf("FormatTime = %s", FormatTime(got))
	}
	for _, bad := range []string{"", "2026112", "202611260930", "2026-11-26", "2026112609300a", "20261301", "+0261126"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}
