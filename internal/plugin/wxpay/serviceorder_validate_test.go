package wxpay

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// One row per rule of serviceorder_validate.go's list, each naming the
// fact sheet's tag (shared/design/wechatpay-serviceorder.md).

func validServiceCreate() CreateServiceOrderRequest {
	return CreateServiceOrderRequest{
		OutOrderNo: "SO-2026|a_b", AppID: "wxd678efh567hg6787", ServiceID: "500001",
		ServiceIntroduction: "无人售货柜",
		PostDiscounts:       []ServiceOrderCoupon{{Name: "新客立减", Description: "首单减1元"}},
		TimeRange:           TimeRange{StartTime: StartTimeOnAccept, EndTime: "20261126183000", StartTimeRemark: "开门", EndTimeRemark: "关门"},
		Location:            &Location{StartLocation: "A栋1楼", EndLocation: "A栋1楼"},
		RiskFund:            RiskFund{Name: RiskFundEstimateOrderCost, Amount: 20000, Description: "柜内商品"},
		Attach:              "kiosk%3DK-17",
		NotifyURL:           "https://merchant.example.com/payscore/notify",
		NeedUserConfirm:     ptr(true),
		Device:              &Device{StartDeviceID: "K-17"},
	}
}

func products() []Payment {
	return []Payment{
		{Name: SmartRetailPaymentName, Description: "可乐", Count: 2, Amount: 600},
		{Name: SmartRetailPaymentName, Description: "雪碧", Count: 1, Amount: 300},
	}
}

func validServiceComplete() CompleteServiceOrderRequest {
	return CompleteServiceOrderRequest{
		OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "500001", PostPayments: products(),
		PostDiscounts: []ServiceOrderCoupon{{Name: "满减", Description: "满9减1", Amount: 100, Count: 1}},
		TotalAmount:   800,
		TimeRange:     &TimeRange{EndTime: "20261126183000"},
		Location:      &Location{EndLocation: "A栋1楼"},
		GoodsTag:      "tag",
	}
}

func validServiceModify() ModifyServiceOrderRequest {
	return ModifyServiceOrderRequest{
		OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "500001",
		PostPayments: []Payment{{Name: SmartRetailPaymentName, Description: "可乐", Count: 1, Amount: 300}},
		TotalAmount:  300, Reason: "少取一瓶",
	}
}

// checkRefusal asserts err is a local refusal naming field first and
// saying issue.
func checkRefusal(t *testing.T, err error, field, issue string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s refused (%s)", field, issue)
	}
	fields := fieldsOf(t, err)
	if fields[0] != field {
		t.Errorf("fields %v, want %s first", fields, field)
	}
	if !strings.Contains(err.Error(), issue) {
		t.Errorf("error %q does not say %q", err, issue)
	}
}

