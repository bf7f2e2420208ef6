package sandbox

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Service-order states (state), and what DOING means (state_description).
// The fact sheet's section 3 (wechatpay-serviceorder.md).
const (
	ServiceOrderCreated = "CREATED" // 需确认: waiting for the customer to confirm
	ServiceOrderDoing   = "DOING"   // confirmed, or completed and awaiting payment
	ServiceOrderDone    = "DONE"    // paid (or completed at 0)
	ServiceOrderRevoked = "REVOKED" // cancelled by the merchant
	ServiceOrderExpired = "EXPIRED" // CREATED and unchanged for ServiceOrderExpireAfter

	DescUserConfirm = "USER_CONFIRM" // DOING: confirmed (or created without confirmation)
	DescMchComplete = "MCH_COMPLETE" // DOING: completed, the deduction has not succeeded yet
)

// Collection states and paid types (collection.state, details[].paid_type).
const (
	CollectionUserPaying = "USER_PAYING"
	CollectionUserPaid   = "USER_PAID"
	PaidTypeNewton       = "NEWTON" // deducted by Pay Score
	PaidTypeMCH          = "MCH"    // paid through the merchant's channel (sync)
)

// ServiceOrderExpireAfter is how long a service order may stay CREATED
// unchanged before it is EXPIRED (the fact sheet's section 3: 30 days).
const ServiceOrderExpireAfter = 30 * 24 * time.Hour

// PostPayment is one line of post_payments[] (amount in fen, the line's total).
type PostPayment struct {
	Name        string `json:"name,omitempty"`
	Amount      int64  `json:"amount"`
	Description string `json:"description,omitempty"`
	Count       int64  `json:"count,omitempty"`
}

// PostDiscount is one line of post_discounts[]; Amount may be left out at create.
type PostDiscount struct {
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Amount      *int64 `json:"amount,omitempty"`
	Count       int64  `json:"count,omitempty"`
}

// RiskFund is the order's risk_fund.
type RiskFund struct {
	Name        string `json:"name"`
	Amount      int64  `json:"amount"`
	Description string `json:"description,omitempty"`
}

// TimeRange is the order's time_range.
type TimeRange struct {
	StartTime       string `json:"start_time,omitempty"`
	StartTimeRemark string `json:"start_time_remark,omitempty"`
	EndTime         string `json:"end_time,omitempty"`
	EndTimeRemark   string `json:"end_time_remark,omitempty"`
}

// Location is the order's location.
type Location struct {
	StartLocation string `json:"start_location,omitempty"`
	EndLocation   string `json:"end_location,omitempty"`
}

// Device is the order's device (2025-03 changelog).
type Device struct {
	StartDeviceID string `json:"start_device_id,omitempty"`
	EndDeviceID   string `json:"end_device_id,omitempty"`
	MaterielNo    string `json:"materiel_no,omitempty"`
}

// Collection is the order's collection, set by complete.
type Collection struct {
	State        string             `json:"state"`
	TotalAmount  int64              `json:"total_amount"`
	PayingAmount int64              `json:"paying_amount"`
	PaidAmount   int64              `json:"paid_amount"`
	Details      []CollectionDetail `json:"details,omitempty"`
}

// CollectionDetail is one payment of collection.details[].
type CollectionDetail struct {
	Seq           int64  `json:"seq"`
	Amount        int64  `json:"amount"`
	PaidType      string `json:"paid_type"`
	PaidTime      string `json:"paid_time"`
	TransactionID string `json:"transaction_id,omitempty"`
}

