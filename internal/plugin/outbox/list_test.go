package outbox

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// pages reads every page of st, n to a page, and fails the test if a page
// other than the last is short or the last says more follow.
func pages(t *testing.T, s *Store, st State, n int) []string {
	t.Helper()
	var got []string
	var after uint64
	for range 100 {
		orders, more, err := s.List(st, after, n)
		if err != nil {
			t.Fatal(err)
		}
		if more && len(orders) != n {
			t.Fatalf("%q after %d: a page of %d with more to follow, want %d", st, after, len(orders), n)
		}
		for _, o := range orders {
			if o.Seq <= after {
				t.Fatalf("%q after %d: %s at position %d", st, after, o.OutOrderNo, o.Seq)
			}
			after = o.Seq
			got = append(got, o.OutOrderNo)
		}
		if !more {
			return got
		}
	}
	t.Fatalf("%q: paging does not end", st)
	return nil
}

func TestListPagesInQueueOrder(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	for i := range 9 {
		enqueue(t, s, fmt.Sprintf("L-%d", i), 100)
	}
	// Failed orders leave the queue; a done one is on neither list.
	failOrder(t, s, "L-1")
	failOrder(t, s, "L-7")
	failOrder(t, s, "L-4")
	if _, err := s.Modify("L-5", func(o *Order) (*Order, []Event, error) {
		o.Ops[0].State = OpDone
		return o, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	queued := []string{"L-0", "L-2", "L-3", "L-6", "L-8"}
	failed := []string{"L-1", "L-4", "L-7"} // queue order, not the order they failed in
	all := []string{"L-0", "L-1", "L-2", "L-3", "L-4", "L-5", "L-6", "L-7", "L-8"}
	for _, n := range []int{1, 2, 5, 6, 0} {
		if got := pages(t, s, StateQueued, n); !slices.Equal(got, queued) {
			t.Errorf("queued, %d a page: %v, want %v", n, got, queued)
		}
		if got := pages(t, s, StateFailed, n); !slices.Equal(got, failed) {
			t.Errorf("failed, %d a page: %v, want %v", n, got, failed)
		}
		if got := pages(t, s, "", n); !slices.Equal(got, all) {
			t.Errorf("all, %d a page: %v, want %v", n, got, all)
		}
	}

	// An order that joins while pages are read comes after them; one that
	// leaves is not listed; none is listed twice.
	first, more, err := s.List(StateQueued, 0, 2)
	if err != nil || !more || len(first) != 2 {
		t.Fatalf("first page %v, %v, %v", first, more, err)
	}
	failOrder(t, s, "L-3")
	enqueue(t, s, "L-9", 100)
	rest, more, err := s.List(StateQueued, first[1].Seq, 0)
	var names []string
	for _, o := range rest {
		names = append(names, o.OutOrderNo)
	}
	if err != nil || more || !slices.Equal(names, []string{"L-6", "L-8", "L-9"}) {
		t.Errorf("the rest after a change: %v, %v, %v", names, more, err)
	}
}

// The queued list's pages are read from the queue index: a record that
// cannot be read beyond the page is never decoded for it, and one inside
// is left out, with the pages going on past it.
func TestListQueuedReadsOnlyItsPage(t *testing.T) {
	var logs []string
	s, err := Open(Options{Path: filepath.Join(t.TempDir(), "outbox.db"),
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 4 {
		enqueue(t, s, fmt.Sprintf("R-%d", i), 100)
	}
	// Damage R-2's record behind the Store's back.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOrders).Put([]byte("R-2"), []byte("not a sealed record"))
	}); err != nil {
		t.Fatal(err)
	}
	orders, more, err := s.List(StateQueued, 0, 2)
	if err != nil || !more || len(orders) != 2 || len(logs) != 0 {
		t.Fatalf("first page: %d orders, more %v, %v; logs %q", len(orders), more, err, logs)
	}
	orders, more, err = s.List(StateQueued, orders[1].Seq, 2)
	if err != nil || more || len(orders) != 1 || orders[0].OutOrderNo != "R-3" {
		t.Fatalf("second page: %v, more %v, %v", orders, more, err)
	}
	if len(logs) != 1 || !strings.Contains(logs[0], "R-2") {
		t.Errorf("the unreadable record is not logged by name: %q", logs)
	}
}

// Putting 50,000 orders in queue order took 0.5 s with an insertion sort.
func TestSortBySeqOrdersManyInReverse(t *testing.T) {
	const n = 50_000
	os := make([]*Order, n)
	for i := range os {
		os[i] = &Order{Seq: uint64(n - i)}
	}
	sortBySeq(os)
	for i, o := range os {
		if o.Seq != uint64(i+1) {
			t.Fatalf("position %d holds %d", i, o.Seq)
		}
	}
}

// BenchmarkSortBySeq50k: go test -run '^$' -bench SortBySeq ./plugin/outbox/
func BenchmarkSortBySeq50k(b *testing.B) {
	const n = 50_000
	os := make([]*Order, n)
	for b.Loop() {
		for i := range os {
			os[i] = &Order{Seq: uint64(n - i)}
		}
		sortBySeq(os)
	}
}

// BenchmarkListQueue50k is one page of ListQueue's default size from an
// outbox of 50,000 waiting orders: go test -run '^$' -bench ListQueue
// ./plugin/outbox/
func BenchmarkListQueue50k(b *testing.B) {
	path := pagesOutboxBig(b, b.TempDir(), 50_000)
	s, err := Open(Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		orders, more, err := s.List(StateQueued, 25_000, 100)
		if err != nil || !more || len(orders) != 100 {
			b.Fatal(len(orders), more, err)
		}
	}
}