func TestServiceOrderCreateRules(t *testing.T) {
	if err := ptr(validServiceCreate()).Validate(); err != nil {
		t.Fatalf("valid create refused: %v", err)
	}
	cases := []struct {
		tag, name string
		edit      func(*CreateServiceOrderRequest)
		field     string
		issue     string
	}{
		{"V-off O-create §1.1", "appid required", func(r *CreateServiceOrderRequest) { r.AppID = "" }, "/appid", "required"},
		{"V-off O-create §1.1", "appid at most 32", func(r *CreateServiceOrderRequest) { r.AppID = strings.Repeat("w", 33) }, "/appid", "at most 32"},
		{"V-off O-create §1.1", "service_id required", func(r *CreateServiceOrderRequest) { r.ServiceID = "" }, "/service_id", "required"},
		{"V-off O-create §1.1", "service_id at most 32", func(r *CreateServiceOrderRequest) { r.ServiceID = strings.Repeat("5", 33) }, "/service_id", "at most 32"},
		{"V-off O-create §1.1", "out_order_no required", func(r *CreateServiceOrderRequest) { r.OutOrderNo = "" }, "/out_order_no", "required"},
		{"V-off O-create §1.1", "out_order_no at most 32", func(r *CreateServiceOrderRequest) { r.OutOrderNo = strings.Repeat("a", 33) }, "/out_order_no", "at most 32"},
		{"V-off O-create §1.1", "out_order_no charset", func(r *CreateServiceOrderRequest) { r.OutOrderNo = "a/b" }, "/out_order_no", "may hold only"},
		{"V-off O-create, W-14 §1.1", "out_order_no no * at create", func(r *CreateServiceOrderRequest) { r.OutOrderNo = "a*b" }, "/out_order_no", "merchant page"},
		{"V-off O-create §1.1", "service_introduction required", func(r *CreateServiceOrderRequest) { r.ServiceIntroduction = "" }, "/service_introduction", "required"},
		{"V-off O-create §1.1", "service_introduction at most 20", func(r *CreateServiceOrderRequest) { r.ServiceIntroduction = strings.Repeat("柜", 21) }, "/service_introduction", "at most 20"},
		{"V-off O-retail §2.1", "no post_payments at create", func(r *CreateServiceOrderRequest) { r.PostPayments = products() }, "/post_payments", "left out at create"},
		{"V-off O-create §1.1", "post_discounts at most 30", func(r *CreateServiceOrderRequest) { r.PostDiscounts = coupons(31) }, "/post_discounts", "at most 30"},
		{"V-sdk EV §2.2", "discount name required", func(r *CreateServiceOrderRequest) { r.PostDiscounts[0].Name = "" }, "/post_discounts/0/name", "required"},
		{"V-off O-p §2.2", "discount name at most 20", func(r *CreateServiceOrderRequest) { r.PostDiscounts[0].Name = strings.Repeat("减", 21) }, "/post_discounts/0/name", "at most 20"},
		{"V-off O-p §2.2", "discount name unique", func(r *CreateServiceOrderRequest) {
			r.PostDiscounts = append(r.PostDiscounts, ServiceOrderCoupon{Name: "新客立减", Description: "x"})
		}, "/post_discounts/1/name", "unique"},
		{"V-sdk EV §2.2", "discount description with its name", func(r *CreateServiceOrderRequest) { r.PostDiscounts[0].Description = "" }, "/post_discounts/0/description", "required"},
		{"V-off O-p §2.2", "discount description at most 30", func(r *CreateServiceOrderRequest) { r.PostDiscounts[0].Description = strings.Repeat("d", 31) }, "/post_discounts/0/description", "at most 30"},
		{"I §2.2", "discount amount not negative", func(r *CreateServiceOrderRequest) { r.PostDiscounts[0].Amount = -1 }, "/post_discounts/0/amount", "non-negative"},
		{"I §2.2", "discount count not negative", func(r *CreateServiceOrderRequest) { r.PostDiscounts[0].Count = -1 }, "/post_discounts/0/count", "negative"},
		{"V-sdk Y §2.4", "start_time required", func(r *CreateServiceOrderRequest) { r.TimeRange.StartTime = "" }, "/time_range/start_time", "required"},
		{"V-sdk EV, Y §2.4", "start_time format", func(r *CreateServiceOrderRequest) { r.TimeRange.StartTime = "2026-11-26 10:00" }, "/time_range/start_time", `or "OnAccept"`},
		{"V-sdk EV, Y §2.4", "start_time a real date", func(r *CreateServiceOrderRequest) { r.TimeRange.StartTime = "20260230" }, "/time_range/start_time", "not a real date"},
		{"V-sdk EV §2.4", "end_time not OnAccept", func(r *CreateServiceOrderRequest) { r.TimeRange.EndTime = StartTimeOnAccept }, "/time_range/end_time", "yyyyMMdd"},
		{"V-sdk EV §2.4", "end_time format", func(r *CreateServiceOrderRequest) { r.TimeRange.EndTime = "202611261830" }, "/time_range/end_time", "yyyyMMdd"},
		{"V-sdk EV §2.4", "start_time_remark at most 20", func(r *CreateServiceOrderRequest) { r.TimeRange.StartTimeRemark = strings.Repeat("r", 21) }, "/time_range/start_time_remark", "at most 20"},
		{"V-sdk EV §2.4 (Y: 50)", "end_time_remark at most 20", func(r *CreateServiceOrderRequest) { r.TimeRange.EndTimeRemark = strings.Repeat("r", 21) }, "/time_range/end_time_remark", "at most 20"},
		{"V-sdk EV §2.4", "end_time after start_time (seconds)", func(r *CreateServiceOrderRequest) {
			r.TimeRange.StartTime, r.TimeRange.EndTime = "20261126183000", "20261126183000"
		}, "/time_range/end_time", "after start_time"},
		{"V-sdk EV §2.4", "end_time on or after start_time's day (days)", func(r *CreateServiceOrderRequest) {
			r.TimeRange.StartTime, r.TimeRange.EndTime = "20261126183000", "20261125"
		}, "/time_range/end_time", "start_time's day"},
		{"V-sdk EV, Y §2.5", "start_location at most 50", func(r *CreateServiceOrderRequest) { r.Location.StartLocation = strings.Repeat("l", 51) }, "/location/start_location", "at most 50"},
		{"V-sdk EV, Y §2.5", "end_location at most 50", func(r *CreateServiceOrderRequest) { r.Location.EndLocation = strings.Repeat("l", 51) }, "/location/end_location", "at most 50"},
		{"V-sdk EV §2.5", "end_location only with a start_location", func(r *CreateServiceOrderRequest) { r.Location.StartLocation = "" }, "/location/end_location", "only with a start_location"},
		{"V-sdk EV, Y, GP; V-org SK §2.3", "risk_fund name required", func(r *CreateServiceOrderRequest) { r.RiskFund.Name = "" }, "/risk_fund/name", "required"},
		{"V-sdk EV, Y, GP; V-org SK §2.3", "risk_fund name from the enum", func(r *CreateServiceOrderRequest) { r.RiskFund.Name = "UDEPOSIT" }, "/risk_fund/name", "DEPOSIT, ADVANCE"},
		{"V-sdk EV §2.3", "risk_fund amount above 0", func(r *CreateServiceOrderRequest) { r.RiskFund.Amount = 0 }, "/risk_fund/amount", "above 0"},
		{"V-sdk EV §2.3", "risk_fund amount not negative", func(r *CreateServiceOrderRequest) { r.RiskFund.Amount = -5 }, "/risk_fund/amount", "above 0"},
		{"I (overflow guard)", "risk_fund amount bounded", func(r *CreateServiceOrderRequest) { r.RiskFund.Amount = MaxAmount + 1 }, "/risk_fund/amount", "at most"},
		{"V-sdk EV, Y §2.3", "risk_fund description at most 30", func(r *CreateServiceOrderRequest) { r.RiskFund.Description = strings.Repeat("d", 31) }, "/risk_fund/description", "at most 30"},
		{"V-off O-create §1.1", "attach at most 256", func(r *CreateServiceOrderRequest) { r.Attach = strings.Repeat("a", 257) }, "/attach", "at most 256"},
		{"V-off O-create §1.1", "notify_url required", func(r *CreateServiceOrderRequest) { r.NotifyURL = "" }, "/notify_url", "required"},
		{"V-off O-create §1.1", "notify_url at most 255", func(r *CreateServiceOrderRequest) {
			r.NotifyURL = "https://m.example.com/" + strings.Repeat("n", 256-len("https://m.example.com/"))
		}, "/notify_url", "at most 255"},
		{"V-off W-21 §1.1", "notify_url https", func(r *CreateServiceOrderRequest) { r.NotifyURL = "http://merchant.example.com/notify" }, "/notify_url", "must be https"},
		{"V-off W-21 §1.1", "notify_url a URL with a host", func(r *CreateServiceOrderRequest) { r.NotifyURL = "/payscore/notify" }, "/notify_url", "with a host"},
		{"V-off W-21 §1.1", "notify_url no query", func(r *CreateServiceOrderRequest) { r.NotifyURL = "https://merchant.example.com/notify?k=1" }, "/notify_url", "no query"},
		{"V-off W-21 §1.1", "notify_url no empty query", func(r *CreateServiceOrderRequest) { r.NotifyURL = "https://merchant.example.com/notify?" }, "/notify_url", "no query"},
		{"I §1.1", "notify_url no fragment", func(r *CreateServiceOrderRequest) { r.NotifyURL = "https://merchant.example.com/notify#x" }, "/notify_url", "no fragment"},
		{"V-sdk EV, GP; V-org SK §1.1", "need_user_confirm always given", func(r *CreateServiceOrderRequest) { r.NeedUserConfirm = nil }, "/need_user_confirm", "required"},
		{"V-sdk EV §1.1", "openid required without confirmation", func(r *CreateServiceOrderRequest) { r.NeedUserConfirm = ptr(false) }, "/openid", "required when need_user_confirm is false"},
		{"V-sdk EV §1.1", "openid refused with confirmation", func(r *CreateServiceOrderRequest) { r.OpenID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" }, "/openid", "left out when need_user_confirm is true"},
		{"§1.1", "openid at most 128", func(r *CreateServiceOrderRequest) {
			r.NeedUserConfirm, r.OpenID = ptr(false), strings.Repeat("o", 129)
		}, "/openid", "at most 128"},
		{"shared with the sandbox", "body at most MaxBodyBytes", func(r *CreateServiceOrderRequest) {
			r.Device = &Device{MaterielNo: strings.Repeat("m", MaxBodyBytes)}
		}, "", "bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.tag+" "+tc.name, func(t *testing.T) {
			r := validServiceCreate()
			tc.edit(&r)
			checkRefusal(t, r.Validate(), tc.field, tc.issue)
		})
	}
}

func coupons(n int) []ServiceOrderCoupon {
	out := make([]ServiceOrderCoupon, n)
	for i := range out {
		out[i] = ServiceOrderCoupon{Name: fmt.Sprint("券", i), Description: "d", Amount: 1}
	}
	return out
}

func manyProducts(n int) []Payment {
	out := make([]Payment, n)
	for i := range out {
		out[i] = Payment{Name: SmartRetailPaymentName, Description: fmt.Sprint("水", i), Count: 1, Amount: 1}
	}
	return out
}

// The smart-retail profile and the amounts hold at complete and at modify
// alike: each row runs on both.
func TestServiceOrderPaymentRules(t *testing.T) {
	cases := []struct {
		tag, name string
		edit      func(ps *[]Payment, ds *[]ServiceOrderCoupon, total *int64)
		field     string
		issue     string
	}{
		{"V-off O-retail §2.1", "at least one product", func(ps *[]Payment, ds *[]ServiceOrderCoupon, total *int64) {
			*ps, *ds, *total = nil, nil, 0
		}, "/post_payments", "at least one"},
		{"V-off O-complete, O-retail §1.5", "at most 100 items", func(ps *[]Payment, ds *[]ServiceOrderCoupon, total *int64) {
			*ps, *ds, *total = manyProducts(101), nil, 101
		}, "/post_payments", "at most 100"},
		{"V-off O-retail §2.1", "name exactly 商品信息", func(ps *[]Payment, _ *[]ServiceOrderCoupon, _ *int64) { (*ps)[1].Name = "饮料" }, "/post_payments/1/name", "exactly 商品信息"},
		{"V-off O-retail §2.1", "name not left out", func(ps *[]Payment, _ *[]ServiceOrderCoupon, _ *int64) { (*ps)[0].Name = "" }, "/post_payments/0/name", "exactly 商品信息"},
		{"V-off O-retail §2.1", "description (the product) required", func(ps *[]Payment, _ *[]ServiceOrderCoupon, _ *int64) { (*ps)[0].Description = "" }, "/post_payments/0/description", "required"},
		{"V-off O-retail, O-create §2.1", "description at most 30", func(ps *[]Payment, _ *[]ServiceOrderCoupon, _ *int64) {
			(*ps)[0].Description = strings.Repeat("品", 31)
		}, "/post_payments/0/description", "at most 30"},
		{"V-off O-retail §2.1", "count (the quantity) required", func(ps *[]Payment, _ *[]ServiceOrderCoupon, _ *int64) { (*ps)[0].Count = 0 }, "/post_payments/0/count", "1 to 100"},
		{"V-off O-create §2.1", "count at most 100", func(ps *[]Payment, _ *[]ServiceOrderCoupon, _ *int64) { (*ps)[0].Count = 101 }, "/post_payments/0/count", "1 to 100"},
		{"V-off O-create §2.1", "amount not negative", func(ps *[]Payment, _ *[]ServiceOrderCoupon, _ *int64) { (*ps)[0].Amount = -1 }, "/post_payments/0/amount", "non-negative"},
		{"V-off O-create §1.1", "post_discounts at most 30", func(ps *[]Payment, ds *[]ServiceOrderCoupon, total *int64) {
			*ps = []Payment{{Name: SmartRetailPaymentName, Description: "水", Count: 1, Amount: 100}}
			*ds, *total = coupons(31), 69
		}, "/post_discounts", "at most 30"},
		{"V-off O-p §2.2", "discount name unique", func(_ *[]Payment, ds *[]ServiceOrderCoupon, total *int64) {
			*ds = []ServiceOrderCoupon{{Name: "券", Description: "a", Amount: 1}, {Name: "券", Description: "b", Amount: 1}}
			*total = 898
		}, "/post_discounts/1/name", "unique"},
		{"V-sdk EV §2.2", "discount description required", func(_ *[]Payment, ds *[]ServiceOrderCoupon, _ *int64) { (*ds)[0].Description = "" }, "/post_discounts/0/description", "required"},
		{"V-off O-complete §4", "total is payments less discounts", func(_ *[]Payment, _ *[]ServiceOrderCoupon, total *int64) { *total = 900 }, "/total_amount", "must equal the payments less the discounts, 800, got 900"},
		{"V-off O-complete §4", "total given even when 0 is not the sum", func(_ *[]Payment, _ *[]ServiceOrderCoupon, total *int64) { *total = 0 }, "/total_amount", "800, got 0"},
		{"V-off O-complete §4", "discounts not above payments", func(_ *[]Payment, ds *[]ServiceOrderCoupon, total *int64) {
			(*ds)[0].Amount, *total = 1000, 0
		}, "/total_amount", "discounts exceed the payments"},
		{"V-off O-complete §4", "total not negative", func(_ *[]Payment, _ *[]ServiceOrderCoupon, total *int64) { *total = -1 }, "/total_amount", "non-negative"},
	}
	for _, tc := range cases {
		t.Run("complete "+tc.tag+" "+tc.name, func(t *testing.T) {
			r := validServiceComplete()
			tc.edit(&r.PostPayments, &r.PostDiscounts, &r.TotalAmount)
			checkRefusal(t, r.Validate(), tc.field, tc.issue)
		})
		t.Run("modify "+tc.tag+" "+tc.name, func(t *testing.T) {
			r := validServiceModify()
			c := validServiceComplete() // the same lines as the complete's rows
			r.PostPayments, r.PostDiscounts, r.TotalAmount = c.PostPayments, c.PostDiscounts, c.TotalAmount
			if err := r.Validate(); err != nil {
				t.Fatalf("valid modify refused: %v", err)
			}
			tc.edit(&r.PostPayments, &r.PostDiscounts, &r.TotalAmount)
			checkRefusal(t, r.Validate(), tc.field, tc.issue)
		})
	}
}

func TestServiceOrderCompleteRules(t *testing.T) {
	if err := ptr(validServiceComplete()).Validate(); err != nil {
		t.Fatalf("valid complete refused: %v", err)
	}
	cases := []struct {
		tag, name string
		edit      func(*CompleteServiceOrderRequest)
		field     string
		issue     string
	}{
		{"V-off O-complete §1.5", "appid required", func(r *CompleteServiceOrderRequest) { r.AppID = "" }, "/appid", "required"},
		{"V-off O-complete §1.5", "service_id required", func(r *CompleteServiceOrderRequest) { r.ServiceID = "" }, "/service_id", "required"},
		{"V-off O-create §1.1", "out_order_no required", func(r *CompleteServiceOrderRequest) { r.OutOrderNo = "" }, "/out_order_no", "required"},
		{"V-off O-create §1.1", "out_order_no charset", func(r *CompleteServiceOrderRequest) { r.OutOrderNo = "a b" }, "/out_order_no", "may hold only"},
		{"V-sdk EV §1.5, §2.4", "end_time format", func(r *CompleteServiceOrderRequest) { r.TimeRange.EndTime = "2026-11-26" }, "/time_range/end_time", "yyyyMMdd"},
		{"V-sdk EV §1.5", "end_time not OnAccept", func(r *CompleteServiceOrderRequest) { r.TimeRange.EndTime = StartTimeOnAccept }, "/time_range/end_time", "yyyyMMdd"},
		{"I §1.5", "start_time is the real time, not OnAccept", func(r *CompleteServiceOrderRequest) { r.TimeRange.StartTime = StartTimeOnAccept }, "/time_range/start_time", "yyyyMMdd"},
		{"V-sdk EV §1.5", "end_time after start_time", func(r *CompleteServiceOrderRequest) { r.TimeRange.StartTime = "20261126190000" }, "/time_range/end_time", "after start_time"},
		{"V-sdk EV §2.4", "end_time_remark at most 20", func(r *CompleteServiceOrderRequest) { r.TimeRange.EndTimeRemark = strings.Repeat("r", 21) }, "/time_range/end_time_remark", "at most 20"},
		{"V-sdk Y §1.5", "only end_location", func(r *CompleteServiceOrderRequest) { r.Location.StartLocation = "A栋1楼" }, "/location/start_location", "only end_location"},
		{"V-sdk EV §2.5", "end_location at most 50", func(r *CompleteServiceOrderRequest) { r.Location.EndLocation = strings.Repeat("l", 51) }, "/location/end_location", "at most 50"},
		{"V-sdk EV, Y §1.5", "goods_tag at most 32", func(r *CompleteServiceOrderRequest) { r.GoodsTag = strings.Repeat("g", 33) }, "/goods_tag", "at most 32"},
	}
	for _, tc := range cases {
		t.Run(tc.tag+" "+tc.name, func(t *testing.T) {
			r := validServiceComplete()
			tc.edit(&r)
			checkRefusal(t, r.Validate(), tc.field, tc.issue)
		})
	}
}

func TestServiceOrderModifyCancelPaySyncRules(t *testing.T) {
	for name, err := range map[string]error{
		"modify": ptr(validServiceModify()).Validate(),
		"cancel": (&CancelServiceOrderRequest{OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "5", Reason: strings.Repeat("因", 50)}).Validate(),
		"pay":    (&PayServiceOrderRequest{OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "5"}).Validate(),
		"sync":   (&SyncServiceOrderRequest{OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "5", Detail: SyncDetail{PaidTime: "20261126"}}).Validate(),
	} {
		if err != nil {
			t.Errorf("valid %s refused: %v", name, err)
		}
	}
	modify := func(edit func(*ModifyServiceOrderRequest)) error {
		r := validServiceModify()
		edit(&r)
		return r.Validate()
	}
	cancel := func(edit func(*CancelServiceOrderRequest)) error {
		r := CancelServiceOrderRequest{OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "5", Reason: "未取货"}
		edit(&r)
		return r.Validate()
	}
	pay := func(edit func(*PayServiceOrderRequest)) error {
		r := PayServiceOrderRequest{OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "5"}
		edit(&r)
		return r.Validate()
	}
	sync := func(edit func(*SyncServiceOrderRequest)) error {
		r := SyncServiceOrderRequest{OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "5", Type: SyncTypeOrderPaid, Detail: SyncDetail{PaidTime: "20261126183000"}}
		edit(&r)
		return r.Validate()
	}
	cases := []struct {
		tag, name string
		err       error
		field     string
		issue     string
	}{
		{"V-off O-modify; V-sdk Y §1.4", "modify reason required", modify(func(r *ModifyServiceOrderRequest) { r.Reason = "" }), "/reason", "required"},
		{"V-off O-modify; V-sdk Y §1.4", "modify reason at most 50", modify(func(r *ModifyServiceOrderRequest) { r.Reason = strings.Repeat("因", 51) }), "/reason", "at most 50"},
		{"V-off O-modify §1.4", "modify total required (the sum)", modify(func(r *ModifyServiceOrderRequest) { r.TotalAmount = 0 }), "/total_amount", "300, got 0"},
		{"V-off O-modify §1.4", "modify appid required", modify(func(r *ModifyServiceOrderRequest) { r.AppID = "" }), "/appid", "required"},
		{"V-off O-modify §1.4", "modify out_order_no required", modify(func(r *ModifyServiceOrderRequest) { r.OutOrderNo = "" }), "/out_order_no", "required"},
		{"V-off O-cancel §1.3", "cancel reason required", cancel(func(r *CancelServiceOrderRequest) { r.Reason = "" }), "/reason", "required"},
		{"V-off O-cancel §1.3", "cancel reason at most 50", cancel(func(r *CancelServiceOrderRequest) { r.Reason = strings.Repeat("因", 51) }), "/reason", "at most 50"},
		{"V-off O-cancel; V-sdk Y §1.3", "cancel service_id required", cancel(func(r *CancelServiceOrderRequest) { r.ServiceID = "" }), "/service_id", "required"},
		{"V-off O-cancel §1.3", "cancel appid required", cancel(func(r *CancelServiceOrderRequest) { r.AppID = "" }), "/appid", "required"},
		{"V-off O-create §1.1", "cancel out_order_no at most 32", cancel(func(r *CancelServiceOrderRequest) { r.OutOrderNo = strings.Repeat("a", 33) }), "/out_order_no", "at most 32"},
		{"V-off O-pay §1.6", "pay appid required", pay(func(r *PayServiceOrderRequest) { r.AppID = "" }), "/appid", "required"},
		{"V-off O-pay §1.6", "pay service_id required", pay(func(r *PayServiceOrderRequest) { r.ServiceID = "" }), "/service_id", "required"},
		{"V-off O-create §1.1", "pay out_order_no required", pay(func(r *PayServiceOrderRequest) { r.OutOrderNo = "" }), "/out_order_no", "required"},
		{"V-off W-20; V-sdk Y §1.7", "sync type Order_Paid", sync(func(r *SyncServiceOrderRequest) { r.Type = "ORDER_PAID" }), "/type", `"Order_Paid"`},
		{"V-off W-20 §1.7", "sync paid_time required", sync(func(r *SyncServiceOrderRequest) { r.Detail.PaidTime = "" }), "/detail/paid_time", "required"},
		{"V-off W-20 §1.7", "sync paid_time format", sync(func(r *SyncServiceOrderRequest) { r.Detail.PaidTime = "2026-11-26T18:30:00+08:00" }), "/detail/paid_time", "yyyyMMdd"},
		{"V-off W-20 §1.7", "sync paid_time a real time", sync(func(r *SyncServiceOrderRequest) { r.Detail.PaidTime = "20261126250000" }), "/detail/paid_time", "not a real date"},
		{"V-off W-20 §1.7", "sync appid required", sync(func(r *SyncServiceOrderRequest) { r.AppID = "" }), "/appid", "required"},
	}
	for _, tc := range cases {
		t.Run(tc.tag+" "+tc.name, func(t *testing.T) {
			checkRefusal(t, tc.err, tc.field, tc.issue)
		})
	}
}

// Each bound is a bound: the value at it passes.
func TestServiceOrderBoundsAreInclusive(t *testing.T) {
	create := func(edit func(*CreateServiceOrderRequest)) error {
		r := validServiceCreate()
		edit(&r)
		return r.Validate()
	}
	complete := func(edit func(*CompleteServiceOrderRequest)) error {
		r := validServiceComplete()
		edit(&r)
		return r.Validate()
	}
	for name, err := range map[string]error{
		"introduction 20": create(func(r *CreateServiceOrderRequest) { r.ServiceIntroduction = strings.Repeat("柜", 20) }),
		"30 discounts":    create(func(r *CreateServiceOrderRequest) { r.PostDiscounts = coupons(30) }),
		"notify_url 255": create(func(r *CreateServiceOrderRequest) {
			r.NotifyURL = "https://m.example.com/" + strings.Repeat("n", 255-len("https://m.example.com/"))
		}),
		"empty post_payments": create(func(r *CreateServiceOrderRequest) { r.PostPayments = []Payment{} }),
		"OnAccept, no end":    create(func(r *CreateServiceOrderRequest) { r.TimeRange = TimeRange{StartTime: StartTimeOnAccept} }),
		"same day, days": create(func(r *CreateServiceOrderRequest) {
			r.TimeRange = TimeRange{StartTime: "20261126120000", EndTime: "20261126"}
		}),
		"every risk fund name": create(func(r *CreateServiceOrderRequest) { r.RiskFund.Name = RiskFundCashDeposit }),
		"no confirmation":      create(func(r *CreateServiceOrderRequest) { r.NeedUserConfirm, r.OpenID = ptr(false), strings.Repeat("o", 128) }),
		"discount amount at create (sources conflict: sent)": create(func(r *CreateServiceOrderRequest) { r.PostDiscounts[0].Amount = 100 }),
		"100 products": complete(func(r *CompleteServiceOrderRequest) {
			r.PostPayments, r.PostDiscounts, r.TotalAmount = manyProducts(100), nil, 100
		}),
		"count 100, description 30": complete(func(r *CompleteServiceOrderRequest) {
			r.PostPayments[0].Count, r.PostPayments[0].Description = 100, strings.Repeat("品", 30)
		}),
		"free product": complete(func(r *CompleteServiceOrderRequest) {
			r.PostPayments[0].Amount, r.PostDiscounts, r.TotalAmount = 0, nil, 300
		}),
		"no time range":                   complete(func(r *CompleteServiceOrderRequest) { r.TimeRange = nil }),
		"goods_tag 32":                    complete(func(r *CompleteServiceOrderRequest) { r.GoodsTag = strings.Repeat("g", 32) }),
		"* in an existing order's number": complete(func(r *CompleteServiceOrderRequest) { r.OutOrderNo = "a*b" }),
	} {
		if err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
	for _, name := range []string{RiskFundDeposit, RiskFundAdvance, RiskFundCashDeposit, RiskFundEstimateOrderCost} {
		if err := create(func(r *CreateServiceOrderRequest) { r.RiskFund.Name = name }); err != nil {
			t.Errorf("risk fund %s refused: %v", name, err)
		}
	}
}

// What is always on the wire: need_user_confirm (false too), total_amount
// and profit_sharing (0 and false too), the sync's type; and what never
// is: out_order_no outside create, empty post_payments at create.
func TestServiceOrderBodiesOnTheWire(t *testing.T) {
	asMap := func(v any) map[string]any {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	cr := validServiceCreate()
	cr.NeedUserConfirm, cr.OpenID, cr.PostPayments = ptr(false), "o1", []Payment{}
	m := asMap(cr)
	if v, ok := m["need_user_confirm"]; !ok || v != false {
		t.Errorf("need_user_confirm %v (present %v)", v, ok)
	}
	if _, ok := m["post_payments"]; ok {
		t.Errorf("empty post_payments sent at create: %v", m)
	}
	if m["out_order_no"] != cr.OutOrderNo || m["notify_url"] != cr.NotifyURL {
		t.Errorf("create body %v", m)
	}

	co := validServiceComplete()
	co.PostPayments = []Payment{{Name: SmartRetailPaymentName, Description: "赠品", Count: 1, Amount: 0}}
	co.PostDiscounts, co.TotalAmount = nil, 0
	if err := co.Validate(); err != nil {
		t.Fatal(err)
	}
	m = asMap(co)
	if m["total_amount"] != float64(0) || m["profit_sharing"] != false {
		t.Errorf("total_amount %v profit_sharing %v in %v", m["total_amount"], m["profit_sharing"], m)
	}
	if p := m["post_payments"].([]any)[0].(map[string]any); p["amount"] != float64(0) || p["count"] != float64(1) {
		t.Errorf("a free line's amount or count left out: %v", p)
	}
	if _, ok := m["out_order_no"]; ok {
		t.Errorf("out_order_no is in the path, not the body: %v", m)
	}

	sy := SyncServiceOrderRequest{OutOrderNo: "SO-1", AppID: "wx1", ServiceID: "5", Detail: SyncDetail{PaidTime: "20261126"}}
	for _, v := range []any{sy, &sy} {
		m = asMap(v)
		if m["type"] != SyncTypeOrderPaid || m["detail"].(map[string]any)["paid_time"] != "20261126" {
			t.Errorf("sync body %v", m)
		}
	}
	b, _ := json.Marshal(sy)
	var back SyncServiceOrderRequest
	// What the outbox keeps reads back as what was sent (the path's number aside).
	if err := json.Unmarshal(b, &back); err != nil || back.Type != SyncTypeOrderPaid || back.Detail != sy.Detail || back.AppID != sy.AppID {
		t.Errorf("read back: %+v, %v", back, err)
	}
}
