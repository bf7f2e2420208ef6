package plugin

import (
	"errors"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The contract's create, as a host sends it on either API, becomes a
// service-order create that passes every rule of the fact sheet.
func TestANewOrderBecomesAServiceOrderCreate(t *testing.T) {
	confirm := false
	o := &v1.NewOrder{OutOrderNo: "SO-1", Appid: "wx0e6ce4592bd4c71c", ServiceId: "500085091232451495864960917625",
		ServiceStartTime: "OnAccept", ServiceStartLocation: "柜机 K-17", ServiceIntroduction: "无人零售柜",
		RiskAmount: 20000, NeedUserConfirm: &confirm, Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		Discounts: []*v1.Discount{{DiscountName: "新客立减", DiscountDesc: "首单减1元"}}}
	r, err := serviceOrderCreate(o, wxpay.RiskFundEstimateOrderCost, "https://merchant.example/payscore/notify")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("the mapped create breaks a rule: %v", err)
	}
	if r.RiskFund != (wxpay.RiskFund{Name: "ESTIMATE_ORDER_COST", Amount: 20000, Description: "预估订单费用"}) ||
		r.TimeRange.StartTime != "OnAccept" || r.Location.StartLocation != "柜机 K-17" || *r.NeedUserConfirm ||
		len(r.PostPayments) != 0 || r.PostDiscounts[0].Amount != 0 {
		t.Errorf("mapped: %+v", r)
	}
	// Unsaid, the customer confirms, as on smart retail.
	o.NeedUserConfirm, o.Openid = nil, ""
	if r, _ := serviceOrderCreate(o, wxpay.RiskFundDeposit, "https://merchant.example/n"); !*r.NeedUserConfirm {
		t.Error("need_user_confirm left out is not true")
	}
}

// What the service-order API has no place for is refused by name, never
// dropped: products at create, a discount's amount at create, fee_desc.
func TestWhatDoesNotFitAServiceOrderIsRefusedByName(t *testing.T) {
	_, err := serviceOrderCreate(&v1.NewOrder{OutOrderNo: "SO-2", Fees: []*v1.Fee{{FeeName: "水", FeeAmount: 1}},
		Discounts: []*v1.Discount{{DiscountName: "d", DiscountAmount: 5}}}, wxpay.RiskFundDeposit, "https://m.example/n")
	wantFields(t, err, "order.fees", "order.discounts[0].discount_amount")
	total := int64(100)
	_, err = serviceOrderComplete(&v1.CompleteOrderRequest{OutOrderNo: "SO-2", FinishType: 1, TotalAmount: &total,
		Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 100, FeeDesc: "550ml"}}})
	wantFields(t, err, "finish_type", "fees[0].fee_desc")
}

func wantFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	var se *shared.Error
	if !errors.As(err, &se) || se.Class != shared.ClassInvalid || len(se.Violations) != len(fields) {
		t.Fatalf("want INVALID on %v, got %v", fields, err)
	}
	for i, f := range fields {
		if se.Violations[i].Field != f {
			t.Errorf("violation %d on %s, want %s", i, se.Violations[i].Field, f)
		}
	}
}

