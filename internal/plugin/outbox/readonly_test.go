package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Issue 9, item 8: looking does not send, nor change anything. A Store
// opened ReadOnly writes nothing, shares the lock with other readers and
// keeps an owner out while it looks.
func TestReadOnlyOpenChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s := open(t, dir, nil)
	enqueue(t, s, "RO-1", 100)
	s.Close()
	before, _ := os.ReadFile(path)
	if err := os.WriteFile(path+".compact", []byte("left"), 0o600); err != nil {
		t.Fatal(err)
	}

	r1, err := Open(Options{Path: path, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(Options{Path: path, ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	if o, err := r1.Get("RO-1"); err != nil || o == nil {
		t.Errorf("read: %v, %v", o, err)
	}
	if st, err := r2.Stats(); err != nil || st.QueuedCount != 1 {
		t.Errorf("stats: %+v, %v", st, err)
	}
	if _, _, err := r1.Enqueue(newOrder("RO-2", 1), Limits{}, Event{Type: EventOrderQueued}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("a write: %v", err)
	}
	if _, _, err := r1.Compact(); !errors.Is(err, ErrReadOnly) {
		t.Errorf("compact: %v", err)
	}
	var le *LockError
	if _, err := Open(Options{Path: path, LockTimeout: 100 * time.Millisecond}); !errors.As(err, &le) {
		t.Errorf("an owner while readers look: %v", err)
	}
	r1.Close()
	r2.Close()
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("the outbox file changed")
	}
	if _, err := os.Stat(path + ".compact"); err != nil {
		t.Errorf("a reader removed a file: %v", err)
	}

	// Nothing to look at: no outbox, no key made.
	empty := t.TempDir()
	_, err = Open(Options{Path: filepath.Join(empty, "outbox.db"), ReadOnly: true})
	if err == nil || !strings.Contains(err.Error(), "no outbox") {
		t.Errorf("no outbox: %v", err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) > 0 {
		t.Errorf("a reader made files: %v", entries)
	}
}

// Issue 9, item 5: a damaged outbox is refused with a clear error that
// says what to do, never a crash.
func TestDamagedOutboxIsRefusedAtOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s := open(t, dir, nil)
	for _, no := range []string{"D-1", "D-2"} {
		enqueue(t, s, no, 100)
	}
	s.Close()
	if err := os.Truncate(path, 8<<10); err != nil { // a truncation that crashed bbolt (SIGSEGV)
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		_, err := Open(Options{Path: path, ReadOnly: ro})
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "smartretail queue salvage") {
			t.Errorf("read-only %v: %v", ro, err)
		}
	}
}

// A counter that damage set below the numbers in use would give out a
// number again: an event overwritten, two orders sharing a queue position.
// Open raises it.
func TestCountersBehindTheNumbersInUseAreRaised(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	for _, no := range []string{"C-1", "C-2", "C-3"} {
		enqueue(t, s, no, 1)
	}
	s.Close()
	db, err := bolt.Open(filepath.Join(dir, "outbox.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketEvents).SetSequence(1); err != nil {
			return err
		}
		return tx.Bucket(bucketOrders).SetSequence(1)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	enqueue(t, s, "C-4", 1)
	evs, _ := s.EventsAfter(0, 10)
	if len(evs) != 4 || evs[3].OutOrderNo != "C-4" || evs[0].OutOrderNo != "C-1" {
		t.Errorf("events %+v", evs)
	}
	due, _ := s.Due(10, nil)
	if len(due) != 4 {
		t.Errorf("%d orders due, want 4 (queue positions shared?)", len(due))
	}
}

// Issue 9, item 5: the way out of a damaged outbox. SalvageInPlace puts a
// new outbox with every readable order at the path, keeps the damaged
// file, and the outbox then opens.
func TestSalvageInPlaceLeavesAnOutboxThatOpens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s := open(t, dir, nil)
	for _, no := range []string{"S-1", "S-2", "S-3"} {
		enqueue(t, s, no, 100)
	}
	s.Close()
	// Damage the meta pages' view of the file: a truncation past the
	// pages in use, which bbolt crashed on.
	fi, _ := os.Stat(path)
	raw, _ := os.ReadFile(path)
	if err := os.WriteFile(path, raw[:fi.Size()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Path: path}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("the truncated outbox opened: %v", err)
	}
	rep, kept, err := SalvageInPlace(path, "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kept); err != nil || !strings.HasPrefix(kept, path+".damaged-") {
		t.Errorf("the damaged file is not kept: %q, %v", kept, err)
	}
	s2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatalf("the salvaged outbox does not open: %v\n%s", err, rep.String())
	}
	defer s2.Close()
	st, _ := s2.Stats()
	if st.QueuedCount != len(rep.Orders) {
		t.Errorf("queued %d, report copied %d", st.QueuedCount, len(rep.Orders))
	}
	// A held outbox is not salvaged under its owner.
	if _, _, err := SalvageInPlace(path, "", 100*time.Millisecond); err == nil {
		t.Error("salvaged an outbox a Store holds")
	}
}

// A salvage stopped between its two renames leaves no outbox at the path
// and the salvaged one beside it: Open says so, rather than make a new,
// empty outbox (an independent review's case).
func TestAnUnfinishedSalvageIsNotAnEmptyOutbox(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s := open(t, dir, nil)
	enqueue(t, s, "US-1", 100)
	s.Close()
	if err := os.Rename(path, path+".salvage"); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		if _, err := Open(Options{Path: path, ReadOnly: ro}); err == nil || !strings.Contains(err.Error(), ".salvage") {
			t.Errorf("read-only %v: %v", ro, err)
		}
	}
	if _, _, err := SalvageInPlace(path, "", time.Second); err == nil || !strings.Contains(err.Error(), ".salvage") {
		t.Errorf("salvage again: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a new outbox was made: %v", err)
	}
}

// A damaged key-check record is not a wrong key: salvage goes on when
// records open with the key (TestSalvageDamagedOutboxes met it, now and
// then, when a random flip landed in that record).
func TestSalvageGoesOnPastADamagedKeyCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s := open(t, dir, nil)
	enqueue(t, s, "KC-1", 100)
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		v := append([]byte(nil), tx.Bucket(bucketMeta).Get(keyCheck)...)
		v[len(v)-1] ^= 0x01
		return tx.Bucket(bucketMeta).Put(keyCheck, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Salvage(path, filepath.Join(dir, "new.db"), "")
	if err != nil || len(rep.Orders) != 1 {
		t.Fatalf("salvage past a damaged key check: %v, %+v", err, rep)
	}
}