// ServiceOrder is the sandbox's full view of one Pay Score service order:
// every field of the query answer (same JSON names), the create answer's
// package, and bookkeeping for the admin API. It is also the persisted
// form (ServiceOrdersFile).
type ServiceOrder struct {
	AppID               string         `json:"appid"`
	MchID               string         `json:"mchid"`
	OutOrderNo          string         `json:"out_order_no"`
	ServiceID           string         `json:"service_id"`
	OrderID             string         `json:"order_id"`
	QueryID             string         `json:"query_id"`
	ServiceIntroduction string         `json:"service_introduction"`
	State               string         `json:"state"`
	StateDescription    string         `json:"state_description,omitempty"` // while DOING only
	PostPayments        []PostPayment  `json:"post_payments,omitempty"`
	PostDiscounts       []PostDiscount `json:"post_discounts,omitempty"`
	RiskFund            RiskFund       `json:"risk_fund"`
	TotalAmount         *int64         `json:"total_amount,omitempty"`    // set by complete
	NeedCollection      *bool          `json:"need_collection,omitempty"` // set by complete
	Collection          *Collection    `json:"collection,omitempty"`      // set by complete
	TimeRange           TimeRange      `json:"time_range"`
	Location            *Location      `json:"location,omitempty"`
	Attach              string         `json:"attach,omitempty"`
	NotifyURL           string         `json:"notify_url"`
	OpenID              string         `json:"openid,omitempty"`
	NeedUserConfirm     bool           `json:"need_user_confirm"`
	Device              *Device        `json:"device,omitempty"`
	ProfitSharing       bool           `json:"profit_sharing,omitempty"`
	GoodsTag            string         `json:"goods_tag,omitempty"`
	Package             string         `json:"package"`
	CancelReason        string         `json:"cancel_reason,omitempty"` // the cancel's reason
	ModifyReason        string         `json:"modify_reason,omitempty"` // the last modify's reason
	Modifications       int            `json:"modifications"`           // modifies accepted
	DeductionsFail      bool           `json:"deductions_fail"`         // FailServiceOrderDeductions
	ConfirmedAt         *time.Time     `json:"confirmed_at,omitempty"`  // when it became DOING
	CreateRequests      int            `json:"create_requests"`         // create requests received for out_order_no
	CreateFingerprint   string         `json:"create_fingerprint"`      // hash of the canonical create request
	CreatedAt           time.Time      `json:"created_at"`
	UpdatedAt           time.Time      `json:"updated_at"`
}

func (o *ServiceOrder) logKey() string        { return o.OutOrderNo }
func (o *ServiceOrder) logCreated() time.Time { return o.CreatedAt }
func (o *ServiceOrder) logCheck() error {
	if o.OutOrderNo == "" || o.QueryID == "" || o.State == "" {
		return errors.New("out_order_no, query_id or state missing")
	}
	return nil
}

// clone is a deep copy, so callers never share slices or pointers with the sandbox.
func (o ServiceOrder) clone() ServiceOrder {
	c := o
	c.PostPayments = append([]PostPayment(nil), o.PostPayments...)
	if o.PostDiscounts != nil {
		c.PostDiscounts = make([]PostDiscount, len(o.PostDiscounts))
		for i, d := range o.PostDiscounts {
			if d.Amount != nil {
				v := *d.Amount
				d.Amount = &v
			}
			c.PostDiscounts[i] = d
		}
	}
	if o.TotalAmount != nil {
		v := *o.TotalAmount
		c.TotalAmount = &v
	}
	if o.NeedCollection != nil {
		v := *o.NeedCollection
		c.NeedCollection = &v
	}
	if o.Collection != nil {
		v := *o.Collection
		v.Details = append([]CollectionDetail(nil), o.Collection.Details...)
		c.Collection = &v
	}
	if o.Location != nil {
		v := *o.Location
		c.Location = &v
	}
	if o.Device != nil {
		v := *o.Device
		c.Device = &v
	}
	if o.ConfirmedAt != nil {
		v := *o.ConfirmedAt
		c.ConfirmedAt = &v
	}
	return c
}

// awaitingPayment: completed, the deduction not yet succeeded.
func (o *ServiceOrder) awaitingPayment() bool {
	return o.State == ServiceOrderDoing && o.StateDescription == DescMchComplete &&
		o.Collection != nil && o.Collection.State == CollectionUserPaying
}

func (o *ServiceOrder) stateName() string {
	if o.State == ServiceOrderDoing {
		return o.State + "+" + o.StateDescription
	}
	return o.State
}

// ---- the store of service orders (callers hold s.mu) ----

func (s *Sandbox) indexServiceOrder(o *ServiceOrder) {
	s.serviceOrders[o.OutOrderNo] = o
	s.soByQueryID[o.QueryID] = o.OutOrderNo
	s.orderIDs[o.OrderID] = true
}

