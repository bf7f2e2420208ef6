package outbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is one transaction on the outbox.
type Tx struct {
	s      *Store
	tx     *bolt.Tx
	events bool
}

// place binds a sealed value to where it is stored.
func place(bucket, key []byte) []byte {
	return append(append(append([]byte(nil), bucket...), '/'), key...)
}

func (t *Tx) decode(key, sealed []byte) (*Order, error) {
	plain, err := unseal(t.s.aead, place(bucketOrders, key), sealed)
	if err != nil {
		return nil, err
	}
	o, err := decodeOrder(plain)
	if err != nil {
		return nil, err
	}
	if o.OutOrderNo != string(key) {
		return nil, fmt.Errorf("record for %q is stored under %q", o.OutOrderNo, key)
	}
	return o, nil
}

// get reads an order; nil, nil when there is none. A record that cannot
// be read is an error naming it: callers never mistake it for absent.
func (t *Tx) get(outOrderNo string) (*Order, error) {
	v := t.tx.Bucket(bucketOrders).Get([]byte(outOrderNo))
	if v == nil {
		return nil, nil
	}
	o, err := t.decode([]byte(outOrderNo), v)
	if err != nil {
		return nil, &CorruptError{OutOrderNo: outOrderNo, Err: err}
	}
	return o, nil
}

