package wxpay

import (
	"encoding/json"
	"time"
)

// The WeChat Pay JSON bodies of the Pay Score service-order API
// (/v3/payscore/serviceorder), field for field, as the fact sheet
// (shared/design/wechatpay-serviceorder.md, "the sheet" below) gives them.
// Like types.go for smart-retail orders, these are the only service-order
// shapes in the project: other layers convert from and to them.

// serviceOrderPath is the service-order endpoints' root (the sheet §1).
const serviceOrderPath = "/v3/payscore/serviceorder"

// Service-order states (the sheet §3). CREATED exists only for orders the
// customer must confirm; an order created without confirmation starts in
// DOING.
const (
	ServiceOrderCreated = "CREATED"
	ServiceOrderDoing   = "DOING"
	ServiceOrderDone    = "DONE"
	ServiceOrderRevoked = "REVOKED"
	ServiceOrderExpired = "EXPIRED"
)

// The state_description values, given only while the state is DOING (the
// sheet §3): always read with the state and collection.state.
const (
	// DescriptionUserConfirm: the customer confirmed, or an order without
	// confirmation was created. Complete is allowed.
	DescriptionUserConfirm = "USER_CONFIRM"
	// DescriptionMchComplete: the merchant completed; the deduction has not
	// yet succeeded (collection.state USER_PAYING).
	DescriptionMchComplete = "MCH_COMPLETE"
)

// collection.state values (the sheet §2.6).
const (
	CollectionUserPaying = "USER_PAYING" // 待支付
	CollectionUserPaid   = "USER_PAID"   // 已支付
)

// collection.details[].paid_type values (the sheet §2.6).
const (
	PaidTypeNewton = "NEWTON" // collected by Pay Score
	PaidTypeMch    = "MCH"    // paid through the merchant's own channel (sync)
)

// risk_fund.name values (the sheet §2.3). The first three belong to the
// 先免 mode, the last to 先享; which one a service_id takes is fixed with
// WeChat Pay at onboarding.
const (
	RiskFundDeposit           = "DEPOSIT"             // 押金
	RiskFundAdvance           = "ADVANCE"             // 预付款
	RiskFundCashDeposit       = "CASH_DEPOSIT"        // 保证金
	RiskFundEstimateOrderCost = "ESTIMATE_ORDER_COST" // 预估订单费用
)

// DepositFund says whether a risk fund of this name is a 先免 one (DEPOSIT,
// ADVANCE, CASH_DEPOSIT), whose amount caps what a complete may charge
// (the sheet §4); ESTIMATE_ORDER_COST is capped by the service's limit only.
func DepositFund(name string) bool {
	return name == RiskFundDeposit || name == RiskFundAdvance || name == RiskFundCashDeposit
}

// SyncTypeOrderPaid is the only sync type (the sheet §1.7).
const SyncTypeOrderPaid = "Order_Paid"

// SmartRetailPaymentName is the one post_payments name the smart-retail
// (无人设备) profile allows at complete and modify (the sheet §2.1).
const SmartRetailPaymentName = "商品信息"

// Payment is one post_payments item. Amount is the line's total in fen,
// not a unit price (the sheet §2.1); it is always sent, 0 included.
type Payment struct {
	Name        string `json:"name,omitempty"`
	Amount      int64  `json:"amount"`
	Description string `json:"description,omitempty"`
	Count       int64  `json:"count,omitempty"`
}

// ServiceOrderCoupon is one post_discounts item (WeChat Pay's model name).
// A zero Amount or Count is not sent.
type ServiceOrderCoupon struct {
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Amount      int64  `json:"amount,omitempty"`
	Count       int64  `json:"count,omitempty"`
}

// RiskFund is the order's risk fund: Name one of the RiskFund* values,
// Amount in fen.
type RiskFund struct {
	Name        string `json:"name"`
	Amount      int64  `json:"amount"`
	Description string `json:"description,omitempty"`
}

// TimeRange is when the service runs: yyyyMMdd or yyyyMMddHHmmss in China
// Standard Time (FormatTime), and StartTime also StartTimeOnAccept.
type TimeRange struct {
	StartTime       string `json:"start_time,omitempty"`
	StartTimeRemark string `json:"start_time_remark,omitempty"`
	EndTime         string `json:"end_time,omitempty"`
	EndTimeRemark   string `json:"end_time_remark,omitempty"`
}

// Location is where the service starts and ends.
type Location struct {
	StartLocation string `json:"start_location,omitempty"`
	EndLocation   string `json:"end_location,omitempty"`
}