// commitServiceOrder persists o and then makes it current; memory never
// runs ahead of the log.
func (s *Sandbox) commitServiceOrder(o ServiceOrder) (*ServiceOrder, error) {
	o.UpdatedAt = s.now().UTC()
	return commitTo(s, s.soStore, o, "service order "+o.OutOrderNo, s.indexServiceOrder)
}

// lookupServiceOrder finds a service order and applies the 30-day expiry
// lazily, on the sandbox's clock.
func (s *Sandbox) lookupServiceOrder(outOrderNo string) (*ServiceOrder, bool) {
	o, ok := s.serviceOrders[outOrderNo]
	if !ok {
		return nil, false
	}
	if o.State == ServiceOrderCreated && s.now().Sub(o.CreatedAt) >= ServiceOrderExpireAfter {
		n := o.clone()
		n.State = ServiceOrderExpired
		if p, err := s.commitServiceOrder(n); err == nil {
			o = p
		}
	}
	return o, true
}

func (s *Sandbox) newServiceQueryID() string {
	for {
		id := randString(alnum, 32)
		_, a := s.byQueryID[id]
		_, b := s.soByQueryID[id]
		if !a && !b {
			return id
		}
	}
}

// ServiceOrders returns every service order, oldest first.
func (s *Sandbox) ServiceOrders() []ServiceOrder {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceOrder, 0, len(s.serviceOrders))
	for no := range s.serviceOrders {
		o, _ := s.lookupServiceOrder(no)
		out = append(out, o.clone())
	}
	sort.Slice(out, func(i, j int) bool {
		return oldestFirst(out[i].CreatedAt, out[j].CreatedAt, out[i].OutOrderNo, out[j].OutOrderNo)
	})
	return out
}

// ServiceOrder returns one service order by out_order_no.
func (s *Sandbox) ServiceOrder(outOrderNo string) (ServiceOrder, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.lookupServiceOrder(outOrderNo)
	if !ok {
		return ServiceOrder{}, false
	}
	return o.clone(), true
}

// AcceptServiceOrder is the customer confirming the order:
// CREATED -> DOING+USER_CONFIRM, and a PAYSCORE.USER_CONFIRM notification.
func (s *Sandbox) AcceptServiceOrder(outOrderNo string) error {
	_, err := s.transitionServiceOrder(outOrderNo, "accept")
	return err
}

// PayServiceOrder is Pay Score's deduction succeeding:
// DOING+MCH_COMPLETE (collection USER_PAYING) -> DONE (USER_PAID, one
// NEWTON detail), and a PAYSCORE.USER_PAID notification. An order whose
// deductions fail (FailServiceOrderDeductions) is refused with
// ErrInvalidState and stays awaiting payment.
func (s *Sandbox) PayServiceOrder(outOrderNo string) error {
	_, err := s.transitionServiceOrder(outOrderNo, "pay")
	return err
}

// ExpireServiceOrder ends an unconfirmed order now: CREATED -> EXPIRED.
func (s *Sandbox) ExpireServiceOrder(outOrderNo string) error {
	_, err := s.transitionServiceOrder(outOrderNo, "expire")
	return err
}

// FailServiceOrderDeductions makes every deduction of the order fail (the
// customer cannot pay) or succeed again: while they fail, PayServiceOrder
// is refused and the merchant's pay leaves the order awaiting payment.
// It may be set in any state; it matters once the order is completed.
func (s *Sandbox) FailServiceOrderDeductions(outOrderNo string, fail bool) error {
	_, err := s.setDeductionsFail(outOrderNo, fail)
	return err
}

func (s *Sandbox) setDeductionsFail(outOrderNo string, fail bool) (ServiceOrder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.lookupServiceOrder(outOrderNo)
	if !ok {
		return ServiceOrder{}, fmt.Errorf("%w: service order out_order_no %q", ErrOrderNotExist, outOrderNo)
	}
	n := o.clone()
	n.DeductionsFail = fail
	p, err := s.commitServiceOrder(n)
	if err != nil {
		return ServiceOrder{}, err
	}
	return p.clone(), nil
}

