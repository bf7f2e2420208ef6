package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSyncDirNamesTheFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	err := syncDir(dir)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("syncDir of a missing folder: %v", err)
	}
	if err := syncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

var errSync = errors.New("input/output error")

func failingSync(dir string) error { return &os.PathError{Op: "sync", Path: dir, Err: errSync} }

// A new key whose folder cannot be synced may not outlive a power cut,
// and records sealed with it would then open with no key: the outbox is
// not opened, and no half-made key is left behind.
func TestKeyCreationFailsWhenItsFolderCannotBeSynced(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "outbox.key")
	_, err := Open(Options{Path: filepath.Join(dir, "outbox.db"), dirSync: failingSync})
	if !errors.Is(err, errSync) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), key) {
		t.Fatalf("open with a folder that cannot be synced: %v", err)
	}
	if _, serr := os.Stat(key); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("the key file was left: %v", serr)
	}
	// With the folder syncing again, the outbox opens with a new key.
	s := open(t, dir, nil)
	enqueue(t, s, "K-1", 100)
}

// Compaction whose rename cannot be made durable says so, and the outbox
// takes no more writes that a power cut could take back with the rename.
func TestCompactionFailsWhenItsRenameCannotBeMadeDurable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	enqueue(t, s, "C-1", 100)
	s.opts.dirSync = failingSync
	if _, _, err := s.Compact(); !errors.Is(err, errSync) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("compact: %v", err)
	}
	if _, _, err := s.Enqueue(newOrder("C-2", 100), Limits{}, Event{Type: EventOrderQueued}); err == nil {
		t.Fatal("an order was taken after the failed compaction")
	}
	if _, err := s.Get("C-1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after the failed compaction: %v", err)
	}
	s.Close()
	// The compacted file holds every order.
	s = open(t, dir, nil)
	if o, err := s.Get("C-1"); err != nil || o == nil {
		t.Fatalf("C-1 after reopening: %v, %v", o, err)
	}
}
