package outbox

import (
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Issue 9, item 7: a corrupted event record made WatchEvents deliver 1, 2,
// 4, ... with no EVENTS_LOST and corrupt_count 0, only a log line. The
// hole is now reported in the event's place, and the record is counted.
func TestUnreadableEventIsReportedLostAndCounted(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	for _, no := range []string{"EV-1", "EV-2", "EV-3", "EV-4"} {
		enqueue(t, s, no, 1)
	}
	s.Close()
	db, err := bolt.Open(filepath.Join(dir, "outbox.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		if err := b.Put(u64(3), []byte("\x01damaged beyond reading, long enough to look sealed")); err != nil {
			return err
		}
		return b.Delete(u64(2)) // and a number missing altogether
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, nil)
	evs, err := s.EventsAfter(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[0].OutOrderNo != "EV-1" || evs[1].Type != EventEventsLost || evs[2].Type != EventEventsLost || evs[3].OutOrderNo != "EV-4" {
		t.Fatalf("events %+v", evs)
	}
	if evs[1].Seq != 2 || !strings.Contains(evs[1].Message, "event 2 ") || evs[2].Seq != 3 || !strings.Contains(evs[2].Message, "event 3 cannot be read") {
		t.Errorf("lost events %+v", evs[1:3])
	}
	st, err := s.Stats()
	if err != nil || st.CorruptCount != 1 {
		t.Errorf("corrupt count %d, want 1 (%v)", st.CorruptCount, err)
	}
	// Set aside, the unreadable event is now a hole: still reported, once.
	again, _ := s.EventsAfter(1, 10)
	if len(again) != 2 || again[0].Type != EventEventsLost || again[0].Seq != 3 || !strings.Contains(again[0].Message, "events 2 to 3") || again[1].OutOrderNo != "EV-4" {
		t.Errorf("after set-aside: %+v", again)
	}
	// A resume after the hole sees none of it.
	if after, _ := s.EventsAfter(3, 10); len(after) != 1 || after[0].OutOrderNo != "EV-4" {
		t.Errorf("after 3: %+v", after)
	}
}
