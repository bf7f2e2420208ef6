package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kioskpay/smartretail/internal/testkit"
)

const openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, dir string, clk *fakeClock) *Store {
	t.Helper()
	opts := Options{Path: filepath.Join(dir, "outbox.db")}
	if clk != nil {
		opts.Now = clk.Now
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newOrder(no string, amount int64) *Order {
	body := fmt.Sprintf(`{"out_order_no":%q,"openid":%q,"risk_amount":%d}`, no, openid, amount)
	return &Order{OutOrderNo: no, Amount: amount, Ops: []Op{{Kind: OpCreate, Body: []byte(body), State: OpPending}}}
}

func enqueue(t *testing.T, s *Store, no string, amount int64) *Order {
	t.Helper()
	o, existed, err := s.Enqueue(newOrder(no, amount), Limits{}, Event{Type: EventOrderQueued})
	if err != nil || existed {
		t.Fatalf("enqueue %s: existed=%v err=%v", no, existed, err)
	}
	return o
}

func TestKeyFileAndSealing(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	enqueue(t, s, "SEAL-1", 100)
	fi, err := os.Stat(filepath.Join(dir, "outbox.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	s.Close()

	raw, err := os.ReadFile(filepath.Join(dir, "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(openid)) || bytes.Contains(raw, []byte("risk_amount")) {
		t.Fatal("the outbox file holds the record in the clear")
	}

	// Another key does not open it, and says so.
	other := filepath.Join(dir, "other.key")
	os.WriteFile(other, []byte(strings.Repeat("ab", KeyLen)+"\n"), 0o600)
	_, err = Open(Options{Path: filepath.Join(dir, "outbox.db"), KeyFile: other})
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), other) {
		t.Fatalf("wrong key: %v", err)
	}
	// A missing key for an outbox that has records is an error, not a new key.
	_, err = Open(Options{Path: filepath.Join(dir, "outbox.db"), KeyFile: filepath.Join(dir, "gone.key")})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing key: %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "gone.key")); statErr == nil {
		t.Fatal("a new key was made for an outbox sealed with another")
	}
	// A malformed key file is refused without printing it.
	os.WriteFile(other, []byte("not-hex-at-all\n"), 0o600)
	_, err = Open(Options{Path: filepath.Join(dir, "outbox.db"), KeyFile: other})
	if err == nil || strings.Contains(err.Error(), "not-hex") {
		t.Fatalf("malformed key: %v", err)
	}

	s2 := open(t, dir, nil)
	o, err := s2.Get("SEAL-1")
	if err != nil || o == nil || !bytes.Contains(o.Ops[0].Body, []byte(openid)) {
		t.Fatalf("reopened with the right key: %+v, %v", o, err)
	}
}

func TestSecondOpenIsRefusedWithTheOwner(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, nil)
	start := time.Now()
	_, err := Open(Options{Path: filepath.Join(dir, "outbox.db"), LockTimeout: 200 * time.Millisecond})
	var le *LockError
	if !errors.As(err, &le) {
		t.Fatalf("want a LockError, got %v", err)
	}
	if le.PID != os.Getpid() || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("lock error %q does not name the holder", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("waited %v for the lock", time.Since(start))
	}
}

func TestEnqueueIsIdempotentAndLimited(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	first := enqueue(t, s, "L-1", 300)
	again, existed, err := s.Enqueue(newOrder("L-1", 300), Limits{}, Event{Type: EventOrderQueued})
	if err != nil || !existed || again.Seq != first.Seq {
		t.Fatalf("second enqueue: %+v existed=%v %v", again, existed, err)
	}
	lim := Limits{MaxOrders: 3, MaxOrderAmount: 1000, MaxTotalAmount: 1500}
	cases := []struct {
		no     string
		amount int64
		reason string
	}{
		{"L-2", 1001, ReasonMaxOrderAmount},
		{"L-2", 1000, ""},
		{"L-3", 201, ReasonMaxTotalAmount},
		{"L-3", 200, ""},
		{"L-4", 1, ReasonMaxOrders},
		{"L-5", 0, ReasonNoAmount},
	}
	for _, tc := range cases {
		_, _, err := s.Enqueue(newOrder(tc.no, tc.amount), lim, Event{Type: EventOrderQueued})
		var le *LimitError
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s %d: %v", tc.no, tc.amount, err)
		case tc.reason != "" && (!errors.As(err, &le) || le.Reason != tc.reason):
			t.Errorf("%s %d: got %v, want %s", tc.no, tc.amount, err, tc.reason)
		}
	}
	st, err := s.Stats()
	if err != nil || st.QueuedCount != 3 || st.QueuedAmount != 1500 || st.WorkCount != 3 {
		t.Errorf("stats %+v %v", st, err)
	}
}

