package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// LockError says another process holds the outbox.
type LockError struct {
	Path string
	PID  int // 0 when unknown
}

func (e *LockError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("outbox %s is locked by another process (pid %d, still running): one plugin per outbox; stop it or give this one another outbox_path", e.Path, e.PID)
	}
	return fmt.Sprintf("outbox %s is locked by another process: one plugin per outbox; stop it or give this one another outbox_path", e.Path)
}

// Open opens (or creates) the outbox, checks the key against it, and sets
// aside any record it cannot read. A damaged file is refused (an error
// wrapping ErrDamaged) before bbolt reads it: bbolt crashes the process on
// some damage, which no recover can catch.
func Open(opts Options) (*Store, error) {
	return OpenContext(context.Background(), opts)
}

// OpenContext is Open, with the wait for another process's lock ending
// when ctx does (as well as after LockTimeout): the error then wraps
// ctx.Err() and a *LockError naming the outbox. A ctx already over opens
// nothing.
func OpenContext(ctx context.Context, opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("outbox: no path")
	}
	if opts.KeyFile == "" {
		opts.KeyFile = filepath.Join(filepath.Dir(opts.Path), "outbox.key")
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.dirSync == nil {
		opts.dirSync = syncDir
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.ReadOnly {
		if _, err := os.Stat(opts.Path); err != nil {
			if serr := unfinishedSalvage(opts.Path); serr != nil {
				return nil, serr
			}
			return nil, noOutbox(opts.Path)
		}
	} else if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("outbox %s: %w", opts.Path, err)
	}
	lock, err := acquireLock(ctx, opts.Path, opts.LockTimeout, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	s, err := openLocked(opts, lock)
	if err != nil {
		lock.release()
		return nil, err
	}
	return s, nil
}

func noOutbox(path string) error {
	return fmt.Errorf("there is no outbox at %s to look at (no file, or an empty one): the plugin makes it when it is first configured", path)
}

// salvageAdvice is what an operator does with a damaged outbox.
const salvageAdvice = "the plugin will not open it. Stop every plugin that uses it and run `smartretail queue salvage --config CONFIG`: it copies every order that can still be read into a new outbox, keeps the damaged file beside it, and lists what could not be read"

// openLocked opens the outbox whose owner lock the caller holds.
func openLocked(opts Options, lock *lockFile) (*Store, error) {
	fi, statErr := os.Stat(opts.Path)
	fresh := errors.Is(statErr, os.ErrNotExist)
	if fresh {
		if err := unfinishedSalvage(opts.Path); err != nil {
			return nil, err
		}
	}
	empty := statErr == nil && fi.Size() == 0
	if _, err := os.Stat(opts.KeyFile); err == nil && empty {
		// bbolt would make a new, empty outbox of it. A key beside it
		// proves an outbox with orders existed: they are gone, and that
		// must be said, not papered over.
		return nil, fmt.Errorf("outbox %s is an empty file (0 bytes) but its key %s exists: the outbox's orders were lost (the file was truncated or replaced); restore it from a backup, or, to start a new empty outbox knowingly, delete the empty file", opts.Path, opts.KeyFile)
	}
	switch {
	case opts.ReadOnly && (fresh || empty):
		return nil, noOutbox(opts.Path)
	case opts.ReadOnly:
	case empty:
		fresh = true
	default:
		// A compaction killed midway leaves its copy: nobody else can be
		// compacting (we hold the lock), so it is garbage.
		if err := os.Remove(opts.Path + ".compact"); err == nil {
			opts.Logf("outbox: removed %s.compact, left by a compaction that did not finish", opts.Path)
		}
	}
	if !fresh {
		if err := CheckFile(opts.Path); err != nil {
			if errors.Is(err, ErrDamaged) {
				return nil, fmt.Errorf("%w; %s", err, salvageAdvice)
			}
			return nil, fmt.Errorf("outbox %s: %w", opts.Path, err)
		}
	}
	var s *Store
	err := noFaults(opts.Path, func(track func(*os.File)) error {
		db, err := openDB(opts.Path, opts.LockTimeout, opts.ReadOnly, track)
		if err != nil {
			return err
		}
		key, err := loadOrCreateKey(opts.KeyFile, !opts.ReadOnly && (fresh || isEmpty(db)), opts.dirSync)
		if err != nil {
			db.Close()
			return err
		}
		aead, err := newAEAD(key)
		if err != nil {
			db.Close()
			return &KeyFileError{Path: opts.KeyFile, Err: err}
		}
		s = &Store{opts: opts, aead: aead, db: db, lock: lock, notify: make(chan struct{})}
		s.idle = sync.NewCond(&s.qmu)
		if err := s.init(); err != nil {
			db.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// noFaults runs fn (opening and reading the outbox) so that a memory fault
// or a panic in bbolt, on damage the file check did not see, is an error
// naming the damage rather than the end of the process; the files fn
// opened are closed then, so that no lock stays behind.
func noFaults(path string, fn func(track func(*os.File)) error) (err error) {
	var mu sync.Mutex
	var opened []*os.File
	track := func(f *os.File) {
		mu.Lock()
		opened = append(opened, f)
		mu.Unlock()
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			mu.Lock()
			for _, f := range opened {
				f.Close()
			}
			mu.Unlock()
			err = fmt.Errorf("%w; %s", &DamageError{Path: path, Detail: fmt.Sprintf("reading it failed (%v)", p)}, salvageAdvice)
		}
	}()
	return fn(track)
}

func openDB(path string, timeout time.Duration, readOnly bool, track func(*os.File)) (*bolt.DB, error) {
	opts := BoltOptions(timeout)
	opts.ReadOnly = readOnly
	if track != nil {
		opts.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err == nil {
				track(f)
			}
			return f, err
		}
	}
	db, err := bolt.Open(path, 0o600, opts)
	if errors.Is(err, berrors.ErrTimeout) {
		// We hold the owner lock, so only a process that does not take it
		// (an older plugin) can hold bbolt's.
		return nil, &LockError{Path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", path, err)
	}
	return db, nil
}

// BoltOptions are the options the outbox opens its bbolt file with (and
// what a benchmark comparing against bare bbolt should use): a hashmap
// freelist (fast to search when the file is fragmented) that is not
// written at every commit: with many orders it grew to be most of each
// commit's writes. bbolt rebuilds it at open.
func BoltOptions(timeout time.Duration) *bolt.Options {
	return &bolt.Options{Timeout: timeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true}
}

func isEmpty(db *bolt.DB) bool {
	empty := true
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil && b.Get(keyCheck) != nil {
			empty = false
		}
		return nil
	})
	return empty
}

// init creates the buckets, proves the key, and checks every record.
func (s *Store) init() error {
	if s.opts.ReadOnly {
		return s.initReadOnly()
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketOrders, bucketQueue, bucketFailed, bucketEvents, bucketCorrupt, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if f := meta.Get(keyFormat); f != nil && string(f) != formatVersion {
			return fmt.Errorf("outbox %s has format %q, this plugin knows %q: use the plugin version that wrote it", s.opts.Path, f, formatVersion)
		}
		if err := meta.Put(keyFormat, []byte(formatVersion)); err != nil {
			return err
		}
		check := meta.Get(keyCheck)
		if check == nil {
			return meta.Put(keyCheck, seal(s.aead, keyCheck, []byte(keyCheckValue)))
		}
		if plain, err := unseal(s.aead, keyCheck, check); err != nil || string(plain) != keyCheckValue {
			return ErrWrongKey
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrWrongKey) {
			return fmt.Errorf("%w: %s", ErrWrongKey, s.opts.KeyFile)
		}
		return fmt.Errorf("outbox %s: %w", s.opts.Path, err)
	}
	return s.check()
}

// initReadOnly proves the key and checks the records, writing nothing.
func (s *Store) initReadOnly() error {
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketOrders, bucketQueue, bucketFailed, bucketEvents, bucketCorrupt, bucketMeta} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("it has no %s bucket: the plugin has not finished making it", name)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if f := meta.Get(keyFormat); string(f) != formatVersion {
			return fmt.Errorf("it has format %q, this plugin knows %q: use the plugin version that wrote it", f, formatVersion)
		}
		if plain, err := unseal(s.aead, keyCheck, meta.Get(keyCheck)); err != nil || string(plain) != keyCheckValue {
			return ErrWrongKey
		}
		return nil
	})
	if errors.Is(err, ErrWrongKey) {
		return fmt.Errorf("%w: %s", ErrWrongKey, s.opts.KeyFile)
	}
	if err != nil {
		return fmt.Errorf("outbox %s: %w", s.opts.Path, err)
	}
	var clean bool
	if err := s.db.View(func(btx *bolt.Tx) error { clean = s.consistent(&Tx{s: s, tx: btx}); return nil }); err != nil {
		return err
	}
	if !clean {
		s.opts.Logf("outbox: %s has records that cannot be read or indexes that disagree with them: the counts shown may be off until the plugin opens it to work (which repairs them)", s.opts.Path)
	}
	return nil
}

