package bench

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// A small fleet drains into one merchant rate limit: every sale reaches
// WeChat Pay once, none is lost or fails, whether the kiosks kept running
// or were all restarted when the network came back. How fast, and at what
// cost in requests, is the bench's to say (smartretail bench --only
// fleet), not a timed test's.
func TestAFleetDrainsIntoOneRateLimit(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "running"
		if restart {
			name = "restarted"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			r, err := Fleet(ctx, FleetOptions{Kiosks: 4, Orders: 15, Rate: 20, Burst: 5, Restart: restart,
				Plugin: self, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(r)
			if r.Lost != 0 || r.Duplicated != 0 || r.Failed != 0 {
				t.Errorf("lost %d, duplicated %d, failed %d: want none", r.Lost, r.Duplicated, r.Failed)
			}
			if r.Requests < int64(r.Kiosks*r.Orders) || r.MostCreates < 1 {
				t.Errorf("%d requests, most creates for a sale %d: the log missed some", r.Requests, r.MostCreates)
			}
		})
	}
}

// The fleet's line says when the last kiosk got its first sale made and
// when the kiosks were done, and counts apart a kiosk that got none made
// (not a first sale at the end of time).
func TestTheFleetLineCountsKioskByKiosk(t *testing.T) {
	r := FleetResult{Kiosks: 3, Orders: 2, Rate: 10, KioskFirst: []time.Duration{time.Second, 2 * time.Second, math.MaxInt64},
		KioskDrain: []time.Duration{3 * time.Second, 5 * time.Second, 0}, Lost: 2}
	got := r.String()
	for _, want := range []string{"got its first at 2.0s", "done from 3.0s to 5.0s", "(and 1 of the kiosks got no sale made)", "lost 2"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q: no %q", got, want)
		}
	}
}

// A fleet that got no sale made reports how long it waited, not a drain
// reaching back to the year 1 (which met every drain target).
func TestAFleetWithNothingMadeDrainsForItsWholeWait(t *testing.T) {
	back := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	if got := drainTime(back, back.Add(5*time.Second), back.Add(time.Minute)); got != 5*time.Second {
		t.Errorf("last sale 5 s after the return: drain %v", got)
	}
	if got := drainTime(back, time.Time{}, back.Add(time.Minute)); got != time.Minute {
		t.Errorf("no sale made, a minute waited: drain %v, want 1m0s", got)
	}
}