// A complete's fees become one 商品信息 item per product, the product the
// item's description, and the order comes back in the contract's words.
func TestACompleteBecomesProductLinesAndBack(t *testing.T) {
	r, err := serviceOrderComplete(&v1.CompleteOrderRequest{OutOrderNo: "SO-3", FinishType: 2,
		Appid: "wx0e6ce4592bd4c71c", ServiceId: "500085091232451495864960917625",
		Fees:                   []*v1.Fee{{FeeName: "可乐", FeeCount: 2, FeeAmount: 600}, {FeeName: "雪碧", FeeAmount: 300}},
		Discounts:              []*v1.Discount{{DiscountName: "立减", DiscountDesc: "减1元", DiscountAmount: 100}},
		RealServiceEndTime:     "20261129100500",
		RealServiceEndLocation: "柜机 K-17"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("the mapped complete breaks a rule: %v", err)
	}
	want := []wxpay.Payment{{Name: "商品信息", Description: "可乐", Count: 2, Amount: 600}, {Name: "商品信息", Description: "雪碧", Count: 1, Amount: 300}}
	if len(r.PostPayments) != 2 || r.PostPayments[0] != want[0] || r.PostPayments[1] != want[1] || r.TotalAmount != 800 ||
		r.TimeRange.EndTime != "20261129100500" || r.Location.EndLocation != "柜机 K-17" {
		t.Errorf("mapped: %+v", r)
	}
	o := orderFromServiceOrder(&wxpay.ServiceOrder{OutOrderNo: "SO-3", State: wxpay.ServiceOrderDoing, StateDescription: wxpay.DescriptionMchComplete,
		PostPayments: r.PostPayments, PostDiscounts: r.PostDiscounts, TotalAmount: 800, RiskFund: &wxpay.RiskFund{Amount: 20000},
		Collection: &wxpay.Collection{State: wxpay.CollectionUserPaying, TotalAmount: 800, PayingAmount: 800}})
	if o.GetStage() != v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT || o.GetFees()[0].GetFeeName() != "可乐" ||
		o.GetFees()[1].GetFeeCount() != 1 || o.GetRiskAmount() != 20000 || o.GetCollection().GetPayingAmount() != 800 {
		t.Errorf("back: %v", o)
	}
}

func TestServiceOrderStages(t *testing.T) {
	for _, tc := range []struct {
		state, desc string
		want        v1.LifecycleStage
	}{
		{"CREATED", "", v1.LifecycleStage_LIFECYCLE_STAGE_CREATED},
		{"DOING", "USER_CONFIRM", v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED},
		{"DOING", "MCH_COMPLETE", v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT},
		{"DONE", "", v1.LifecycleStage_LIFECYCLE_STAGE_PAID},
		{"REVOKED", "", v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED},
		{"EXPIRED", "", v1.LifecycleStage_LIFECYCLE_STAGE_EXPIRED},
		{"SOMETHING_NEW", "", v1.LifecycleStage_LIFECYCLE_STAGE_UNSPECIFIED},
	} {
		if got := serviceOrderStage(tc.state, tc.desc); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.state, tc.desc, got, tc.want)
		}
	}
}

// A modify lowers the lines as a complete gives them; the total defaults to
// the lines less the discounts.
func TestAModifyBecomesProductLines(t *testing.T) {
	m, err := serviceOrderModify(&v1.ModifyOrderRequest{OutOrderNo: "SO-4", Appid: "wx0e6ce4592bd4c71c", ServiceId: "500085091232451495864960917625",
		Fees: []*v1.Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: 300}}, Reason: "少拿了一瓶"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("the mapped modify breaks a rule: %v", err)
	}
	if m.TotalAmount != 300 || m.PostPayments[0] != (wxpay.Payment{Name: "商品信息", Description: "可乐", Count: 1, Amount: 300}) {
		t.Errorf("mapped: %+v", m)
	}
	_, err = serviceOrderModify(&v1.ModifyOrderRequest{OutOrderNo: "SO-4", Fees: []*v1.Fee{{FeeName: "可乐", FeeDesc: "330ml"}}})
	wantFields(t, err, "fees[0].fee_desc")
}

// A total the host gives is sent as given, 0 included, for the rules to
// check against the lines: never replaced by their sum.
func TestAGivenTotalIsKept(t *testing.T) {
	zero := int64(0)
	c, err := serviceOrderComplete(&v1.CompleteOrderRequest{OutOrderNo: "SO-5", FinishType: 2, TotalAmount: &zero,
		Appid: "wx0e6ce4592bd4c71c", ServiceId: "500085091232451495864960917625",
		Fees: []*v1.Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: 300}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.TotalAmount != 0 || c.Validate() == nil {
		t.Errorf("a total of 0 against 300 fen of lines became %d (refused: %v)", c.TotalAmount, c.Validate())
	}
}