// check reads every order record at open: what cannot be read is moved to
// the corrupt bucket (with a log line) so it never blocks the rest, and the
// queue index, failed index and counters are checked against the records.
// It reads in a read transaction and writes only when something is off:
// then it sets the bad records aside and rebuilds the indexes and counters.
// A clean outbox, the usual case, opens without rewriting its indexes.
func (s *Store) check() error {
	var clean bool
	err := s.db.View(func(btx *bolt.Tx) error {
		clean = s.consistent(&Tx{s: s, tx: btx})
		return nil
	})
	if err != nil || clean {
		return err
	}
	return s.db.Update(func(btx *bolt.Tx) error {
		tx := &Tx{s: s, tx: btx}
		var bad [][]byte
		var good []*Order
		c := btx.Bucket(bucketOrders).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			o, err := tx.decode(k, v)
			if err != nil {
				bad = append(bad, append([]byte(nil), k...))
				continue
			}
			good = append(good, o)
		}
		for _, k := range bad {
			if err := tx.setAside(bucketOrders, k, "cannot be read"); err != nil {
				return err
			}
		}
		for _, name := range [][]byte{bucketQueue, bucketFailed} {
			if err := btx.DeleteBucket(name); err != nil {
				return err
			}
			if _, err := btx.CreateBucket(name); err != nil {
				return err
			}
		}
		if err := tx.putStats(stats{}); err != nil {
			return err
		}
		// Every order keeps its own queue position: two that share one
		// (only damage makes that) would share one queue entry, and one of
		// them would never be sent. The later one gets a new position.
		seqs := make(map[uint64]bool, len(good))
		for _, o := range good {
			if seqs[o.Seq] {
				old := o.Seq
				seq, err := btx.Bucket(bucketOrders).NextSequence()
				if err != nil {
					return err
				}
				o.Seq = seq
				if err := tx.writeRecord(o); err != nil {
					return err
				}
				s.opts.Logf("outbox: order %s shared queue position %d with another order: given %d", o.OutOrderNo, old, seq)
			}
			seqs[o.Seq] = true
			if err := tx.index(o); err != nil {
				return err
			}
		}
		// Counters behind the numbers in use (damage): raise them.
		var top uint64
		for _, o := range good {
			top = max(top, o.Seq)
		}
		for _, c := range []struct {
			name []byte
			used uint64
		}{{bucketEvents, lastSeq(btx.Bucket(bucketEvents))}, {bucketOrders, top}} {
			if b := btx.Bucket(c.name); c.used > b.Sequence() {
				s.opts.Logf("outbox: the %s counter was %d, below the highest number in use, %d: raised", c.name, b.Sequence(), c.used)
				if err := b.SetSequence(c.used); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// consistent says whether every order record can be read and the queue
// index, the failed index and the counters say what the records say.
func (s *Store) consistent(tx *Tx) bool {
	queue, failed := tx.tx.Bucket(bucketQueue), tx.tx.Bucket(bucketFailed)
	var want stats
	var top uint64 // the highest queue position in use
	seqs := map[uint64]bool{}
	c := tx.tx.Bucket(bucketOrders).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		o, err := tx.decode(k, v)
		if err != nil || seqs[o.Seq] {
			return false
		}
		seqs[o.Seq] = true
		top = max(top, o.Seq)
		if o.CreatePending() {
			want.QueuedCount++
			want.QueuedAmount += o.Amount
		}
		if o.Failure != nil {
			want.FailedCount++
			// A nested bucket under the key reads as a nil value.
			if fk, fv := failed.Cursor().Seek(k); !bytes.Equal(fk, k) || fv == nil {
				return false
			}
		}
		if needsWork(o) {
			want.WorkCount++
			if !bytes.Equal(queue.Get(u64(o.Seq)), k) {
				return false
			}
		}
	}
	// No entries beyond those the records asked for.
	// Each counter of numbers at or past the highest number used, or the
	// next number given out would overwrite (an event) or share (a queue
	// position) one in use.
	if ev := tx.tx.Bucket(bucketEvents); lastSeq(ev) > ev.Sequence() || top > tx.tx.Bucket(bucketOrders).Sequence() {
		return false
	}
	return want == tx.stats() && keyCount(queue) == want.WorkCount && keyCount(failed) == want.FailedCount
}

// lastSeq is the highest number used in a bucket keyed by number.
func lastSeq(b *bolt.Bucket) uint64 {
	if k, _ := b.Cursor().Last(); len(k) == 8 {
		return seqOf(k)
	}
	return 0
}

func keyCount(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
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
