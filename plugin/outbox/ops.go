package outbox

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
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

// AppendEvent logs an event not tied to an order change.
func (s *Store) AppendEvent(ev Event) error {
	return s.update(func(tx *Tx) error { return tx.appendEvent(ev) })
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

// Stats summarise the outbox for status.
type Stats struct {
	QueuedCount   int       // orders whose create waits
	QueuedAmount  int64     // their amounts, fen
	FailedCount   int       // orders on the failed list
	WorkCount     int       // orders with any operation waiting
	OldestWork    time.Time // when the oldest of those was stored; zero if none
	CorruptCount  int       // records set aside
	LastEventSeq  uint64    // the newest event's sequence number
	FirstEventSeq uint64    // the oldest event still kept; 0 when none
}

// Stats reads the counters; it does not scan the records.
func (s *Store) Stats() (Stats, error) {
	var out Stats
	err := s.view(func(tx *Tx) error {
		st := tx.stats()
		out.QueuedCount, out.QueuedAmount, out.FailedCount, out.WorkCount = st.QueuedCount, st.QueuedAmount, st.FailedCount, st.WorkCount
		if k, v := tx.tx.Bucket(bucketQueue).Cursor().First(); k != nil {
			if o, err := tx.get(string(v)); err == nil && o != nil {
				out.OldestWork = o.StoredAt
			}
		}
		out.CorruptCount = tx.tx.Bucket(bucketCorrupt).Stats().KeyN // small: set-aside records only
		events := tx.tx.Bucket(bucketEvents)
		out.LastEventSeq = events.Sequence()
		if k, _ := events.Cursor().First(); k != nil {
			out.FirstEventSeq = seqOf(k)
		}
		return nil
	})
	return out, err
}

// EventsAfter returns up to max events with sequence numbers above seq.
// Where the log has a hole (an event that cannot be read, or numbers
// missing within the log), it returns an EventsLost event in its place,
// numbered as the last event it stands for, so a host never skips one
// silently. Events pruned from the front are not holes here: the log
// starts later (Stats.FirstEventSeq), which the caller reports. An event
// that cannot be read is set aside, counted in Stats.CorruptCount.
func (s *Store) EventsAfter(seq uint64, max int) ([]Event, error) {
	var out []Event
	var unreadable [][]byte
	err := s.view(func(tx *Tx) error {
		c := tx.tx.Bucket(bucketEvents).Cursor()
		next := seq + 1 // the number the next event should have; 0: any
		if seq == 0 {
			next = 0
		}
		for k, v := c.Seek(u64(seq + 1)); k != nil && len(out) < max; k, v = c.Next() {
			n := seqOf(k)
			if next != 0 && n > next {
				out = append(out, lostEvents(next, n-1, "are missing from the event log (damaged)"))
				if len(out) == max {
					break
				}
			}
			next = n + 1
			ev, err := tx.event(k, v)
			if err != nil {
				s.opts.Logf("outbox: event %d cannot be read: %v", n, err)
				unreadable = append(unreadable, append([]byte(nil), k...))
				out = append(out, lostEvents(n, n, "cannot be read (damaged) and was set aside"))
				continue
			}
			out = append(out, ev)
		}
		return nil
	})
	if err == nil && len(unreadable) > 0 && !s.opts.ReadOnly {
		err = s.update(func(tx *Tx) error {
			for _, k := range unreadable {
				if v := tx.tx.Bucket(bucketEvents).Get(k); v == nil {
					continue // set aside already, by a concurrent reader
				} else if _, err := tx.event(k, v); err == nil {
					continue
				}
				if err := tx.setAside(bucketEvents, k, "cannot be read"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return out, err
}

// lostEvents stands for events first to last that cannot be delivered.
func lostEvents(first, last uint64, why string) Event {
	msg := fmt.Sprintf("event %d %s: query the orders you need", first, why)
	if last > first {
		msg = fmt.Sprintf("events %d to %d %s: query the orders you need", first, last, why)
	}
	return Event{Seq: last, Type: EventEventsLost, Time: time.Now(), Message: msg}
}

// pruneBatch bounds how many records one of Prune's transactions reads or
// deletes, so that no sale waits long behind it (a variable for tests).
var pruneBatch = 1000

// afterPruneRead, when set (by tests), runs between Prune's reading and
// its deleting: where another change can come in between.
var afterPruneRead func()

// Prune deletes submitted orders settled longer ago than the retention
// period, and events older than it. Queued and failed orders are never
// pruned: they wait for the network or for a person.
//
// It reads in short read transactions (writers do not wait on readers)
// and deletes in short commits that check each order again, so a sale
// being queued meanwhile waits for one small commit at most, not for a
// scan of the whole outbox.
func (s *Store) Prune() (orders, events int, err error) {
	cutoff := s.opts.Now().Add(-s.opts.Retention)
	prunable := func(o *Order) bool { return o.State() == StateSubmitted && o.settledAt().Before(cutoff) }

	var old []string
	var after []byte // the last key read; the next read goes on from there
	for more := true; more; {
		err := s.view(func(tx *Tx) error {
			c := tx.tx.Bucket(bucketOrders).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for n := 0; n < max(pruneBatch, 1); n++ {
				if k == nil {
					more = false
					return nil
				}
				if o, err := tx.decode(k, v); err == nil && prunable(o) {
					old = append(old, o.OutOrderNo)
				}
				after = append(after[:0], k...)
				k, v = c.Next()
			}
			return nil
		})
		if err != nil {
			return orders, events, err
		}
	}
	if afterPruneRead != nil {
		afterPruneRead()
	}
	for len(old) > 0 {
		batch := old[:min(len(old), max(pruneBatch, 1))]
		old = old[len(batch):]
		var n int
		err := s.update(func(tx *Tx) error {
			n = 0 // a commit may run this more than once
			for _, no := range batch {
				o, err := tx.get(no)
				if err != nil || o == nil || !prunable(o) {
					continue // unreadable (set aside at the next open), gone, or changed since
				}
				if err := tx.put(no, o, nil); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return orders, events, err
		}
		orders += n
	}

	// Events are in time order: delete from the oldest until the first
	// one young enough. One that cannot be read before it goes too: it
	// cannot be served (EventsAfter reports it lost) and must not stop pruning.
	for {
		var n int
		var done bool
		err := s.update(func(tx *Tx) error {
			n, done = 0, true
			b := tx.tx.Bucket(bucketEvents)
			var stale [][]byte
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				ev, err := tx.event(k, v)
				if err == nil && !ev.Time.Before(cutoff) {
					break
				}
				if len(stale) >= max(pruneBatch, 1) {
					done = false
					break
				}
				if err != nil {
					s.opts.Logf("outbox: event %d cannot be read (%v): pruned", seqOf(k), err)
				}
				stale = append(stale, append([]byte(nil), k...))
			}
			for _, k := range stale {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(stale)
			return nil
		})
		if err != nil {
			return orders, events, err
		}
		events += n
		if done {
			return orders, events, nil
		}
	}
}

// CorruptRecord is a value set aside because it could not be read.
type CorruptRecord struct {
	Where string // bucket/key
	Size  int
}

// Corrupt lists the records set aside.
func (s *Store) Corrupt() ([]CorruptRecord, error) {
	var out []CorruptRecord
	err := s.view(func(tx *Tx) error {
		return tx.tx.Bucket(bucketCorrupt).ForEach(func(k, v []byte) error {
			out = append(out, CorruptRecord{Where: string(k), Size: len(v)})
			return nil
		})
	})
	return out, err
}

// Compact rewrites the file without its free pages (a bbolt file never
// shrinks by itself) and returns the sizes before and after. Writes wait
// while it runs.
func (s *Store) Compact() (before, after int64, err error) {
	if s.opts.ReadOnly {
		return 0, 0, ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	path := s.opts.Path
	if fi, err := os.Stat(path); err == nil {
		before = fi.Size()
	}
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, BoltOptions(s.opts.LockTimeout))
	if err != nil {
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	dst.Close()
	if err := s.db.Close(); err != nil {
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	renameErr := os.Rename(tmp, path)
	if renameErr == nil {
		if err := s.opts.dirSync(filepath.Dir(path)); err != nil {
			// A power cut may yet bring back the old file, without what
			// is written from now on: write nothing until a restart.
			s.closed = true
			s.lock.release()
			return 0, 0, fmt.Errorf("outbox compact: the compacted file is in place, but its rename may not survive a power cut: %w (the outbox is closed: restart the plugin)", err)
		}
	}
	// Reopen the compacted file, or the intact old one if the rename failed.
	db, err := openDB(path, s.opts.LockTimeout, false, nil)
	if err != nil {
		// Nothing to work on: the store is closed, and says why.
		s.closed = true
		s.lock.release()
		return 0, 0, fmt.Errorf("outbox compact: reopening %s: %w (the outbox is closed: restart the plugin)", path, err)
	}
	s.db = db
	if renameErr != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("outbox compact: %w", renameErr)
	}
	if fi, err := os.Stat(path); err == nil {
		after = fi.Size()
	}
	return before, after, nil
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