// Device names the unmanned device (added to create, modify and complete
// in 2025-03, the sheet §1.1).
type Device struct {
	StartDeviceID string `json:"start_device_id,omitempty"`
	EndDeviceID   string `json:"end_device_id,omitempty"`
	MaterielNo    string `json:"materiel_no,omitempty"`
}

// Collection is what WeChat Pay has collected and still collects (query,
// modify, sync answers and the paid notification; the sheet §2.6).
type Collection struct {
	State        string             `json:"state,omitempty"`
	TotalAmount  int64              `json:"total_amount"`
	PayingAmount int64              `json:"paying_amount"`
	PaidAmount   int64              `json:"paid_amount"`
	Details      []CollectionDetail `json:"details,omitempty"`
	BankType     string             `json:"bank_type,omitempty"` // SDK models only
}

// CollectionDetail is one collection: PaidType PaidTypeNewton or
// PaidTypeMch; TransactionID is what a refund names.
type CollectionDetail struct {
	Seq             int64             `json:"seq"`
	Amount          int64             `json:"amount"`
	PaidType        string            `json:"paid_type,omitempty"`
	PaidTime        string            `json:"paid_time,omitempty"`
	TransactionID   string            `json:"transaction_id,omitempty"`
	PromotionDetail []PromotionDetail `json:"promotion_detail,omitempty"`
}

// PromotionDetail is a coupon WeChat Pay applied to a collection.
type PromotionDetail struct {
	CouponID            string           `json:"coupon_id,omitempty"`
	Name                string           `json:"name,omitempty"`
	Scope               string           `json:"scope,omitempty"` // GLOBAL or SINGLE
	Type                string           `json:"type,omitempty"`  // CASH or NOCASH
	Amount              int64            `json:"amount"`
	StockID             string           `json:"stock_id,omitempty"`
	WechatpayContribute int64            `json:"wechatpay_contribute"`
	MerchantContribute  int64            `json:"merchant_contribute"`
	OtherContribute     int64            `json:"other_contribute"`
	Currency            string           `json:"currency,omitempty"`
	GoodsDetail         []PromotionGoods `json:"goods_detail,omitempty"`
}

// PromotionGoods is one product a promotion applied to.
type PromotionGoods struct {
	GoodsID        string `json:"goods_id,omitempty"`
	Quantity       int64  `json:"quantity"`
	UnitPrice      int64  `json:"unit_price"`
	DiscountAmount int64  `json:"discount_amount"`
	GoodsRemark    string `json:"goods_remark,omitempty"`
}

// ServiceOrder is the order body WeChat Pay answers create, query, modify,
// complete and sync with (the sheet §1.1, §1.2, §1.5). Which fields an
// answer carries depends on the call: Package only after create,
// Collection after the order is completed.
type ServiceOrder struct {
	AppID               string `json:"appid"`
	MchID               string `json:"mchid"`
	OutOrderNo          string `json:"out_order_no"`
	ServiceID           string `json:"service_id"`
	ServiceIntroduction string `json:"service_introduction,omitempty"`
	// State is one of the ServiceOrder* values; StateDescription one of
	// the Description* values, while DOING.
	State            string               `json:"state"`
	StateDescription string               `json:"state_description,omitempty"`
	PostPayments     []Payment            `json:"post_payments,omitempty"`
	PostDiscounts    []ServiceOrderCoupon `json:"post_discounts,omitempty"`
	RiskFund         *RiskFund            `json:"risk_fund,omitempty"`
	TotalAmount      int64                `json:"total_amount,omitempty"`
	// NeedCollection is WeChat Pay's "是否需要收款"; its meaning is not
	// documented (the sheet §1.2), so it is passed on as read.
	NeedCollection bool        `json:"need_collection,omitempty"`
	Collection     *Collection `json:"collection,omitempty"`
	TimeRange      *TimeRange  `json:"time_range,omitempty"`
	Location       *Location   `json:"location,omitempty"`
	Device         *Device     `json:"device,omitempty"`
	Attach         string      `json:"attach,omitempty"`
	NotifyURL      string      `json:"notify_url,omitempty"`
	OpenID         string      `json:"openid,omitempty"`
	OrderID        string      `json:"order_id,omitempty"`
	// Package opens the confirmation page (create's answer only); it is
	// good for one use.
	Package string `json:"package,omitempty"`
	// AnsweredAt is WeChat Pay's time when it answered, to the second (the
	// answer's signed Wechatpay-Timestamp): a time that has passed at
	// WeChat Pay by the next call, and not before anything the answer
	// shows happened.
	AnsweredAt time.Time `json:"-"`
}

func (o *ServiceOrder) answeredAt(t time.Time) { o.AnsweredAt = t }