// 64 enqueues that wait behind one commit share the next one, and the
// eight of them over the limit fail without taking that commit's others
// down. Commits are counted by bbolt's transaction id, which each
// committed write transaction moves on by one.
func TestConcurrentEnqueuesShareCommitsAndOneFailureStaysAlone(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	lim := Limits{MaxOrderAmount: 1000}
	txid := func() int {
		var id int
		if err := s.view(func(tx *Tx) error { id = tx.tx.ID(); return nil }); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// A commit held open, so every enqueue below is waiting when the
	// next one begins: sharing then does not depend on scheduling.
	held, release, heldErr := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() { heldErr <- s.update(func(*Tx) error { close(held); <-release; return nil }) }()
	<-held
	before := txid()
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			amount := int64(10)
			if i%8 == 0 {
				amount = 5000 // refused
			}
			_, _, errs[i] = s.Enqueue(newOrder(fmt.Sprintf("C-%d", i), amount), lim, Event{Type: EventOrderQueued})
		}(i)
	}
	// The store says nothing when a write joins the queue: look.
	testkit.Eventually(t, 10*time.Second, "every enqueue waits behind the held commit", func() bool {
		s.qmu.Lock()
		defer s.qmu.Unlock()
		return len(s.queue) == len(errs)
	})
	close(release)
	wg.Wait()
	if err := <-heldErr; err != nil {
		t.Fatal(err)
	}
	if commits := txid() - before - 1; commits != 1 { // less the held one
		t.Errorf("%d enqueues waiting together took %d commits: want 1, shared", len(errs), commits)
	}
	for i, err := range errs {
		var le *LimitError
		if i%8 == 0 && !errors.As(err, &le) {
			t.Errorf("order %d: want a limit error, got %v", i, err)
		}
		if i%8 != 0 && err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	st, _ := s.Stats()
	if st.QueuedCount != 56 || st.QueuedAmount != 560 {
		t.Errorf("stats %+v", st)
	}
	evs, _ := s.EventsAfter(0, 1000)
	if len(evs) != 56 {
		t.Errorf("%d events for 56 queued orders", len(evs))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Fatalf("event sequence has a gap: %d then %d", evs[i-1].Seq, evs[i].Seq)
		}
	}
}