// CorruptError is an order record that cannot be read.
type CorruptError struct {
	OutOrderNo string
	Err        error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("outbox record %q cannot be read: %v", e.OutOrderNo, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// stats are counters kept in step with the records, so limits and status
// cost one read however large the outbox grows. Open recounts them from
// the records, so their encoding is this version's own: fixed-size binary,
// as they are read and written by every change.
type stats struct {
	QueuedCount  int   // orders whose create is not done
	QueuedAmount int64 // their amounts
	FailedCount  int
	WorkCount    int // orders in the queue index: any operation waiting
}

var keyStats = []byte("stats")

const statsSize = 1 + 4*8 // version byte, four int64

func (t *Tx) stats() stats {
	v := t.tx.Bucket(bucketMeta).Get(keyStats)
	if len(v) != statsSize || v[0] != 1 {
		return stats{} // none yet; a value from another version is recounted at open
	}
	n := func(i int) int64 { return int64(binary.BigEndian.Uint64(v[1+8*i:])) }
	return stats{QueuedCount: int(n(0)), QueuedAmount: n(1), FailedCount: int(n(2)), WorkCount: int(n(3))}
}

func (t *Tx) putStats(st stats) error {
	v := make([]byte, 1, statsSize)
	v[0] = 1
	for _, n := range []int64{int64(st.QueuedCount), st.QueuedAmount, int64(st.FailedCount), int64(st.WorkCount)} {
		v = binary.BigEndian.AppendUint64(v, uint64(n))
	}
	return t.tx.Bucket(bucketMeta).Put(keyStats, v)
}

// needsWork says whether an order belongs in the queue index.
func needsWork(o *Order) bool {
	return o != nil && o.Failure == nil && o.Next() >= 0
}

// put stores o (nil deletes the record for outOrderNo), keeping the queue
// index, the failed index and the counters in step with it.
func (t *Tx) put(outOrderNo string, old, o *Order) error {
	key := []byte(outOrderNo)
	st := t.stats()
	count := func(x *Order, sign int) {
		if x == nil {
			return
		}
		if x.CreatePending() {
			st.QueuedCount += sign
			st.QueuedAmount += int64(sign) * x.Amount
		}
		if x.Failure != nil {
			st.FailedCount += sign
		}
		if needsWork(x) {
			st.WorkCount += sign
		}
	}
	count(old, -1)
	count(o, +1)
	queue, failed := t.tx.Bucket(bucketQueue), t.tx.Bucket(bucketFailed)
	if old != nil {
		if err := queue.Delete(u64(old.Seq)); err != nil {
			return err
		}
	}
	if o == nil {
		if err := failed.Delete(key); err != nil {
			return err
		}
		if err := t.tx.Bucket(bucketOrders).Delete(key); err != nil {
			return err
		}
		return t.putStats(st)
	}
	if needsWork(o) {
		if err := queue.Put(u64(o.Seq), key); err != nil {
			return err
		}
	}
	if o.Failure != nil {
		if err := failed.Put(key, nil); err != nil {
			return err
		}
	} else if err := failed.Delete(key); err != nil {
		return err
	}
	if err := t.writeRecord(o); err != nil {
		return err
	}
	return t.putStats(st)
}

// writeRecord seals and stores o's record, and nothing else.
func (t *Tx) writeRecord(o *Order) error {
	o.Version = recordVersion
	plain, err := json.Marshal(o)
	if err != nil {
		return err
	}
	key := []byte(o.OutOrderNo)
	return t.tx.Bucket(bucketOrders).Put(key, seal(t.s.aead, place(bucketOrders, key), plain))
}

// index adds a stored order to the indexes and counters (used by check).
func (t *Tx) index(o *Order) error {
	st := t.stats()
	if o.CreatePending() {
		st.QueuedCount++
		st.QueuedAmount += o.Amount
	}
	if o.Failure != nil {
		st.FailedCount++
		if err := t.tx.Bucket(bucketFailed).Put([]byte(o.OutOrderNo), nil); err != nil {
			return err
		}
	}
	if needsWork(o) {
		st.WorkCount++
		if err := t.tx.Bucket(bucketQueue).Put(u64(o.Seq), []byte(o.OutOrderNo)); err != nil {
			return err
		}
	}
	return t.putStats(st)
}

// setAside moves an unreadable value to the corrupt bucket.
func (t *Tx) setAside(bucket, key []byte, why string) error {
	v := t.tx.Bucket(bucket).Get(key)
	if err := t.tx.Bucket(bucketCorrupt).Put(place(bucket, key), append([]byte(nil), v...)); err != nil {
		return err
	}
	if err := t.tx.Bucket(bucket).Delete(key); err != nil {
		return err
	}
	t.s.opts.Logf("outbox: record %s/%s %s: set aside in the corrupt list", bucket, key, why)
	return nil
}

// appendEvent adds ev to the event log with the next sequence number.
func (t *Tx) appendEvent(ev Event) error {
	b := t.tx.Bucket(bucketEvents)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	ev.Seq = seq
	if ev.Time.IsZero() {
		ev.Time = t.s.opts.Now()
	}
	plain, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	key := u64(seq)
	t.events = true
	return b.Put(key, seal(t.s.aead, place(bucketEvents, key), plain))
}

func seqOf(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// event reads one sealed event of the log.
func (t *Tx) event(key, sealed []byte) (Event, error) {
	var ev Event
	plain, err := unseal(t.s.aead, place(bucketEvents, key), sealed)
	if err != nil {
		return ev, err
	}
	if err := json.Unmarshal(plain, &ev); err != nil {
		return ev, err
	}
	return ev, nil
}

// Event is something a host may want to know, in the order it happened.
type Event struct {
	Seq        uint64    `json:"seq"`
	Type       string    `json:"type"`
	Time       time.Time `json:"time"`
	OutOrderNo string    `json:"out_order_no,omitempty"`
	Op         OpKind    `json:"op,omitempty"`
	OrderID    string    `json:"order_id,omitempty"`
	Package    string    `json:"package,omitempty"`
	Code       string    `json:"code,omitempty"`
	Message    string    `json:"message,omitempty"`
	Network    string    `json:"network,omitempty"`
	// ClockOffset: WeChat Pay's time less the kiosk's (CLOCK_SKEW).
	ClockOffset time.Duration `json:"clock_offset,omitempty"`
	// APIBaseURL: the domain requests go to now (API_DOMAIN_CHANGED).
	APIBaseURL string `json:"api_base_url,omitempty"`
}

// Event types.
const (
	EventOrderQueued          = "ORDER_QUEUED"
	EventOrderSubmitted       = "ORDER_SUBMITTED"
	EventOrderFailed          = "ORDER_FAILED"
	EventOperationQueued      = "OPERATION_QUEUED"
	EventOperationSubmitted   = "OPERATION_SUBMITTED"
	EventNetworkStatusChanged = "NETWORK_STATUS_CHANGED"
	EventClockSkew            = "CLOCK_SKEW"
	EventAPIDomainChanged     = "API_DOMAIN_CHANGED"
	// EventEventsLost stands, in what EventsAfter returns, for events
	// that cannot be delivered; it is never stored.
	EventEventsLost = "EVENTS_LOST"
)
