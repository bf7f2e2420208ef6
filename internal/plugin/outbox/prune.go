package outbox

import (
	"bytes"
	"context"
	"fmt"
)

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
// scan of the whole outbox. It runs to the end; PruneContext stops when
// its context does.
func (s *Store) Prune() (orders, events int, err error) {
	return s.PruneContext(context.Background())
}

// PruneContext is Prune, stopping before its next batch once ctx ends: it
// returns what it pruned so far and an error wrapping ctx.Err(); what it
// did not reach stays for the next prune.
func (s *Store) PruneContext(ctx context.Context) (orders, events int, err error) {
	stopped := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("outbox %s: pruning stopped after %d orders and %d events (%w): the rest waits for the next prune", s.opts.Path, orders, events, err)
		}
		return nil
	}
	cutoff := s.opts.Now().Add(-s.opts.Retention)
	prunable := func(o *Order) bool { return o.State() == StateSubmitted && o.settledAt().Before(cutoff) }

	var old []string
	var after []byte // the last key read; the next read goes on from there
	for more := true; more; {
		if err := stopped(); err != nil {
			return orders, events, err
		}
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
		if err := stopped(); err != nil {
			return orders, events, err
		}
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
		if err := stopped(); err != nil {
			return orders, events, err
		}
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