func TestOperationsDueFailedAndStats(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	s := open(t, t.TempDir(), clk)
	enqueue(t, s, "D-1", 100)
	clk.Add(time.Second)
	enqueue(t, s, "D-2", 200)
	due, err := s.Due(10, nil)
	if err != nil || len(due) != 2 || due[0].OutOrderNo != "D-1" {
		t.Fatalf("due: %v %v", due, err)
	}
	if due, _ := s.Due(10, func(no string) bool { return no == "D-1" }); len(due) != 1 || due[0].OutOrderNo != "D-2" {
		t.Fatalf("due skipping D-1: %v", due)
	}

	// D-1: create in flight, then done, then a complete is queued behind it.
	mod := func(no string, f func(o *Order)) *Order {
		o, err := s.Modify(no, func(o *Order) (*Order, []Event, error) { f(o); return o, nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if o := mod("D-1", func(o *Order) { o.Ops[0].State = OpInFlight; o.Ops[0].Attempts++ }); o.State() != StateSubmitting {
		t.Errorf("state %s", o.State())
	}
	if o := mod("D-1", func(o *Order) { o.Ops[0].State = OpDone; o.Ops[0].DoneAt = clk.Now() }); o.State() != StateSubmitted {
		t.Errorf("state %s", o.State())
	}
	st, _ := s.Stats()
	if st.QueuedCount != 1 || st.QueuedAmount != 200 || st.WorkCount != 1 {
		t.Errorf("after D-1 submitted: %+v", st)
	}
	o := mod("D-1", func(o *Order) { o.Ops = append(o.Ops, Op{Kind: OpComplete, State: OpPending, Body: []byte(`{}`)}) })
	if o.State() != StateQueued || o.Next() != 1 {
		t.Errorf("after a queued complete: %s next %d", o.State(), o.Next())
	}
	if st, _ := s.Stats(); st.WorkCount != 2 || st.QueuedCount != 1 {
		t.Errorf("stats %+v", st)
	}
	if n, err := s.WorkCount(); n != 2 || err != nil {
		t.Errorf("WorkCount %d %v, want Stats' 2", n, err)
	}

	// D-2 fails: it leaves the queue for the failed list.
	mod("D-2", func(o *Order) {
		o.Failure = &Failure{Code: "EXPIRED_OFFLINE", Message: "too old", Op: OpCreate, At: clk.Now()}
	})
	failed, _, _ := s.List(StateFailed, 0, 0)
	if len(failed) != 1 || failed[0].OutOrderNo != "D-2" {
		t.Fatalf("failed list %v", failed)
	}
	if st, _ := s.Stats(); st.FailedCount != 1 || st.QueuedCount != 0 || st.WorkCount != 1 {
		t.Errorf("stats after failure %+v", st)
	}
	if n, err := s.WorkCount(); n != 1 || err != nil {
		t.Errorf("WorkCount after failure %d %v, want Stats' 1", n, err)
	}
	// Dropping removes it everywhere.
	if _, err := s.Modify("D-2", func(*Order) (*Order, []Event, error) { return nil, nil, nil }); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.Get("D-2"); o != nil {
		t.Error("dropped order still there")
	}
	if st, _ := s.Stats(); st.FailedCount != 0 {
		t.Errorf("stats after drop %+v", st)
	}
}

func TestEventsResumeAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	changed := s.Changed()
	enqueue(t, s, "E-1", 1)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no change notification")
	}
	enqueue(t, s, "E-2", 1)
	s.AppendEvent(Event{Type: EventNetworkStatusChanged, Network: "OFFLINE"})
	evs, _ := s.EventsAfter(1, 10)
	if len(evs) != 2 || evs[0].OutOrderNo != "E-2" || evs[1].Network != "OFFLINE" {
		t.Fatalf("events after 1: %+v", evs)
	}
	s.Close()
	s = open(t, dir, nil)
	enqueue(t, s, "E-3", 1)
	evs, _ = s.EventsAfter(evs[1].Seq, 10)
	if len(evs) != 1 || evs[0].OutOrderNo != "E-3" || evs[0].Seq != 4 {
		t.Fatalf("after reopen: %+v", evs)
	}
}

func TestCorruptRecordIsSetAside(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	enqueue(t, s, "OK-1", 1)
	enqueue(t, s, "BAD-1", 1)
	enqueue(t, s, "OK-2", 1)
	s.Close()

	db, err := bolt.Open(filepath.Join(dir, "outbox.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOrders).Put([]byte("BAD-1"), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29})
	})
	db.Close()

	var logged []string
	var mu sync.Mutex
	s, err = Open(Options{Path: filepath.Join(dir, "outbox.db"), Logf: func(f string, a ...any) {
		mu.Lock()
		logged = append(logged, fmt.Sprintf(f, a...))
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("a corrupt record stopped the outbox from opening: %v", err)
	}
	defer s.Close()
	due, _ := s.Due(10, nil)
	if len(due) != 2 || due[0].OutOrderNo != "OK-1" || due[1].OutOrderNo != "OK-2" {
		t.Errorf("due after the corrupt record: %v", due)
	}
	bad, _ := s.Corrupt()
	if len(bad) != 1 || bad[0].Where != "orders/BAD-1" {
		t.Errorf("corrupt list %+v", bad)
	}
	if st, _ := s.Stats(); st.QueuedCount != 2 || st.CorruptCount != 1 {
		t.Errorf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) == 0 || !strings.Contains(logged[0], "BAD-1") {
		t.Errorf("nothing logged about the corrupt record: %v", logged)
	}
}

func TestPruneAndCompact(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := open(t, dir, clk)
	for i := 0; i < 300; i++ {
		no := fmt.Sprintf("P-%d", i)
		enqueue(t, s, no, 1)
		if i%3 != 0 {
			s.Modify(no, func(o *Order) (*Order, []Event, error) {
				o.Ops[0].State, o.Ops[0].DoneAt = OpDone, clk.Now()
				return o, []Event{{Type: EventOrderSubmitted}}, nil
			})
		}
	}
	clk.Add(DefaultRetention + time.Hour)
	orders, events, err := s.Prune()
	if err != nil || orders != 200 || events != 500 {
		t.Fatalf("prune: %d orders, %d events, %v", orders, events, err)
	}
	if o, _ := s.Get("P-1"); o != nil {
		t.Error("a submitted order past retention is still there")
	}
	if o, _ := s.Get("P-0"); o == nil {
		t.Error("a queued order was pruned")
	}
	before, after, err := s.Compact()
	if err != nil || after >= before {
		t.Fatalf("compact: %d -> %d, %v", before, after, err)
	}
	if due, _ := s.Due(1000, nil); len(due) != 100 {
		t.Errorf("after compact %d due, want 100", len(due))
	}
	enqueue(t, s, "AFTER-COMPACT", 1)
}

// The counters are recounted from the records at every open, so a value
// written by another version (JSON before this one) or a damaged one never
// reaches a limit check.
func TestCountersAreRecountedAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	enqueue(t, s, "C1", 100)
	enqueue(t, s, "C2", 250)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{[]byte(`{"queued_count":7,"queued_amount":1}`), {1, 2, 3}, bytes.Repeat([]byte{1}, statsSize)} {
		db, err := bolt.Open(filepath.Join(dir, "outbox.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyStats, bad) }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s := open(t, dir, nil)
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.QueuedCount != 2 || st.QueuedAmount != 350 || st.WorkCount != 2 || st.FailedCount != 0 {
			t.Errorf("stats after %q: %+v, want 2 queued, 350 fen, 2 with work", bad, st)
		}
		var le *LimitError
		if err := checkLimits(statsOf(t, s), 1, Limits{MaxOrders: 2}); !errors.As(err, &le) || le.Reason != ReasonMaxOrders {
			t.Errorf("limit of 2 orders with 2 queued, after %q: %v, want %s", bad, err, ReasonMaxOrders)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func statsOf(t *testing.T, s *Store) stats {
	t.Helper()
	var st stats
	if err := s.view(func(tx *Tx) error { st = tx.stats(); return nil }); err != nil {
		t.Fatal(err)
	}
	return st
}

// Prune reads and deletes in small transactions (so a sale never waits
// behind a scan of the whole outbox): across many of them it deletes
// exactly what is past retention, and an order that changes between its
// reading and its deleting is kept.
func TestPruneInSmallTransactions(t *testing.T) {
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 7
	clk := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := open(t, dir, clk)
	submit := func(no string) {
		t.Helper()
		if _, err := s.Modify(no, func(o *Order) (*Order, []Event, error) {
			o.Ops[0].State, o.Ops[0].DoneAt = OpDone, clk.Now()
			return o, []Event{{Type: EventOrderSubmitted}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 60; i++ {
		no := fmt.Sprintf("P-%02d", i)
		enqueue(t, s, no, 1)
		if i%3 != 0 {
			submit(no) // 40 submitted, 20 still queued
		}
	}
	clk.Add(DefaultRetention + time.Hour)
	enqueue(t, s, "YOUNG", 1) // and its event, young: events stop there
	submit("YOUNG")

	// Between the read and the delete, a cancel is queued on a submitted order.
	afterPruneRead = func() {
		if _, err := s.Modify("P-01", func(o *Order) (*Order, []Event, error) {
			o.Ops = append(o.Ops, Op{Kind: OpCancel, Body: []byte(`{}`), State: OpPending})
			return o, nil, nil
		}); err != nil {
			t.Error(err)
		}
	}
	defer func() { afterPruneRead = nil }()
	orders, events, err := s.Prune()
	if err != nil || orders != 39 || events != 100 {
		t.Fatalf("prune: %d orders, %d events, %v; want 39 and 100", orders, events, err)
	}
	for i := 0; i < 60; i++ {
		no := fmt.Sprintf("P-%02d", i)
		o, err := s.Get(no)
		if err != nil {
			t.Fatal(err)
		}
		if keep := i%3 == 0 || no == "P-01"; (o != nil) != keep {
			t.Errorf("%s: kept %v, want %v", no, o != nil, keep)
		}
	}
	if o, _ := s.Get("YOUNG"); o == nil {
		t.Error("a young order was pruned")
	}
	evs, err := s.EventsAfter(0, 1000)
	if err != nil || len(evs) != 2 || evs[0].OutOrderNo != "YOUNG" {
		t.Errorf("events left: %+v, %v; want YOUNG's two", evs, err)
	}
}

// An event that cannot be read does not stop the pruning of those after it.
func TestPruneGoesPastAnUnreadableEvent(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := open(t, dir, clk)
	for i := 0; i < 5; i++ {
		enqueue(t, s, fmt.Sprintf("E-%d", i), 1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "outbox.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketEvents).Put(u64(1), []byte("not sealed")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = open(t, dir, clk)
	clk.Add(DefaultRetention + time.Hour)
	if _, events, err := s.Prune(); err != nil || events != 5 {
		t.Fatalf("prune: %d events, %v; want all 5", events, err)
	}
}

// Open writes nothing when the indexes agree with the records, and
// rebuilds them when they do not: an entry lost, one too many, or a
// failed-list entry for an order that has not failed.
func TestIndexesAreCheckedAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	for _, no := range []string{"I1", "I2", "I3"} {
		enqueue(t, s, no, 10)
	}
	failOrder(t, s, "I3")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "outbox.db")
	txid := func() int {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		return tx.ID()
	}
	before := txid()
	s = open(t, dir, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if writes := txid() - before; writes != 1 { // init's own (format and key check), not a rebuild
		t.Errorf("a clean open committed %d times, want 1", writes)
	}

	for name, tamper := range map[string]func(tx *bolt.Tx) error{
		"queue entry lost": func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bucketQueue).Cursor().First()
			return tx.Bucket(bucketQueue).Delete(k)
		},
		"queue entry too many": func(tx *bolt.Tx) error { return tx.Bucket(bucketQueue).Put(u64(999), []byte("NOBODY")) },
		"failed entry wrong":   func(tx *bolt.Tx) error { return tx.Bucket(bucketFailed).Put([]byte("I1"), nil) },
	} {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(tamper); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s := open(t, dir, nil)
		due, err := s.Due(10, nil)
		if err != nil || len(due) != 2 || due[0].OutOrderNo != "I1" || due[1].OutOrderNo != "I2" {
			t.Errorf("%s: due after open %v, %v; want I1 and I2", name, due, err)
		}
		failed, _, err := s.List(StateFailed, 0, 0)
		if err != nil || len(failed) != 1 || failed[0].OutOrderNo != "I3" {
			t.Errorf("%s: failed after open %v, %v; want I3", name, failed, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.View(func(tx *bolt.Tx) error {
			if q, f := keyCount(tx.Bucket(bucketQueue)), keyCount(tx.Bucket(bucketFailed)); q != 2 || f != 1 {
				t.Errorf("%s: after open the indexes hold %d queue and %d failed entries, want 2 and 1", name, q, f)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}

// Two orders sharing a queue position (only a damaged file has that) would
// share one queue entry, and one would never be sent: open gives the later
// one a position of its own.
func TestOpenGivesSharedQueuePositionsTheirOwn(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	a := enqueue(t, s, "S1", 10)
	enqueue(t, s, "S2", 10)
	// S2's record now claims S1's position (its own queue entry stays).
	if err := s.update(func(tx *Tx) error {
		o, err := tx.get("S2")
		if err != nil {
			return err
		}
		o.Seq = a.Seq
		return tx.writeRecord(o)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	due, err := s.Due(10, nil)
	if err != nil || len(due) != 2 || due[0].Seq == due[1].Seq {
		t.Fatalf("due after open: %+v, %v; want S1 and S2 at positions of their own", due, err)
	}
}

// A nested bucket where a failed order's entry belongs, and nothing else
// wrong, is found and repaired at open.
func TestOpenRepairsANestedFailedEntry(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	enqueue(t, s, "N1", 10)
	failOrder(t, s, "N1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "outbox.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		f := tx.Bucket(bucketFailed)
		if err := f.Delete([]byte("N1")); err != nil {
			return err
		}
		_, err := f.CreateBucket([]byte("N1"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = open(t, dir, nil)
	if _, err := s.Modify("N1", func(o *Order) (*Order, []Event, error) {
		o.Failure = nil // retried
		return o, nil, nil
	}); err != nil {
		t.Fatalf("retrying the failed order: %v", err)
	}
}

// failOrder puts an order on the failed list.
func failOrder(t *testing.T, s *Store, no string) {
	t.Helper()
	if _, err := s.Modify(no, func(o *Order) (*Order, []Event, error) {
		o.Failure = &Failure{Code: "TEST", Message: "failed for the test"}
		return o, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}
