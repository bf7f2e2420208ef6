package outbox

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Limits bound what may wait offline. Zero means no limit.
type Limits struct {
	MaxOrders      int   // orders whose create waits
	MaxOrderAmount int64 // fen, one order
	MaxTotalAmount int64 // fen, all waiting orders
}

// Limit reasons, for hosts to switch on.
const (
	ReasonMaxOrders      = "MAX_QUEUED_ORDERS"
	ReasonMaxOrderAmount = "MAX_ORDER_AMOUNT"
	ReasonMaxTotalAmount = "MAX_QUEUED_AMOUNT"
	// ReasonNoAmount: an order with no amount (no risk_amount, no fees)
	// cannot be bounded by the amount limits, so it does not wait offline.
	ReasonNoAmount = "NO_AMOUNT"
)

// LimitError is an order refused because a limit would be passed.
type LimitError struct {
	Reason  string
	Message string
}

func (e *LimitError) Error() string { return e.Message }

// Enqueue stores a new order whose first operation is o.Ops[0], checked
// against lim, with ev (ORDER_QUEUED) in the event log. If the out_order_no
// is already stored, nothing changes and the stored order is returned with
// existed set: the caller decides whether it is the same request.
func (s *Store) Enqueue(o *Order, lim Limits, ev Event) (stored *Order, existed bool, err error) {
	if o.OutOrderNo == "" || len(o.Ops) == 0 {
		return nil, false, errors.New("outbox: an order needs an out_order_no and an operation")
	}
	err = s.update(func(tx *Tx) error {
		stored, existed = nil, false
		old, err := tx.get(o.OutOrderNo)
		if err != nil {
			return err
		}
		if old != nil {
			stored, existed = old, true
			return nil
		}
		if o.CreatePending() {
			if err := checkLimits(tx.stats(), o.Amount, lim); err != nil {
				return err
			}
		}
		n := *o
		n.Ops = append([]Op(nil), o.Ops...)
		if n.Seq, err = tx.tx.Bucket(bucketOrders).NextSequence(); err != nil {
			return err
		}
		if n.StoredAt.IsZero() {
			n.StoredAt = s.opts.Now()
		}
		s.stamp(&n)
		if err := tx.put(n.OutOrderNo, nil, &n); err != nil {
			return err
		}
		ev.OutOrderNo = n.OutOrderNo
		stored = &n
		return tx.appendEvent(ev)
	})
	return stored, existed, err
}

func checkLimits(st stats, amount int64, lim Limits) error {
	switch {
	case amount <= 0 && (lim.MaxOrderAmount > 0 || lim.MaxTotalAmount > 0):
		return &LimitError{ReasonNoAmount, "an order queued offline needs a risk_amount or fees: its amount is what the offline limits bound"}
	case lim.MaxOrderAmount > 0 && amount > lim.MaxOrderAmount:
		return &LimitError{ReasonMaxOrderAmount, fmt.Sprintf("order amount %d fen is above the offline limit of %d fen for one order", amount, lim.MaxOrderAmount)}
	case lim.MaxOrders > 0 && st.QueuedCount >= lim.MaxOrders:
		return &LimitError{ReasonMaxOrders, fmt.Sprintf("%d orders already wait offline, the limit is %d", st.QueuedCount, lim.MaxOrders)}
	case lim.MaxTotalAmount > 0 && st.QueuedAmount+amount > lim.MaxTotalAmount:
		return &LimitError{ReasonMaxTotalAmount, fmt.Sprintf("%d fen already wait offline; %d more would pass the limit of %d fen", st.QueuedAmount, amount, lim.MaxTotalAmount)}
	}
	return nil
}

// ErrNoChange, returned by a Modify function, leaves the order as it is
// without writing anything (no commit, no fsync): Modify then returns the
// stored order and no error.
var ErrNoChange = errors.New("outbox: no change")

