package outbox

import (
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
)

// The newest time seen survives a restart and only moves forward; a new
// order is stamped with what was known of the time when it was stored.
func TestNewestSeenAndStamps(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	if got, err := s.NewestSeen(); err != nil || !got.IsZero() {
		t.Fatalf("a new outbox has seen %v (%v)", got, err)
	}
	t1 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for _, tt := range []time.Time{t1, t1.Add(-time.Hour)} {
		if err := s.NoteSeen(tt); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t, dir, nil)
	if got, _ := s.NewestSeen(); !got.Equal(t1) {
		t.Errorf("newest seen %v after a restart, want %v", got, t1)
	}
	clk := clock.New(nil)
	s.opts.Stamp = clk.Stamp
	if _, _, err := s.Enqueue(newOrder("ST-1", 100), Limits{}, Event{Type: EventOrderQueued}); err != nil {
		t.Fatal(err)
	}
	o, err := s.Get("ST-1")
	if err != nil || o.Since == nil || o.Since.Run == 0 {
		t.Fatalf("stamp %+v (%v)", o.Since, err)
	}
	if age, exact, _ := clk.Since(o.AgeStamp()); !exact || age < 0 || age > time.Minute {
		t.Errorf("age %v exact %v", age, exact)
	}
}
