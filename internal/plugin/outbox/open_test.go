package outbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 9, item 6: outbox.db truncated to 0 bytes with its key present was
// silently made a new, empty outbox: its queued sales were gone, with no
// log line. The key proves an outbox existed: Open refuses.
func TestEmptyOutboxFileWithItsKeyIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	s := open(t, dir, nil)
	for _, no := range []string{"E-1", "E-2", "E-3", "E-4", "E-5"} {
		enqueue(t, s, no, 100)
	}
	s.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		_, err := Open(Options{Path: path, ReadOnly: ro})
		if err == nil {
			t.Fatal("an empty outbox file with its key beside it was opened as a new outbox")
		}
		for _, want := range []string{path, "0 bytes", "outbox.key", "lost", "restore"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("read-only %v: error %q does not say %q", ro, err, want)
			}
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the refused file was changed: %v, %v", fi, err)
	}

	// Without a key there was never an outbox here: a new one starts.
	if err := os.Remove(filepath.Join(dir, "outbox.key")); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatalf("an empty file and no key: %v", err)
	}
	s2.Close()
}

// Issue 9, item 9: a kill during compaction left outbox.db.compact (67 MB
// in the trial) until the next compact. Open removes it, and says so.
func TestOpenRemovesAnUnfinishedCompaction(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	open(t, dir, nil).Close()
	if err := os.WriteFile(path+".compact", make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged []string
	s, err := Open(Options{Path: path, Logf: func(f string, a ...any) { logged = append(logged, f) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("outbox.db.compact is still there: %v", err)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], ".compact") {
		t.Errorf("log lines %q, want one about the removed copy", logged)
	}
}
