package wxpay

import (
	"encoding/json"
	"time"
)

// The WeChat Pay JSON bodies of /v3/payscore/smartretail-orders, field for field.
// These are the only WeChat-shaped types in the project: other layers convert
// from and to them here, in one place.

// Fee is one charge line: fee_amount is the line's amount in fen.
type Fee struct {
	FeeName   string `json:"fee_name,omitempty"`
	FeeCount  int64  `json:"fee_count,omitempty"`
	FeeAmount int64  `json:"fee_amount"`
	FeeDesc   string `json:"fee_desc,omitempty"`
}

// Discount is one discount line. DiscountAmount (fen) is sent with Complete
// and answered by Query; Create carries only the name and description.
type Discount struct {
	DiscountName   string `json:"discount_name,omitempty"`
	DiscountDesc   string `json:"discount_desc,omitempty"`
	DiscountAmount int64  `json:"discount_amount,omitempty"`
}

// CreateRequest is the body of POST /v3/payscore/smartretail-orders.
type CreateRequest struct {
	AppID                string     `json:"appid"`
	OutOrderNo           string     `json:"out_order_no"`
	ServiceID            string     `json:"service_id"`
	ServiceStartTime     string     `json:"service_start_time,omitempty"` // "OnAccept", yyyyMMdd or yyyyMMddHHmmss
	ServiceEndTime       string     `json:"service_end_time,omitempty"`
	ServiceStartLocation string     `json:"service_start_location,omitempty"`
	ServiceEndLocation   string     `json:"service_end_location,omitempty"`
	ServiceIntroduction  string     `json:"service_introduction,omitempty"`
	Fees                 []Fee      `json:"fees,omitempty"`
	Discounts            []Discount `json:"discounts,omitempty"`
	RiskAmount           int64      `json:"risk_amount,omitempty"`
	Attach               string     `json:"attach,omitempty"`
	// NeedUserConfirm is a pointer because WeChat's default is true:
	// nil sends nothing and means true.
	NeedUserConfirm *bool  `json:"need_user_confirm,omitempty"`
	OpenID          string `json:"openid,omitempty"`
}

// CreateResponse is WeChat Pay's answer to a create. Package opens the
// confirmation mini-program and is meant to be used once.
type CreateResponse struct {
	AppID                   string `json:"appid"`
	MchID                   string `json:"mchid"`
	OutOrderNo              string `json:"out_order_no"`
	ServiceID               string `json:"service_id"`
	OrderID                 string `json:"order_id"`
	MiniprogramBusinessType string `json:"miniprogram_businesstype"`
	MiniprogramAppID        string `json:"miniprogram_appid"`
	MiniprogramPath         string `json:"miniprogram_path"`
	MiniprogramUsername     string `json:"miniprogram_username"`
	Package                 string `json:"package"`
}

// QueryRequest names an order by exactly one of OutOrderNo and QueryID.
type QueryRequest struct {
	OutOrderNo string
	QueryID    string
	AppID      string
	ServiceID  string
}

// Order states of the smart-retail API.
const (
	StateCreated      = "CREATED"
	StateUserAccepted = "USER_ACCEPTED"
	StateFinished     = "FINISHED"
	StateUserPaid     = "USER_PAID"
	StateRevoked      = "REVOKED"
	StateExpired      = "EXPIRED"
)

// Order is WeChat Pay's answer to a query.
type Order struct {
	AppID                    string     `json:"appid"`
	MchID                    string     `json:"mchid"`
	OutOrderNo               string     `json:"out_order_no"`
	ServiceID                string     `json:"service_id"`
	State                    string     `json:"state"`
	FinishType               int        `json:"finish_type,omitempty"`
	ServiceStartTime         string     `json:"service_start_time,omitempty"`
	ServiceEndTime           string     `json:"service_end_time,omitempty"`
	RealServiceStartTime     string     `json:"real_service_start_time,omitempty"`
	RealServiceEndTime       string     `json:"real_service_end_time,omitempty"`
	PaySuccTime              string     `json:"pay_succ_time,omitempty"`
	ServiceStartLocation     string     `json:"service_start_location,omitempty"`
	ServiceEndLocation       string     `json:"service_end_location,omitempty"`
	RealServiceStartLocation string     `json:"real_service_start_location,omitempty"`
	RealServiceEndLocation   string     `json:"real_service_end_location,omitempty"`
	ServiceIntroduction      string     `json:"service_introduction,omitempty"`
	Fees                     []Fee      `json:"fees,omitempty"`
	Discounts                []Discount `json:"discounts,omitempty"`
	RiskAmount               int64      `json:"risk_amount,omitempty"`
	TotalAmount              int64      `json:"total_amount,omitempty"`
	Attach                   string     `json:"attach,omitempty"`
	FinishTicket             string     `json:"finish_ticket,omitempty"`
	FinishTransactionID      string     `json:"finish_transaction_id,omitempty"`
	PayType                  string     `json:"pay_type,omitempty"`
	// AnsweredAt is WeChat Pay's time when it answered, to the second (the
	// answer's signed Wechatpay-Timestamp).
	AnsweredAt time.Time `json:"-"`
}

func (o *Order) answeredAt(t time.Time) { o.AnsweredAt = t }

// CancelRequest cancels an order that has not been completed.
type CancelRequest struct {
	OutOrderNo string `json:"-"` // in the path
	AppID      string `json:"appid"`
	ServiceID  string `json:"service_id"`
	Reason     string `json:"reason"`
}

// Finish types of a complete.
const (
	FinishTypeCancel = 1 // end without charge; needs CancelReason
	FinishTypeFinish = 2 // end and charge Fees
)

// CompleteRequest ends an order the user has accepted.
type CompleteRequest struct {
	OutOrderNo             string     `json:"-"` // in the path
	AppID                  string     `json:"appid"`
	ServiceID              string     `json:"service_id"`
	FinishType             int        `json:"finish_type"`
	CancelReason           string     `json:"cancel_reason,omitempty"`
	RealServiceStartTime   string     `json:"real_service_start_time,omitempty"`
	RealServiceEndTime     string     `json:"real_service_end_time,omitempty"`
	RealServiceEndLocation string     `json:"real_service_end_location,omitempty"`
	Fees                   []Fee      `json:"fees,omitempty"`
	Discounts              []Discount `json:"discounts,omitempty"`
	// TotalAmount, when set, must equal the fees less the discounts (0 for
	// finish_type 1). WeChat Pay requires it: when nil, MarshalJSON sends
	// Charge(), so it is always on the wire.
	TotalAmount  *int64 `json:"total_amount,omitempty"`
	FinishTicket string `json:"finish_ticket,omitempty"`
	// ProfitSharing is a required boolean: false is sent, never left out.
	ProfitSharing bool `json:"profit_sharing"`
}

// MarshalJSON writes r with total_amount always present (Charge() when
// TotalAmount is nil): WeChat Pay requires it, and a body the outbox keeps
// then says exactly what will be charged.
func (r CompleteRequest) MarshalJSON() ([]byte, error) {
	type plain CompleteRequest // no MarshalJSON: no recursion
	p := plain(r)
	if p.TotalAmount == nil {
		t := r.Charge()
		p.TotalAmount = &t
	}
	return json.Marshal(p)
}

// OrderRef is the answer to cancel and complete.
type OrderRef struct {
	AppID      string `json:"appid"`
	MchID      string `json:"mchid"`
	OutOrderNo string `json:"out_order_no"`
	ServiceID  string `json:"service_id"`
	OrderID    string `json:"order_id"`
}
