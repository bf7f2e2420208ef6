package notify

// The Pay Score events whose payload is a service order (fact sheet §5,
// [V-off O-cb-confirm, O-cb-paid]).
const (
	// EventUserConfirm: the user confirmed a 需确认 order; it is now DOING
	// with state_description USER_CONFIRM.
	EventUserConfirm = "PAYSCORE.USER_CONFIRM"
	// EventUserPaid: the deduction after complete succeeded; the order is
	// DONE and its collection is USER_PAID [V-org SK].
	EventUserPaid = "PAYSCORE.USER_PAID"
)

// isServiceOrderEvent says whether an event's payload is a service order.
// The 免确认 authorisation events (PAYSCORE.USER_OPEN_SERVICE,
// USER_CLOSE_SERVICE) carry an authorisation instead [V-sdk Y webhooks.yaml],
// and other products' events other payloads: those are left raw.
func isServiceOrderEvent(eventType string) bool {
	return eventType == EventUserConfirm || eventType == EventUserPaid
}

// ServiceOrder is the decrypted payload of a PAYSCORE.USER_CONFIRM or
// PAYSCORE.USER_PAID notification: the service order as WeChat Pay's query
// answers it (fact sheet §5 "Decrypted payload" [V-sdk IM, DR; V-org SK]).
// Fields absent from a notification are left zero. Amounts are in fen.
type ServiceOrder struct {
	AppID               string `json:"appid"`
	MchID               string `json:"mchid"`
	OutOrderNo          string `json:"out_order_no"`
	ServiceID           string `json:"service_id"`
	OrderID             string `json:"order_id"`
	ServiceIntroduction string `json:"service_introduction,omitempty"`
	// OpenID is the customer's id: personal data; log and print it only
	// where that is allowed.
	OpenID string `json:"openid,omitempty"`
	// State is CREATED, DOING, DONE, REVOKED or EXPIRED; StateDescription
	// (only while DOING) USER_CONFIRM or MCH_COMPLETE (fact sheet §3).
	State            string     `json:"state"`
	StateDescription string     `json:"state_description,omitempty"`
	TotalAmount      int64      `json:"total_amount,omitempty"`
	PostPayments     []Payment  `json:"post_payments,omitempty"`
	PostDiscounts    []Discount `json:"post_discounts,omitempty"`
	RiskFund         *RiskFund  `json:"risk_fund,omitempty"`
	TimeRange        *TimeRange `json:"time_range,omitempty"`
	Location         *Location  `json:"location,omitempty"`
	Attach           string     `json:"attach,omitempty"`
	NeedCollection   *bool      `json:"need_collection,omitempty"`
	// Collection is what was collected: in the USER_PAID notification.
	Collection *Collection `json:"collection,omitempty"`
}

// Payment is one post_payments line (fact sheet §2.1): for smart retail,
// name 商品信息, the product as description, amount the line's total.
type Payment struct {
	Name        string `json:"name"`
	Amount      int64  `json:"amount"`
	Description string `json:"description,omitempty"`
	Count       int64  `json:"count,omitempty"`
}

// Discount is one post_discounts line (fact sheet §2.2).
type Discount struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Amount      int64  `json:"amount"`
	Count       int64  `json:"count,omitempty"`
}

// RiskFund is the order's risk fund (fact sheet §2.3).
type RiskFund struct {
	Name        string `json:"name"`
	Amount      int64  `json:"amount"`
	Description string `json:"description,omitempty"`
}

// TimeRange is the service's time (fact sheet §2.4): yyyyMMddHHmmss,
// yyyyMMdd or OnAccept, Beijing time, as WeChat Pay writes them.
type TimeRange struct {
	StartTime       string `json:"start_time,omitempty"`
	StartTimeRemark string `json:"start_time_remark,omitempty"`
	EndTime         string `json:"end_time,omitempty"`
	EndTimeRemark   string `json:"end_time_remark,omitempty"`
}

// Location is where the service started and ended (fact sheet §2.5).
type Location struct {
	StartLocation string `json:"start_location,omitempty"`
	EndLocation   string `json:"end_location,omitempty"`
}

// Collection is the order's collection (fact sheet §2.6): State is
// USER_PAYING or USER_PAID.
type Collection struct {
	State        string             `json:"state"`
	TotalAmount  int64              `json:"total_amount"`
	PayingAmount int64              `json:"paying_amount"`
	PaidAmount   int64              `json:"paid_amount"`
	Details      []CollectionDetail `json:"details,omitempty"`
}

// CollectionDetail is one collection. PaidType is NEWTON (Pay Score) or
// MCH (the merchant's channel); TransactionID is the payment's id, the one
// refunds name.
type CollectionDetail struct {
	Seq             int64       `json:"seq"`
	Amount          int64       `json:"amount"`
	PaidType        string      `json:"paid_type,omitempty"`
	PaidTime        string      `json:"paid_time,omitempty"`
	TransactionID   string      `json:"transaction_id,omitempty"`
	PromotionDetail []Promotion `json:"promotion_detail,omitempty"`
}

// Promotion is a coupon applied to a collection (fact sheet §2.6).
type Promotion struct {
	CouponID            string      `json:"coupon_id"`
	Name                string      `json:"name,omitempty"`
	Scope               string      `json:"scope,omitempty"` // GLOBAL or SINGLE
	Type                string      `json:"type,omitempty"`  // CASH or NOCASH
	Amount              int64       `json:"amount"`
	StockID             string      `json:"stock_id,omitempty"`
	WechatpayContribute int64       `json:"wechatpay_contribute,omitempty"`
	MerchantContribute  int64       `json:"merchant_contribute,omitempty"`
	OtherContribute     int64       `json:"other_contribute,omitempty"`
	Currency            string      `json:"currency,omitempty"`
	GoodsDetail         []GoodsLine `json:"goods_detail,omitempty"`
}

// GoodsLine is one product a coupon applied to.
type GoodsLine struct {
	GoodsID        string `json:"goods_id"`
	Quantity       int64  `json:"quantity"`
	UnitPrice      int64  `json:"unit_price"`
	DiscountAmount int64  `json:"discount_amount"`
	GoodsRemark    string `json:"goods_remark,omitempty"`
}
