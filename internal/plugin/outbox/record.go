package outbox

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
)

// recordVersion is the format of an Order record. A reader meets only
// versions it knows; anything else is set aside as corrupt, not guessed at.
const recordVersion = 1

// OpKind is what an operation does at WeChat Pay.
type OpKind string

// The operations, in the only order they can occur for one order.
const (
	OpCreate   OpKind = "create"
	OpCancel   OpKind = "cancel"
	OpComplete OpKind = "complete"
	// OpModify lowers a completed service order's amount (service orders
	// only); it comes after the complete.
	OpModify OpKind = "modify"
	// OpPay and OpSync (service orders: collect again; paid by other
	// means) are sent online only, never kept.
	OpPay  OpKind = "pay"
	OpSync OpKind = "sync"
)

// OpState is how far an operation got.
type OpState string

// Operation states. InFlight is committed before the request leaves, so a
// crash after sending is found as InFlight and reconciled, never resent blind.
const (
	OpPending  OpState = "pending"   // not sent yet
	OpInFlight OpState = "in_flight" // sent, or about to be: the outcome is unknown until reconciled
	OpDone     OpState = "done"      // WeChat Pay accepted it
	OpFailed   OpState = "failed"    // WeChat Pay refused it for good, or it expired
)

// Op is one operation on an order. Body is the WeChat Pay request body,
// opaque here; Result is WeChat Pay's answer once done.
type Op struct {
	Kind      OpKind          `json:"kind"`
	Body      json.RawMessage `json:"body,omitempty"`
	State     OpState         `json:"state"`
	AddedAt   time.Time       `json:"added_at"`
	Attempts  int             `json:"attempts,omitempty"`
	LastError string          `json:"last_error,omitempty"`
	DoneAt    time.Time       `json:"done_at,omitzero"`
	Result    json.RawMessage `json:"result,omitempty"`
	// SentAs is what went to WeChat Pay when it is not Kind: a cancel of
	// an order the customer had confirmed goes as a complete.
	SentAs OpKind `json:"sent_as,omitempty"`
	// Asked is when the host asked for it, with what was known of the
	// time then (nil in records from before it): a complete sent later
	// says when the sale really ended.
	Asked *clock.Stamp `json:"asked,omitempty"`
}

// ResultOf is WeChat Pay's answer as an Op's Result. The answers are plain
// structs, which always marshal; one that did not would be kept as none.
func ResultOf(answer any) json.RawMessage {
	b, _ := json.Marshal(answer)
	return b
}

// Failure says why an order is on the failed list.
type Failure struct {
	Code    string    `json:"code"` // WeChat Pay's code, or EXPIRED_OFFLINE, ...
	Message string    `json:"message"`
	Op      OpKind    `json:"op"`
	At      time.Time `json:"at"`
}

// Order is everything the outbox keeps about one order.
type Order struct {
	Version    int       `json:"v"`
	OutOrderNo string    `json:"out_order_no"`
	Seq        uint64    `json:"seq"` // queue position: first come, first sent
	StoredAt   time.Time `json:"stored_at"`
	// Amount (fen) counts against the offline limits while the create is
	// not done: the most the customer can be charged for it.
	Amount  int64    `json:"amount"`
	Ops     []Op     `json:"ops"`
	Failure *Failure `json:"failure,omitempty"`
	// ReconcileOnly: the host asked never to queue this order, but its
	// create may have reached WeChat Pay. It is only ever queried: found,
	// it is submitted; not found, it fails as not created. Never resent.
	ReconcileOnly bool `json:"reconcile_only,omitempty"`
	// RetriedAt: when a person put the order back from the failed list;
	// its age for expiry counts from then.
	RetriedAt time.Time `json:"retried_at,omitzero"`
	// Since is when its time to expire started (stored, or retried), with
	// what was known of the time then; nil in records from before it, whose
	// StoredAt or RetriedAt stands for it (AgeStamp).
	Since *clock.Stamp `json:"since,omitempty"`
	// API is the WeChat Pay API the order was made for (payscore_api):
	// its operations are sent there, whatever the config says later. ""
	// is smartretail (records from before there were two).
	API string `json:"api,omitempty"`
}

// AgeFrom is when the order's time to expire started: stored, or retried.
func (o *Order) AgeFrom() time.Time {
	if o.RetriedAt.After(o.StoredAt) {
		return o.RetriedAt
	}
	return o.StoredAt
}

// AgeStamp is when the order's time to expire started, as a stamp.
func (o *Order) AgeStamp() clock.Stamp {
	if o.Since != nil {
		return *o.Since
	}
	return clock.WallStamp(o.AgeFrom())
}

// State is an order's state in the outbox, derived from its operations.
type State string

// Order states.
const (
	StateQueued     State = "QUEUED"     // waiting to be sent
	StateSubmitting State = "SUBMITTING" // an operation is in flight or unsettled
	StateSubmitted  State = "SUBMITTED"  // every operation done; kept for the retention period
	StateFailed     State = "FAILED"     // on the failed list until retried or dropped
)

// clone is a copy whose operations can be changed without touching o;
// nil stays nil.
func (o *Order) clone() *Order {
	if o == nil {
		return nil
	}
	c := *o
	c.Ops = append([]Op(nil), o.Ops...)
	return &c
}

// State derives the order's state from its operations.
func (o *Order) State() State {
	switch {
	case o.Failure != nil:
		return StateFailed
	case o.Next() < 0:
		return StateSubmitted
	case o.Ops[o.Next()].State == OpInFlight:
		return StateSubmitting
	default:
		return StateQueued
	}
}

// Next is the index of the first operation not done, or -1.
func (o *Order) Next() int {
	for i := range o.Ops {
		if o.Ops[i].State != OpDone {
			return i
		}
	}
	return -1
}

// CreatePending says whether the order's create has not been confirmed: it
// then counts against the offline limits.
func (o *Order) CreatePending() bool {
	if o.ReconcileOnly {
		return false // never sent from the outbox: it does not wait to be
	}
	for _, op := range o.Ops {
		if op.Kind == OpCreate {
			return op.State != OpDone && o.Failure == nil
		}
	}
	return false
}

// Has says whether the order has an operation of kind k.
func (o *Order) Has(k OpKind) bool {
	for _, op := range o.Ops {
		if op.Kind == k {
			return true
		}
	}
	return false
}

// settledAt is when the order's last operation was done: retention counts
// from there.
func (o *Order) settledAt() time.Time {
	var t time.Time
	for _, op := range o.Ops {
		if op.DoneAt.After(t) {
			t = op.DoneAt
		}
	}
	return t
}

func decodeOrder(plain []byte) (*Order, error) {
	var o Order
	if err := json.Unmarshal(plain, &o); err != nil {
		return nil, fmt.Errorf("record is not valid JSON: %v", err)
	}
	if o.Version != recordVersion {
		return nil, fmt.Errorf("record format version %d, this plugin reads version %d", o.Version, recordVersion)
	}
	if o.OutOrderNo == "" || len(o.Ops) == 0 {
		return nil, fmt.Errorf("record has no out_order_no or no operations")
	}
	return &o, nil
}
