package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 11, item 1: a context reaches what it bounds. An Open waiting on
// a lock another holds stops when its context ends, long before its lock
// timeout, and says which outbox it gave up on and why.
func TestOpenContextStopsWaitingForTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	held, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = OpenContext(ctx, Options{Path: path, LockTimeout: time.Minute})
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("waited %v after its context was cancelled", waited)
	}
	var le *LockError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &le) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v; want a LockError naming %s and context.Canceled", err, path)
	}

	// A context already over opens nothing, even a free outbox.
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenContext(ctx, Options{Path: path}); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), path) {
		t.Fatalf("opened with a cancelled context: %v", err)
	}
	s, err := OpenContext(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatalf("the lock is free once its holder closes: %v", err)
	}
	s.Close()
}

// A compaction whose context is cancelled midway stops: the outbox is the
// file it was, holds what it held and takes writes, its partial copy is
// gone, and the error says so. A later compaction runs to the end.
func TestCompactContextCancelledLeavesTheOutboxAsItWas(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	for i := range 50 {
		enqueue(t, s, fmt.Sprintf("K-%02d", i), 1)
	}
	path := s.Path()
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	buckets := 0
	afterCompactBucket = func() {
		buckets++
		if _, err := os.Stat(path + ".compact"); err != nil {
			t.Errorf("no copy under way after a bucket: %v", err)
		}
		cancel()
	}
	defer func() { afterCompactBucket = nil }()
	_, _, err = s.CompactContext(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "as it was") {
		t.Fatalf("got %v; want context.Canceled, naming %s and saying the outbox is as it was", err, path)
	}
	if buckets != 1 {
		t.Errorf("copied %d buckets after its context was cancelled, want it to stop after the first", buckets)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial copy is still there: %v", err)
	}
	if now, err := os.Stat(path); err != nil || !os.SameFile(before, now) {
		t.Errorf("the outbox file was replaced or is gone: %v", err)
	}
	if due, err := s.Due(100, nil); err != nil || len(due) != 50 {
		t.Fatalf("after the stopped compaction %d due (%v), want 50", len(due), err)
	}
	enqueue(t, s, "AFTER-STOP", 1)

	// Cancelled before it starts: no copy is made at all.
	afterCompactBucket = func() { t.Error("copied a bucket with a cancelled context") }
	if _, _, err := s.CompactContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("compaction with a cancelled context: %v", err)
	}
	afterCompactBucket = nil

	if _, _, err := s.CompactContext(context.Background()); err != nil {
		t.Fatalf("a compaction after the stopped one: %v", err)
	}
	if now, err := os.Stat(path); err != nil || os.SameFile(before, now) {
		t.Errorf("the compaction did not replace the file (%v)", err)
	}
	if due, err := s.Due(100, nil); err != nil || len(due) != 51 {
		t.Errorf("after the compaction %d due (%v), want 51", len(due), err)
	}
}

// A prune whose context is cancelled stops before its next batch and says
// so; what it did not reach stays, for the next prune.
func TestPruneContextStopsBetweenBatches(t *testing.T) {
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 2
	clk := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	s := open(t, t.TempDir(), clk)
	for i := range 10 {
		no := fmt.Sprintf("S-%d", i)
		enqueue(t, s, no, 1)
		if _, err := s.Modify(no, func(o *Order) (*Order, []Event, error) {
			o.Ops[0].State, o.Ops[0].DoneAt = OpDone, clk.Now()
			return o, []Event{{Type: EventOrderSubmitted}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(DefaultRetention + time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if orders, events, err := s.PruneContext(ctx); !errors.Is(err, context.Canceled) || orders+events != 0 {
		t.Fatalf("prune with a cancelled context: %d orders, %d events, %v", orders, events, err)
	}

	// Cancelled once the orders are read: none of the deleting batches runs.
	ctx, cancel = context.WithCancel(context.Background())
	afterPruneRead = cancel
	defer func() { afterPruneRead = nil }()
	orders, events, err := s.PruneContext(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), s.Path()) || !strings.Contains(err.Error(), "prun") {
		t.Fatalf("got %v; want context.Canceled naming the outbox and its pruning", err)
	}
	if orders != 0 || events != 0 {
		t.Errorf("pruned %d orders and %d events after its context was cancelled", orders, events)
	}
	for i := range 10 {
		if o, err := s.Get(fmt.Sprintf("S-%d", i)); err != nil || o == nil {
			t.Errorf("S-%d gone after a cancelled prune (%v)", i, err)
		}
	}
	afterPruneRead = nil

	if orders, events, err := s.PruneContext(context.Background()); err != nil || orders != 10 || events != 20 {
		t.Fatalf("the next prune: %d orders, %d events, %v; want 10 and 20", orders, events, err)
	}
}