// CreateServiceOrderRequest is the body of POST /v3/payscore/serviceorder.
type CreateServiceOrderRequest struct {
	OutOrderNo          string `json:"out_order_no"`
	AppID               string `json:"appid"`
	ServiceID           string `json:"service_id"`
	ServiceIntroduction string `json:"service_introduction"`
	// PostPayments must be empty: the smart-retail profile sends the
	// products at complete. Empty is not sent.
	PostPayments  []Payment            `json:"post_payments,omitempty"`
	PostDiscounts []ServiceOrderCoupon `json:"post_discounts,omitempty"`
	TimeRange     TimeRange            `json:"time_range"`
	Location      *Location            `json:"location,omitempty"`
	RiskFund      RiskFund             `json:"risk_fund"`
	Attach        string               `json:"attach,omitempty"`
	NotifyURL     string               `json:"notify_url"`
	// NeedUserConfirm is required and always sent: the sources disagree on
	// its default. true: the customer confirms (需确认), no OpenID; false:
	// no confirmation (免确认), OpenID required.
	NeedUserConfirm *bool   `json:"need_user_confirm"`
	OpenID          string  `json:"openid,omitempty"`
	Device          *Device `json:"device,omitempty"`
}

// CancelServiceOrderRequest cancels an order.
type CancelServiceOrderRequest struct {
	OutOrderNo string `json:"-"` // in the path
	AppID      string `json:"appid"`
	ServiceID  string `json:"service_id"`
	// Reason is shown to the customer.
	Reason string `json:"reason"`
}

// ModifyServiceOrderRequest lowers what a completed order awaiting payment
// charges. TotalAmount is always sent and must equal the payments less the
// discounts.
type ModifyServiceOrderRequest struct {
	OutOrderNo    string               `json:"-"` // in the path
	AppID         string               `json:"appid"`
	ServiceID     string               `json:"service_id"`
	PostPayments  []Payment            `json:"post_payments"`
	PostDiscounts []ServiceOrderCoupon `json:"post_discounts,omitempty"`
	TotalAmount   int64                `json:"total_amount"`
	Reason        string               `json:"reason"`
	Device        *Device              `json:"device,omitempty"`
}

// CompleteServiceOrderRequest ends an order and says what it charges.
// TotalAmount is always sent and must equal the payments less the
// discounts; ProfitSharing is always sent, false included.
type CompleteServiceOrderRequest struct {
	OutOrderNo    string               `json:"-"` // in the path
	AppID         string               `json:"appid"`
	ServiceID     string               `json:"service_id"`
	PostPayments  []Payment            `json:"post_payments"`
	PostDiscounts []ServiceOrderCoupon `json:"post_discounts,omitempty"`
	TotalAmount   int64                `json:"total_amount"`
	// TimeRange is the real service time; EndTime is required when the
	// create gave none (which only the order knows).
	TimeRange *TimeRange `json:"time_range,omitempty"`
	// Location may carry only EndLocation at complete.
	Location      *Location `json:"location,omitempty"`
	ProfitSharing bool      `json:"profit_sharing"`
	GoodsTag      string    `json:"goods_tag,omitempty"`
	Device        *Device   `json:"device,omitempty"`
}

// PayServiceOrderRequest asks WeChat Pay to try the deduction of a
// completed order awaiting payment again (催收扣款).
type PayServiceOrderRequest struct {
	OutOrderNo string `json:"-"` // in the path
	AppID      string `json:"appid"`
	ServiceID  string `json:"service_id"`
}

// SyncServiceOrderRequest tells WeChat Pay that a completed order awaiting
// payment was paid by other means. Type is always SyncTypeOrderPaid: an
// empty Type is sent as that.
type SyncServiceOrderRequest struct {
	OutOrderNo string     `json:"-"` // in the path
	AppID      string     `json:"appid"`
	ServiceID  string     `json:"service_id"`
	Type       string     `json:"type"`
	Detail     SyncDetail `json:"detail"`
}

// SyncDetail says when the order was paid: yyyyMMddHHmmss, or yyyyMMdd
// (00:00:00 that day).
type SyncDetail struct {
	PaidTime string `json:"paid_time"`
}

// MarshalJSON writes r with type always SyncTypeOrderPaid when r leaves it
// empty, so that a body kept in the outbox says what is sent.
func (r SyncServiceOrderRequest) MarshalJSON() ([]byte, error) {
	type plain SyncServiceOrderRequest // no MarshalJSON: no recursion
	p := plain(r)
	if p.Type == "" {
		p.Type = SyncTypeOrderPaid
	}
	return json.Marshal(p)
}
