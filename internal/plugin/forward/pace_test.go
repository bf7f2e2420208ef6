package forward

import (
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
)

// paceOn is a pace on a test clock, keeping what it writes.
func paceOn(ceiling, start float64) (*pace, *testkit.Clock, *keptPaces) {
	tc := &testkit.Clock{}
	kept := &keptPaces{}
	return newPace(clock.New(tc), ceiling, start, kept.keep), tc, kept
}

type keptPaces struct {
	mu    sync.Mutex
	rates []float64
}

func (k *keptPaces) keep(r float64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.rates = append(k.rates, r)
	return nil
}

func (k *keptPaces) last() float64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.rates) == 0 {
		return -1
	}
	return k.rates[len(k.rates)-1]
}

// send takes n turns and answers each (ok: not refused), all at once.
func send(p *pace, n int, ok bool) {
	for i := 0; i < n; i++ {
		p.turn()
	}
	for i := 0; i < n; i++ {
		if ok {
			p.took()
		} else {
			p.refused()
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Nothing paces a kiosk until WeChat Pay refuses it for rate: then the
// pace is at most half what it sent and no more than what was answered in
// the last second; the turns it gives out are that far apart.
func TestThePaceIsTheRateThatWorked(t *testing.T) {
	p, tc, _ := paceOn(0, 0)
	for i := 0; i < 40; i++ {
		if at, now := p.turn(); at != now {
			t.Fatalf("unpaced, turn %d waits %v", i, at-now)
		}
	}
	for i := 0; i < 6; i++ {
		p.took()
	}
	p.refused()
	if got := p.Rate(); !near(got, 6) {
		t.Fatalf("after 40 sent and 6 answered in a second: pace %v, want 6", got)
	}
	at1, now := p.turn()
	at2, _ := p.turn()
	if d := at1 - now; d < time.Second/6-time.Millisecond || d > time.Second/6 || at2-at1 != time.Second/6 {
		t.Errorf("turns at +%v and +%v, want a sixth of a second apart", at1-now, at2-at1)
	}

	// Half of what it sent binds when more was answered.
	p, tc, _ = paceOn(0, 0)
	send(p, 10, true)
	p.refused()
	if got := p.Rate(); !near(got, 5) {
		t.Errorf("10 sent and answered, then refused: pace %v, want 5", got)
	}
	// The rest of the burst is the same burst; after the guard, a new one.
	p.refused()
	if got := p.Rate(); !near(got, 5) {
		t.Errorf("a second refusal of the burst: pace %v, want 5 still", got)
	}
	tc.Advance(paceGuard)
	send(p, 4, true) // answers: it grew a little
	before := p.Rate()
	p.refused()
	if got := p.Rate(); before <= 5 || !near(got, before/2) {
		t.Errorf("a refusal after the guard: pace %v -> %v, want it grown past 5, then halved", before, got)
	}
}

// Refusals with no answer beside them (WeChat Pay refuses all) say nothing
// of the rate that works: the pace stays; and it never goes below MinPace.
func TestThePaceIgnoresRefusalsWithoutAnswers(t *testing.T) {
	p, tc, _ := paceOn(0, 0)
	send(p, 8, false)
	if got := p.Rate(); got != 0 {
		t.Errorf("all refused: pace %v, want still unpaced", got)
	}
	tc.Advance(2 * paceWindow)
	p.turn()
	p.took()
	send(p, 1, false) // one answer and two sent in the window: a cut, to 1
	if got := p.Rate(); got != 1 {
		t.Errorf("one answered in the last second, then refused: pace %v, want 1", got)
	}
	p, _, _ = paceOn(0, 0.6)
	send(p, 1, true)
	p.refused()
	if got := p.Rate(); got != MinPace {
		t.Errorf("pace %v, want no lower than MinPace", got)
	}
}

// Answers grow the pace, a little more the faster it goes, but not while
// it is not used (past twice what is sent), and never past the ceiling;
// with a ceiling and nothing else, the ceiling paces.
func TestThePaceGrowsWithAnswers(t *testing.T) {
	p, tc, _ := paceOn(0, 10)
	for i := 0; i < 10; i++ {
		tc.Advance(100 * time.Millisecond)
		p.turn()
		p.took()
	}
	want := 10.0
	for i := 0; i < 10; i++ {
		want += (paceGrowAdd + paceGrowProp*want) * 0.1
	}
	if got := p.Rate(); got <= 10 || got > want {
		t.Errorf("after a second of answers at 10/s: pace %v, want more than 10 and at most %v", got, want)
	}
	idle := p.Rate()
	tc.Advance(5 * time.Second)
	p.took() // an answer, but nothing was sent for seconds
	if got := p.Rate(); got != idle {
		t.Errorf("grown while unused: %v -> %v", idle, got)
	}

	capped, tc2, _ := paceOn(12, 11.9)
	for i := 0; i < 20; i++ {
		tc2.Advance(100 * time.Millisecond)
		capped.turn()
		capped.took()
	}
	if got := capped.Rate(); got != 12 {
		t.Errorf("pace %v past the ceiling 12", got)
	}
	onlyCeiling, _, _ := paceOn(4, 0)
	at1, now := onlyCeiling.turn()
	at2, _ := onlyCeiling.turn()
	if at1 != now || at2-at1 != time.Second/4 {
		t.Errorf("forward_max_rate 4 alone: turns at +%v, +%v", at1-now, at2-at1)
	}
}

// The pace is kept, so that a restart starts from it: written when it
// moved by a fifth and the last write is old enough, and on flush.
func TestThePaceIsKept(t *testing.T) {
	p, tc, kept := paceOn(0, 0)
	send(p, 10, true)
	p.refused() // 5/s, but the start was only just written (as 0)
	if err := p.flush(); err != nil {
		t.Fatal(err)
	}
	if got := kept.last(); got != 5 {
		t.Errorf("flushed %v, want 5", got)
	}
	tc.Advance(paceKeepEvery)
	send(p, 2, true)
	p.refused() // cut to 2: moved by more than a fifth, and the last write is old
	testkit.Eventually(t, 5*time.Second, "the cut pace written", func() bool { return kept.last() == 2 })
	restarted, _, _ := paceOn(0, kept.last())
	if got := restarted.Rate(); got != 2 {
		t.Errorf("restarted at %v, want the kept 2", got)
	}
}

// A 429 is an answer but not a success: it leaves the count of failures,
// so a rate limit that goes on backs off further; the refusals of
// requests that were out together count once; and a Retry-After is waited
// out times a random 1 to 2.
func TestFailuresCountOncePerBurstAndSurviveRateLimits(t *testing.T) {
	st, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "o.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tc := &testkit.Clock{}
	f := New(Options{Store: st, Clock: clock.New(tc), StartJitter: -1})
	limited := &wxpay.Error{Class: wxpay.RateLimited, StatusCode: 429, Code: "FREQUENCY_LIMITED", RetryAfter: time.Second}
	refuse := func() time.Duration { // as a refused send is settled
		f.Observe(limited)
		f.pause(limited.RetryAfter)
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.notBefore - tc.Elapsed()
	}
	failures := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.failures
	}
	for i := 0; i < 4; i++ { // four out together
		if d := refuse(); d < time.Second || d > 2*time.Second+time.Millisecond {
			t.Fatalf("held back %v after Retry-After 1s, want 1s to 2s", d)
		}
	}
	if n := failures(); n != 1 {
		t.Errorf("a burst of four refusals counted %d times, want once", n)
	}
	tc.Advance(3 * time.Second)
	refuse()
	if n := failures(); n != 2 {
		t.Errorf("a second burst: %d failures, want 2 (a 429 does not reset the count)", n)
	}
	f.Observe(nil)
	if n := failures(); n != 0 {
		t.Errorf("after a success: %d failures, want 0", n)
	}
}
