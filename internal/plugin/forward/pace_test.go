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

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// A kiosk that never met the limit starts slowly and grows by a fifth with
// each answer, to full speed within a second or so.
func TestThePaceStartsSlowAndGrowsWithAnswers(t *testing.T) {
	p, tc, _ := paceOn(0, 0)
	if got := p.Rate(); got != PaceStart {
		t.Fatalf("a new pace: %v, want PaceStart", got)
	}
	at1, now := p.turn()
	at2, _ := p.turn()
	if at1 != now || at2-at1 != time.Second/time.Duration(PaceStart) {
		t.Errorf("turns at +%v and +%v, want now and a tenth of a second later", at1-now, at2-at1)
	}
	for i := 0; i < 30; i++ {
		tc.Advance(time.Duration(float64(time.Second) / p.Rate()))
		p.turn()
		p.took()
	}
	if got := p.Rate(); got < 100 {
		t.Errorf("after 30 answers: %v, want past 100 a second", got)
	}
}

// The first refusal sets the pace to the rate that worked: the answers of
// the window, and no more than half what was sent.
func TestTheFirstRefusalSetsTheRateThatWorked(t *testing.T) {
	p, tc, _ := paceOn(0, 0)
	var last time.Duration
	for i := 0; i < 20; i++ { // 20 sent in a second, 6 answered
		tc.Advance(50 * time.Millisecond)
		last, _ = p.turn()
		if i%3 == 0 && i < 18 {
			p.took()
		}
	}
	p.refused(last)
	if got := p.Rate(); math.Abs(got-6) > 0.5 {
		t.Errorf("6 answers in the second it sent: pace %v, want about 6", got)
	}
}

// Later refusals cut the pace to paceCut of itself, once for the requests
// that were out together; between refusals it grows by paceGrow a second.
func TestRefusalsCutOncePerBurstAndThePaceGrowsBetween(t *testing.T) {
	p, tc, _ := paceOn(0, 20) // kept from a run that met the limit
	var turns []time.Duration
	for i := 0; i < 4; i++ {
		at, _ := p.turn()
		turns = append(turns, at)
	}
	tc.Advance(200 * time.Millisecond) // all four sent, then their answers come
	for _, at := range turns {
		p.refused(at)
	}
	if got := p.Rate(); !near(got, 20*paceCut) {
		t.Errorf("four refused together: pace %v, want one cut to %v", got, 20*paceCut)
	}
	tc.Advance(time.Second)
	at, _ := p.turn()
	p.refused(at) // sent after the cut: a new refusal
	want := 20 * paceCut * paceCut
	if got := p.Rate(); !near(got, want) {
		t.Errorf("a later refusal: pace %v, want %v", got, want)
	}
	for i := 0; i < 3; i++ { // answers between refusals: paceGrow a second
		tc.Advance(time.Second / 4)
		p.turn()
		p.took()
	}
	if got := p.Rate(); math.Abs(got-(want+paceGrow*0.75)) > 1e-3 {
		t.Errorf("three answers in 3/4 s: pace %v, want %v", got, want+paceGrow*0.75)
	}
	for i := 0; i < paceRoom; i++ { // answers in a row: the limit has room
		tc.Advance(time.Second / 10)
		p.turn()
		p.took()
	}
	if got := p.Rate(); got < want*paceRoomGrow {
		t.Errorf("after %d answers in a row: pace %v, want it growing by a fifth an answer", paceRoom, got)
	}
}

// The pace stays within MinPace and forward_max_rate, and does not grow
// while it is not used.
func TestThePaceKeepsItsBounds(t *testing.T) {
	p, _, _ := paceOn(0, 0.6)
	at, _ := p.turn()
	p.refused(at)
	if got := p.Rate(); got != MinPace {
		t.Errorf("cut below MinPace: %v", got)
	}
	capped, tc, _ := paceOn(4, 0)
	if got := capped.Rate(); got != 4 {
		t.Errorf("forward_max_rate 4, a new pace: %v", got)
	}
	for i := 0; i < 20; i++ {
		tc.Advance(time.Second / 4)
		capped.turn()
		capped.took()
	}
	if got := capped.Rate(); got != 4 {
		t.Errorf("forward_max_rate 4, grown to %v", got)
	}
	idle, tc2, _ := paceOn(0, 50)
	for i := 0; i < 10; i++ { // answers, but a request every few seconds
		tc2.Advance(3 * time.Second)
		idle.turn()
		idle.took()
	}
	if got := idle.Rate(); got != 50 {
		t.Errorf("grown while unused: 50 -> %v", got)
	}
}

// A pace that met the limit is kept, so that a restart starts from it; a
// slow start is not.
func TestThePaceIsKept(t *testing.T) {
	p, tc, kept := paceOn(0, 0)
	if err := p.flush(); err != nil {
		t.Fatal(err)
	}
	if got := kept.last(); got != -1 {
		t.Errorf("a slow start was kept: %v", got)
	}
	tc.Advance(paceKeepEvery)
	var at time.Duration
	for i := 0; i < 8; i++ {
		at, _ = p.turn()
		if i < 2 {
			p.took()
		}
	}
	p.refused(at)
	testkit.Eventually(t, 5*time.Second, "the pace written once it met the limit", func() bool { return kept.last() == p.Rate() })
	restarted, _, _ := paceOn(0, kept.last())
	if got := restarted.Rate(); got != p.Rate() {
		t.Errorf("restarted at %v, want the kept %v", got, p.Rate())
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
