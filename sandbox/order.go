package sandbox

import (
	"time"
)

// Order states of a smart-retail order.
const (
	StateCreated      = "CREATED"
	StateUserAccepted = "USER_ACCEPTED"
	StateFinished     = "FINISHED"
	StateUserPaid     = "USER_PAID"
	StateRevoked      = "REVOKED"
	StateExpired      = "EXPIRED"
)

// Finish types of the complete request.
const (
	FinishTypeCancel = 1 // order ends without charge
	FinishTypeCharge = 2 // order ends and the fees are charged
)

// ExpireAfter is how long an order may stay CREATED before it turns EXPIRED.
const ExpireAfter = time.Hour

// Fee is one line of fees[] (amounts in fen).
type Fee struct {
	FeeName   string `json:"fee_name,omitempty"`
	FeeCount  int64  `json:"fee_count,omitempty"`
	FeeAmount int64  `json:"fee_amount"`
	FeeDesc   string `json:"fee_desc,omitempty"`
}

// Discount is one line of discounts[]; DiscountAmount is set by complete.
type Discount struct {
	DiscountName   string `json:"discount_name,omitempty"`
	DiscountDesc   string `json:"discount_desc,omitempty"`
	DiscountAmount int64  `json:"discount_amount,omitempty"`
}

// Order is the sandbox's full view of one order: every field of the query
// response (same JSON names), the create-response fields, and bookkeeping
// for the admin API. It is also the persisted form.
type Order struct {
	AppID      string `json:"appid"`
	MchID      string `json:"mchid"`
	OutOrderNo string `json:"out_order_no"`
	ServiceID  string `json:"service_id"`
	OrderID    string `json:"order_id"`
	QueryID    string `json:"query_id"`
	State      string `json:"state"`
	FinishType int    `json:"finish_type,omitempty"`

	ServiceStartTime     string `json:"service_start_time,omitempty"`
	ServiceEndTime       string `json:"service_end_time,omitempty"`
	RealServiceStartTime string `json:"real_service_start_time,omitempty"`
	RealServiceEndTime   string `json:"real_service_end_time,omitempty"`
	PaySuccTime          string `json:"pay_succ_time,omitempty"`

	ServiceStartLocation     string `json:"service_start_location,omitempty"`
	ServiceEndLocation       string `json:"service_end_location,omitempty"`
	RealServiceStartLocation string `json:"real_service_start_location,omitempty"`
	RealServiceEndLocation   string `json:"real_service_end_location,omitempty"`

	ServiceIntroduction string     `json:"service_introduction,omitempty"`
	Fees                []Fee      `json:"fees,omitempty"`
	Discounts           []Discount `json:"discounts,omitempty"`
	RiskAmount          *int64     `json:"risk_amount,omitempty"`
	TotalAmount         *int64     `json:"total_amount,omitempty"` // set by complete
	Attach              string     `json:"attach,omitempty"`
	OpenID              string     `json:"openid,omitempty"`
	NeedUserConfirm     bool       `json:"need_user_confirm"`

	FinishTicket        string `json:"finish_ticket"`
	FinishTransactionID string `json:"finish_transaction_id,omitempty"`
	PayType             string `json:"pay_type,omitempty"`
	ProfitSharing       bool   `json:"profit_sharing,omitempty"`
	CancelReason        string `json:"cancel_reason,omitempty"` // complete with finish_type 1
	RevokeReason        string `json:"revoke_reason,omitempty"` // the cancel endpoint's reason

	// Create-response fields.
	MiniprogramBusinesstype string `json:"miniprogram_businesstype"`
	MiniprogramAppID        string `json:"miniprogram_appid"`
	MiniprogramPath         string `json:"miniprogram_path"`
	MiniprogramUsername     string `json:"miniprogram_username"`
	Package                 string `json:"package"`

	// Bookkeeping (admin view only).
	CreateRequests    int       `json:"create_requests"`    // create requests received for out_order_no
	CreateFingerprint string    `json:"create_fingerprint"` // hash of the canonical create request
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// clone is a deep copy, so callers never share slices with the sandbox.
func (o Order) clone() Order {
	c := o
	if o.Fees != nil {
		c.Fees = append([]Fee(nil), o.Fees...)
	}
	if o.Discounts != nil {
		c.Discounts = append([]Discount(nil), o.Discounts...)
	}
	if o.RiskAmount != nil {
		v := *o.RiskAmount
		c.RiskAmount = &v
	}
	if o.TotalAmount != nil {
		v := *o.TotalAmount
		c.TotalAmount = &v
	}
	return c
}

// queryResponse is exactly the query answer of the shared design doc.
type queryResponse struct {
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
	RiskAmount               *int64     `json:"risk_amount,omitempty"`
	TotalAmount              *int64     `json:"total_amount,omitempty"`
	Attach                   string     `json:"attach,omitempty"`
	FinishTicket             string     `json:"finish_ticket,omitempty"`
	FinishTransactionID      string     `json:"finish_transaction_id,omitempty"`
	PayType                  string     `json:"pay_type,omitempty"`
}

func (o *Order) queryResponse() queryResponse {
	c := o.clone()
	if c.State != StateUserAccepted {
		// Given only while a complete can use it (the corrections, T1/T2).
		c.FinishTicket = ""
	}
	return queryResponse{
		AppID: c.AppID, MchID: c.MchID, OutOrderNo: c.OutOrderNo, ServiceID: c.ServiceID,
		State: c.State, FinishType: c.FinishType,
		ServiceStartTime: c.ServiceStartTime, ServiceEndTime: c.ServiceEndTime,
		RealServiceStartTime: c.RealServiceStartTime, RealServiceEndTime: c.RealServiceEndTime,
		PaySuccTime:          c.PaySuccTime,
		ServiceStartLocation: c.ServiceStartLocation, ServiceEndLocation: c.ServiceEndLocation,
		RealServiceStartLocation: c.RealServiceStartLocation, RealServiceEndLocation: c.RealServiceEndLocation,
		ServiceIntroduction: c.ServiceIntroduction, Fees: c.Fees, Discounts: c.Discounts,
		RiskAmount: c.RiskAmount, TotalAmount: c.TotalAmount, Attach: c.Attach,
		FinishTicket: c.FinishTicket, FinishTransactionID: c.FinishTransactionID, PayType: c.PayType,
	}
}

// createResponse is the create answer of the shared design doc.
type createResponse struct {
	AppID                   string `json:"appid"`
	MchID                   string `json:"mchid"`
	OutOrderNo              string `json:"out_order_no"`
	ServiceID               string `json:"service_id"`
	OrderID                 string `json:"order_id"`
	MiniprogramBusinesstype string `json:"miniprogram_businesstype"`
	MiniprogramAppID        string `json:"miniprogram_appid"`
	MiniprogramPath         string `json:"miniprogram_path"`
	MiniprogramUsername     string `json:"miniprogram_username"`
	Package                 string `json:"package"`
}

// orderRef is the cancel and complete answer.
type orderRef struct {
	AppID      string `json:"appid"`
	MchID      string `json:"mchid"`
	OutOrderNo string `json:"out_order_no"`
	ServiceID  string `json:"service_id"`
	OrderID    string `json:"order_id"`
}
