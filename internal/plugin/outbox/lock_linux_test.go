//go:build linux

package outbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The child side of TestCompactionKeepsTheOutboxFromAWaitingProcess: a
// second process that opens the outbox (waiting for the lock), queues its
// sales and closes.
func init() {
	dir := os.Getenv("SMARTRETAIL_TEST_LOCK_CHILD")
	if dir == "" {
		return
	}
	s, err := Open(Options{Path: filepath.Join(dir, "outbox.db"), LockTimeout: time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	for i := range 5 {
		if _, _, err := s.Enqueue(newOrder(fmt.Sprintf("CHILD-%d", i), 100), Limits{}, Event{Type: EventOrderQueued}); err != nil {
			fmt.Fprintln(os.Stderr, "child enqueue:", err)
			os.Exit(4)
		}
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child close:", err)
		os.Exit(5)
	}
	os.Exit(0)
}

// fill stores n orders in one commit: a big outbox, quickly.
func fill(t testing.TB, s *Store, prefix string, n int) {
	t.Helper()
	err := s.update(func(tx *Tx) error {
		for i := range n {
			o := newOrder(fmt.Sprintf("%s-%d", prefix, i), 100)
			seq, err := tx.tx.Bucket(bucketOrders).NextSequence()
			if err != nil {
				return err
			}
			o.Seq, o.StoredAt = seq, time.Now()
			if err := tx.put(o.OutOrderNo, nil, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// holdsOpen says whether process pid has a file open whose name starts
// with prefix.
func holdsOpen(pid int, prefix string) bool {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(target, prefix) {
			return true
		}
	}
	return false
}

// Issue 9, item 1: compaction closed the database (releasing bbolt's lock)
// and renamed the compacted copy over it; a process already waiting for
// the lock then got it on the old, deleted file, and every sale it queued
// was lost. Now the owner lock is held across compaction, and a waiting
// process opens the file that is there once it gets the lock.
func TestCompactionKeepsTheOutboxFromAWaitingProcess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fill(t, s, "BIG", 20000)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "SMARTRETAIL_TEST_LOCK_CHILD="+dir)
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()

	// Compact only once the child is waiting for the outbox (it has the
	// lock file or, as before the fix, the database open).
	for !holdsOpen(child.Process.Pid, path) {
		select {
		case err := <-exited:
			t.Fatalf("the child ended before the compaction: %v\n%s", err, out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if _, _, err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, "PARENT-AFTER-COMPACT", 100)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}

	s2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, no := range []string{"CHILD-0", "CHILD-4", "PARENT-AFTER-COMPACT", "BIG-19999"} {
		if o, err := s2.Get(no); err != nil || o == nil {
			t.Errorf("order %s is not in the outbox after the compaction (%v)", no, err)
		}
	}
	if st, err := s2.Stats(); err != nil || st.QueuedCount != 20000+5+1 {
		t.Errorf("queued %d orders, want %d (%v)", st.QueuedCount, 20000+5+1, err)
	}
}

// An operator who deletes the lock file of a running plugin does not let
// a second process in beside it.
func TestRemovedLockFileDoesNotLetASecondOwnerIn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s := open(t, dir, nil)
	// An operator removes the lock file while the plugin runs: a second
	// process must still not get in alongside it.
	if err := os.Remove(path + ".lock"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Path: path, LockTimeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("a second Store opened the outbox while the first held it")
	}
	s.Close()
	s2, err := Open(Options{Path: path, LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
	s2.Close()
}
