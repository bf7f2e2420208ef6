package forward

import (
	"context"
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

// openOutbox opens an outbox in a test's directory, closed when it ends.
func openOutbox(t *testing.T) *outbox.Store {
	t.Helper()
	st, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "o.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// turn takes the next turn whenever it is due, without waiting for it:
// for tests that drive the pace by hand.
func (p *pace) turn() (at, now time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now = p.clock.Elapsed()
	at = max(now, p.next)
	p.next = at + p.gap()
	p.lastTurn = at
	p.send(at)
	return at, now
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// A kiosk that never met the limit starts slowly and doubles every
// paceDouble, by the clock: two kiosks answered at different speeds grow
// alike.
func TestThePaceStartsSlowAndDoublesByTheClock(t *testing.T) {
	p, tc, _ := paceOn(0, 0)
	if got := p.Rate(); got != PaceStart {
		t.Fatalf("a new pace: %v, want PaceStart", got)
	}
	at1, now := p.turn()
	at2, _ := p.turn()
	if at1 != now || at2-at1 != time.Second/time.Duration(PaceStart) {
		t.Errorf("turns at +%v and +%v, want now and a tenth of a second later", at1-now, at2-at1)
	}
	q, tq, _ := paceOn(0, 0)
	q.turn()                  // both sent first at 0: the slow start counts from there
	for i := 0; i < 30; i++ { // both send every 50 ms; p has every answer, q one in three
		tc.Advance(50 * time.Millisecond)
		tq.Advance(50 * time.Millisecond)
		p.turn()
		p.took()
		q.turn()
		if i%3 == 2 {
			q.took()
		}
	}
	want := PaceStart * 4 // 1.5 s: two doublings
	if got := p.Rate(); math.Abs(got-want) > 0.01 {
		t.Errorf("after 1.5 s of answers: %v, want %v", got, want)
	}
	if got := q.Rate(); math.Abs(got-want) > 0.01 {
		t.Errorf("after 1.5 s of fewer answers: %v, want %v like the other", got, want)
	}
}

// A slow start with a backlog that would take longer than paceLong at the
// pace doubles faster, in proportion: a kiosk alone with thousands queued
// does not spend seconds at a fraction of what it could send. A short
// backlog (a fleet's kiosk) keeps paceDouble.
func TestASlowStartWithALongBacklogDoublesFaster(t *testing.T) {
	for _, tc := range []struct {
		backlog int
		after   time.Duration // the first doubling
	}{
		{50, paceDouble},      // 5 s at PaceStart
		{100, paceDouble},     // 10 s: not longer than paceLong
		{200, paceDouble / 2}, // 20 s: twice paceLong
		{5000, paceDoubleFast},
	} {
		p, clk, _ := paceOn(0, 0)
		p.backlog = func() int { return tc.backlog }
		step := tc.after / 10
		for i := 0; i < 10; i++ {
			clk.Advance(step)
			p.turn()
			p.took()
		}
		// The doubling time is read at each answer, from the pace then:
		// as the pace grows the backlog is shorter at it, and the doubling
		// slower (200: 20 s at 10 a second, 12 s at 17).
		if got := p.Rate(); got < 1.6*PaceStart || got > 2.01*PaceStart {
			t.Errorf("backlog %d: %v after %v of answers, want about %v", tc.backlog, got, tc.after, 2*PaceStart)
		}
	}
}

// The slow start grows from the first send, not from when the pace was
// made (the first send's wait, up to a second, is no time to grow in),
// and at most one doubling an answer: growth no answer has seen is blind.
// Before, the first answer after a second's wait multiplied the pace by
// 2.5, and by 100 with a long backlog.
func TestTheSlowStartGrowsOnlyWhileSending(t *testing.T) {
	p, tc, _ := paceOn(0, 0)
	tc.Advance(time.Second) // the first send's wait
	p.turn()
	tc.Advance(75 * time.Millisecond)
	p.took()
	if got, want := p.Rate(), PaceStart*math.Exp2(0.1); math.Abs(got-want) > 1e-3 {
		t.Errorf("the first answer, 75 ms after the first send: pace %v, want %v (a tenth of a doubling)", got, want)
	}
	q, tq, _ := paceOn(0, 0)
	q.backlog = func() int { return 5000 } // doubles every paceDoubleFast
	q.turn()
	tq.Advance(paceDoubleFast / 2)
	q.turn()
	tq.Advance(paceDoubleFast * 4) // a slow answer
	q.took()
	if got := q.Rate(); got > 2*PaceStart+1e-9 {
		t.Errorf("one answer %v after the last growth: pace %v, want at most one doubling, %v", paceDoubleFast*9/2, got, 2*PaceStart)
	}
}

// The forwarder's pace reads the backlog from the outbox, at most every
// backlogEvery, and in the background: the pace asks with its lock held
// and never waits for the outbox (a compaction holds reads off).
func TestTheForwardersPaceKnowsTheBacklog(t *testing.T) {
	st := openOutbox(t)
	queue := func(no string) {
		o := &outbox.Order{OutOrderNo: no, Ops: []outbox.Op{{Kind: outbox.OpCreate, State: outbox.OpPending, Body: []byte(`{"out_order_no":"` + no + `"}`)}}}
		if _, _, err := st.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
			t.Fatal(err)
		}
	}
	queue("B1")
	queue("B2")
	tc := &testkit.Clock{}
	slow := &slowCount{Store: st, release: make(chan struct{})}
	f := New(Options{Store: slow, Clock: clock.New(tc), StartJitter: -1})
	done := make(chan int)
	go func() { done <- f.pace.backlog() }()
	select {
	case n := <-done:
		if n != 0 {
			t.Errorf("backlog %d before the outbox answered, want 0", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the backlog waited for the outbox")
	}
	close(slow.release)
	testkit.Eventually(t, 5*time.Second, "the 2 queued read", func() bool { return f.pace.backlog() == 2 })
	queue("B3")
	if got := f.pace.backlog(); got != 2 {
		t.Errorf("backlog %d at once after another was queued, want the 2 read (it is read every %v)", got, backlogEvery)
	}
	tc.Advance(backlogEvery)
	testkit.Eventually(t, 5*time.Second, "the 3 queued read after backlogEvery", func() bool { return f.pace.backlog() == 3 })
}

// slowCount is an outbox whose WorkCount waits for release.
type slowCount struct {
	*outbox.Store
	release chan struct{}
}

func (s *slowCount) WorkCount() (int, error) {
	<-s.release
	return s.Store.WorkCount()
}

// A turn is taken when it is due: one waiting through a cut waits for a
// turn of the new pace, and one waiting through a rise goes sooner.
func TestAWaitingRequestGoesAtThePaceInForce(t *testing.T) {
	p, tc, _ := paceOn(0, 10)
	if at, now, _ := p.claim(0); at != now {
		t.Fatalf("the first turn: at +%v, want now", at-now)
	}
	at, now, changed := p.claim(0)
	if (at-now-100*time.Millisecond).Abs() > time.Millisecond || changed == nil {
		t.Fatalf("the next: in %v, want 100ms and a channel to wait on", at-now)
	}
	tc.Advance(50 * time.Millisecond)
	p.refused(0) // the first request, refused: the pace halves
	select {
	case <-changed:
	default:
		t.Fatal("the cut did not wake who waits")
	}
	if at, now, _ := p.claim(0); (at - now - 150*time.Millisecond).Abs() > time.Millisecond {
		t.Errorf("after the cut: next turn in %v, want 150ms (200ms after the last)", at-now)
	}
}

// A refusal halves the pace, not below what got through; refusals of
// requests that left before the cut do not cut again; between refusals
// the pace grows by paceGrow a second, and after paceRoom answers in a
// row it doubles by the clock.
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
	before := p.Rate()
	for i := 0; i < paceRoom+8; i++ { // answers in a row: the limit has room
		tc.Advance(time.Second / 10)
		p.turn()
		p.took()
	}
	if got := p.Rate(); got < 2*before {
		t.Errorf("after %d answers in a row: pace %v, want it doubling from %v", paceRoom+8, got, before)
	}

	// 8 a second got through; a refusal cuts a pace of 12 to 8 x paceFloor,
	// not to 6.
	f, tf, _ := paceOn(0, 12)
	for i := 0; i < 16; i++ {
		tf.Advance(time.Second / 8)
		f.turn()
		f.took()
	}
	f.mu.Lock()
	f.rate, f.clean = 12, 0
	f.mu.Unlock()
	tf.Advance(time.Second / 8)
	at, _ = f.turn()
	f.refused(at)
	if got := f.Rate(); math.Abs(got-8*paceFloor) > 0.5 {
		t.Errorf("8 a second got through, pace 12 refused: %v, want about %v", got, 8*paceFloor)
	}
}

// The first refusal ends a slow start and cuts to what got through
// (paceFloor of it), down to a quarter of the pace: a fleet that came back
// at PaceStart each may be ten times over its limit, and halving again and
// again cost a round of refusals a halving.
func TestTheFirstRefusalCutsToWhatGotThrough(t *testing.T) {
	p, _, _ := paceOn(0, 0)
	at, _ := p.turn()
	p.refused(at) // refused at once: nothing got through
	if got, want := p.Rate(), PaceStart*paceFirstCut; !near(got, want) {
		t.Errorf("refused first: pace %v, want a quarter of PaceStart, %v", got, want)
	}

	q, tc, _ := paceOn(0, 0)
	for i := 0; i < 10; i++ { // ten answers in a second: 10 a second got through
		q.turn()
		tc.Advance(100 * time.Millisecond)
		q.took()
	}
	grown := q.Rate()
	at, _ = q.turn()
	q.refused(at)
	if got, want := q.Rate(), paceFloor*10; math.Abs(got-want) > 1e-3 || want < grown*paceFirstCut {
		t.Errorf("refused after 10 a second got through at a pace of %v: pace %v, want %v", grown, got, want)
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
	st := openOutbox(t)
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

// Turns go in the order requests came to wait. At a slow pace (WeChat Pay
// refusing everything), the order whose worker came back first for each
// turn used to take every one: one order's queries took every turn for
// 10 s while seven creates waited (TestRateLimitAndSystemErrorsWaitAndRetry
// failed so, a run in ten under -race).
func TestTurnsGoInTheOrderRequestsCameToWait(t *testing.T) {
	// By hand: the second in line cannot take a turn that is due while
	// the first still waits, nor one who is not in line.
	p, tc, _ := paceOn(0, 10)
	first, second := p.join(), p.join()
	if at, now, _ := p.claim(second); at <= now {
		t.Fatal("the second in line took the turn before the first")
	}
	if at, now, _ := p.claim(0); at <= now {
		t.Fatal("one not in line took the turn before the line")
	}
	if at, now, _ := p.claim(first); at != now {
		t.Fatalf("the first in line: turn at +%v, want now", at-now)
	}
	tc.Advance(100 * time.Millisecond)
	if at, now, _ := p.claim(second); at != now {
		t.Fatalf("the second, next: turn at +%v, want now", at-now)
	}

	// Waiting for real: one request waits; another comes back for turn
	// after turn; the first still goes next.
	q := newPace(clock.New(clock.System()), 0, 20, nil) // 50 ms a turn
	q.wait(context.Background())
	went := make(chan string, 16)
	go func() {
		q.wait(context.Background())
		went <- "waiting"
	}()
	testkit.Eventually(t, time.Second, "the first in line", func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.line) == 1 })
	for i := 0; i < 3; i++ {
		q.wait(context.Background())
		went <- "back again"
	}
	if got := <-went; got != "waiting" {
		t.Errorf("the next turn went to the request %s, not to the one that waited first", got)
	}

	// One that gives up leaves the line: the next goes.
	r, _, _ := paceOn(0, 10)
	r.claim(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := r.wait(ctx); ok {
		t.Fatal("a wait whose context ended took a turn")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.line) != 0 {
		t.Errorf("the line after one gave up: %v", r.line)
	}
}
