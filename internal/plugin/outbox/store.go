// Package outbox is the plugin's durable store of orders it could not send
// yet: a bbolt file at outbox_path holding each queued order, the operations
// queued on it (create, then cancel or complete) in the order the host made
// them, the failed list, and the event log hosts resume from.
//
// Every record is sealed with AES-256-GCM (records hold the customer's
// openid); the key lives in its own file. Every change is committed with
// fsync before the caller is answered. Concurrent changes share one commit
// (group commit) without waiting on a timer: whatever arrives while a commit
// runs goes into the next one.
package outbox

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
)

// Buckets.
var (
	bucketOrders  = []byte("orders")  // out_order_no -> sealed Order
	bucketQueue   = []byte("queue")   // seq -> out_order_no, orders with work to do
	bucketFailed  = []byte("failed")  // out_order_no -> "", the failed list
	bucketEvents  = []byte("events")  // seq -> sealed Event
	bucketCorrupt = []byte("corrupt") // "bucket/key" -> raw value, set aside
	bucketMeta    = []byte("meta")
	keyCheck      = []byte("key_check") // a sealed known value: proves the key
	keyFormat     = []byte("format")
)

const (
	formatVersion = "1"
	keyCheckValue = "smartretail outbox key check"
	// DefaultLockTimeout bounds the wait for another process's lock.
	DefaultLockTimeout = 2 * time.Second
	// DefaultRetention keeps submitted orders and events for queries and audit.
	DefaultRetention = 7 * 24 * time.Hour
	// maxBatch caps how many changes share one commit.
	maxBatch = 1000
)

// Options configure a Store.
type Options struct {
	// Path is the bbolt file; KeyFile the hex AES-256 key (default
	// outbox.key beside Path), created 0600 when neither exists yet.
	Path    string
	KeyFile string
	// LockTimeout bounds the wait for the file lock (DefaultLockTimeout).
	LockTimeout time.Duration
	// Retention keeps submitted orders and events (DefaultRetention).
	Retention time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// Stamp stamps a new order's Since when it has none (nil: none).
	Stamp func() clock.Stamp
	// Logf reports records set aside and other things an operator must
	// know; nil discards them. It never receives record contents.
	Logf func(format string, args ...any)
	// ReadOnly opens the outbox to look at it, changing nothing: a shared
	// lock (other readers may look too; an owner waits), no writes, and no
	// outbox or key is made when there is none.
	ReadOnly bool

	// dirSync makes a creation or rename in a folder durable (syncDir);
	// tests make it fail.
	dirSync func(dir string) error
}

// Store is an open outbox. Safe for concurrent use.
type Store struct {
	opts Options
	aead cipher.AEAD

	// mu guards db against Compact, which swaps the file underneath.
	mu     sync.RWMutex
	db     *bolt.DB
	closed bool
	lock   *lockFile // held from Open to Close, compaction included

	// qmu guards the write queue of the group commit (see update).
	qmu        sync.Mutex
	queue      []*write
	committing bool
	stopped    bool
	idle       *sync.Cond // signalled when no commit runs

	// notify is closed and replaced after every commit that added events.
	notifyMu sync.Mutex
	notify   chan struct{}
}

// ErrClosed is returned for work on a closed Store.
var ErrClosed = errors.New("outbox: closed")

// ErrReadOnly is returned for a change to a Store opened ReadOnly.
var ErrReadOnly = errors.New("outbox: opened to look at only, it takes no changes")

// Path is the outbox file.
func (s *Store) Path() string { return s.opts.Path }

func u64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}