// Modify changes one order atomically: fn gets the stored order (nil if
// none) and returns its new state (nil to delete it) and events to log, or
// ErrNoChange. fn must not keep or change anything outside: it may run more
// than once.
func (s *Store) Modify(outOrderNo string, fn func(o *Order) (*Order, []Event, error)) (*Order, error) {
	var result *Order
	var decided bool
	err := s.view(func(tx *Tx) error {
		// Decide on a read first: a call that changes nothing (a check
		// that finds nothing to do) or is refused then costs no commit.
		old, err := tx.get(outOrderNo)
		if err != nil {
			return err
		}
		_, _, err = fn(old.clone())
		switch {
		case errors.Is(err, ErrNoChange):
			decided, result = true, old
		case err != nil:
			decided = true
			return err
		}
		return nil
	})
	if err != nil || decided {
		return result, err
	}
	err = s.update(func(tx *Tx) error {
		old, err := tx.get(outOrderNo)
		if err != nil {
			return err
		}
		n, events, err := fn(old.clone())
		if errors.Is(err, ErrNoChange) {
			result = old // changed between the read and the write: nothing to do now
			return nil
		}
		if err != nil {
			return err
		}
		if n != nil {
			if n.OutOrderNo != outOrderNo {
				return fmt.Errorf("outbox: Modify(%q) returned order %q", outOrderNo, n.OutOrderNo)
			}
			if old == nil {
				if n.Seq, err = tx.tx.Bucket(bucketOrders).NextSequence(); err != nil {
					return err
				}
				if n.StoredAt.IsZero() {
					n.StoredAt = s.opts.Now()
				}
				s.stamp(n)
			} else {
				n.Seq = old.Seq
			}
		}
		if err := tx.put(outOrderNo, old, n); err != nil {
			return err
		}
		for _, ev := range events {
			if ev.OutOrderNo == "" {
				ev.OutOrderNo = outOrderNo
			}
			if err := tx.appendEvent(ev); err != nil {
				return err
			}
		}
		result = n
		return nil
	})
	return result, err
}

// Get reads one order; nil, nil when the outbox has none by that number.
func (s *Store) Get(outOrderNo string) (*Order, error) {
	var o *Order
	err := s.view(func(tx *Tx) error {
		var err error
		o, err = tx.get(outOrderNo)
		return err
	})
	return o, err
}

// Due lists up to n orders with work to do, oldest first, leaving out
// those skip names (busy elsewhere). Unreadable records are skipped: they
// are set aside at the next open.
func (s *Store) Due(n int, skip func(outOrderNo string) bool) ([]*Order, error) {
	var out []*Order
	err := s.view(func(tx *Tx) error {
		c := tx.tx.Bucket(bucketQueue).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			if skip != nil && skip(string(v)) {
				continue
			}
			o, err := tx.get(string(v))
			if err != nil || o == nil {
				s.opts.Logf("outbox: queue entry %d: %v", seqOf(k), err)
				continue
			}
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

// List returns, in queue order, up to n orders (every one when n <= 0) in
// state st whose queue position (Order.Seq) is after after, and whether
// more follow: a page of StateQueued (orders with work to do, sending
// included), StateFailed (the failed list) or "" (every order). Pages are
// read with after set to the last page's last Seq.
//
// The waiting orders are read from the queue index, already in queue
// order: a page decodes only its own records. The failed list's index is
// keyed by out_order_no, so its records are all decoded to be put in
// order; it holds only what WeChat Pay refused and an operator has not
// yet dropped. Unreadable records are left out: they are set aside at the
// next open.
func (s *Store) List(st State, after uint64, n int) (orders []*Order, more bool, err error) {
	err = s.view(func(tx *Tx) error {
		if st == StateQueued {
			orders, more = tx.queuePage(after, n)
			return nil
		}
		var all []*Order
		if st == StateFailed {
			c := tx.tx.Bucket(bucketFailed).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if o, err := tx.get(string(k)); err == nil && o != nil && o.Seq > after {
					all = append(all, o)
				}
			}
		} else {
			c := tx.tx.Bucket(bucketOrders).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if o, err := tx.decode(k, v); err == nil && o.Seq > after && (st == "" || o.State() == st) {
					all = append(all, o)
				}
			}
		}
		sortBySeq(all)
		if n > 0 && len(all) > n {
			all, more = all[:n], true
		}
		orders = all
		return nil
	})
	return orders, more, err
}

// queuePage reads up to n orders (all when n <= 0) from the queue index
// after queue position after, and says whether more follow.
func (t *Tx) queuePage(after uint64, n int) (out []*Order, more bool) {
	if after == math.MaxUint64 {
		return nil, false
	}
	c := t.tx.Bucket(bucketQueue).Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
		if n > 0 && len(out) == n {
			return out, true
		}
		o, err := t.get(string(v))
		if err != nil || o == nil {
			t.s.opts.Logf("outbox: queue entry %d: %v", seqOf(k), err)
			continue
		}
		out = append(out, o)
	}
	return out, false
}

// sortBySeq puts orders in queue order.
func sortBySeq(os []*Order) {
	slices.SortFunc(os, func(a, b *Order) int { return cmp.Compare(a.Seq, b.Seq) })
}

// SameBody compares two request bodies as JSON documents.
func SameBody(a, b []byte) bool { return bytes.Equal(compactJSON(a), compactJSON(b)) }

// compactJSON removes insignificant space, so equal documents compare equal.
func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// stamp gives a new order its Since, when the caller gave none.
func (s *Store) stamp(o *Order) {
	if o.Since == nil && s.opts.Stamp != nil {
		st := s.opts.Stamp()
		o.Since = &st
	}
}
