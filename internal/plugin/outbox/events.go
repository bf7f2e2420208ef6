package outbox

import (
	"fmt"
	"time"
)

// AppendEvent logs an event not tied to an order change.
func (s *Store) AppendEvent(ev Event) error {
	return s.update(func(tx *Tx) error { return tx.appendEvent(ev) })
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