// customerMove is Accept, Pay and Expire (and the admin API's
// /sandbox/orders/{out_order_no}/...): on the smart-retail order of that
// number when there is one, else on the service order.
func (s *Sandbox) customerMove(outOrderNo, action string) (any, error) {
	s.mu.Lock()
	_, smartRetail := s.orders[outOrderNo]
	_, service := s.serviceOrders[outOrderNo]
	s.mu.Unlock()
	if service && !smartRetail {
		return s.transitionServiceOrder(outOrderNo, action)
	}
	return s.transition(outOrderNo, action)
}

// transitionServiceOrder is the customer's and Pay Score's side of the
// service-order state machine (the Go and admin APIs).
func (s *Sandbox) transitionServiceOrder(outOrderNo, action string) (ServiceOrder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.lookupServiceOrder(outOrderNo)
	if !ok {
		return ServiceOrder{}, fmt.Errorf("%w: service order out_order_no %q", ErrOrderNotExist, outOrderNo)
	}
	n := o.clone()
	now := s.now()
	var event string
	switch {
	case action == "accept" && o.State == ServiceOrderCreated:
		n.confirm(now)
		event = EventUserConfirm
	case action == "pay" && o.awaitingPayment() && o.DeductionsFail:
		return o.clone(), fmt.Errorf("%w: the deductions of service order %s fail (FailServiceOrderDeductions); it stays awaiting payment", ErrInvalidState, outOrderNo)
	case action == "pay" && o.awaitingPayment():
		n.paid(PaidTypeNewton, formatWechatTime(now), newTransactionID(now))
		event = EventUserPaid
	case action == "expire" && o.State == ServiceOrderCreated:
		n.State = ServiceOrderExpired
	default:
		return o.clone(), fmt.Errorf("%w: cannot %s a service order in state %s", ErrInvalidState, action, o.stateName())
	}
	p, err := s.commitServiceOrder(n)
	if err != nil {
		return ServiceOrder{}, err
	}
	s.logf("sandbox: service order %s %s -> %s", outOrderNo, o.stateName(), p.stateName())
	if event != "" {
		s.notifier.post(p, event)
	}
	return p.clone(), nil
}

// confirm is the customer's confirmation (or a create without one).
func (o *ServiceOrder) confirm(now time.Time) {
	o.State, o.StateDescription = ServiceOrderDoing, DescUserConfirm
	t := now.UTC()
	o.ConfirmedAt = &t
	if o.OpenID == "" {
		// The confirming customer; WeChat Pay knows who, the sandbox draws one.
		o.OpenID = "oSandbox" + randString(alnum, 20)
	}
}

// paid ends a completed order paid: the whole amount due in one payment.
func (o *ServiceOrder) paid(paidType, paidTime, transactionID string) {
	c := o.Collection
	c.Details = append(c.Details, CollectionDetail{
		Seq: int64(len(c.Details) + 1), Amount: c.PayingAmount,
		PaidType: paidType, PaidTime: paidTime, TransactionID: transactionID,
	})
	c.PaidAmount += c.PayingAmount
	c.PayingAmount = 0
	c.State = CollectionUserPaid
	o.State, o.StateDescription = ServiceOrderDone, ""
}

func newTransactionID(now time.Time) string {
	return "4200" + now.In(cst).Format("20060102") + randString(digits, 16)
}

// serviceOrderStateError is the business error for an operation the
// order's state forbids (the fact sheet's section 4): a cancelled order is
// ORDER_CANCELED, a done one ORDER_DONE, any other INVALID_ORDER_STATE.
func serviceOrderStateError(o *ServiceOrder, op string) *apiError {
	switch o.State {
	case ServiceOrderRevoked:
		return newError(400, "ORDER_CANCELED", fmt.Sprintf("the order is cancelled (REVOKED): cannot %s it", op))
	case ServiceOrderDone:
		return newError(400, "ORDER_DONE", fmt.Sprintf("the order is done (DONE): cannot %s it", op))
	}
	state := o.stateName()
	if o.Collection != nil && o.State == ServiceOrderDoing {
		state += ", collection " + o.Collection.State
	}
	return newError(400, "INVALID_ORDER_STATE", fmt.Sprintf("order state invalid: cannot %s an order in state %s", op, strings.ToUpper(state)))
}
