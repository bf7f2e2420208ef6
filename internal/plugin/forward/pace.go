package forward

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// The pace: how fast the forwarder sends. A merchant's kiosks share one
// WeChat Pay rate limit, so a fleet coming back from an outage must not
// all send at full speed; and a kiosk cannot know how many others share
// the limit. It sees only its own answers: refused for rate (429), or by a
// struggling WeChat Pay (5xx), or not. The pace is AIMD, as TCP's window:
//   - a slow start: a kiosk that never met the limit begins at PaceStart
//     and doubles every paceDouble, from its first send (the wait before
//     it is no time to grow in) and at most once an answer. By the clock,
//     not by answers: grown by answers, the kiosks that came back first
//     would race ahead of the rest, fill the limit, and leave the late
//     ones cut low. A backlog that would take longer than paceLong at the
//     pace doubles faster, in proportion, down to every paceDoubleFast: a
//     slow start costs a kiosk a second or two whatever its backlog (a
//     kiosk alone with thousands queued, 5 % of its drain), while the
//     unevenness a fast one leaves in a fleet costs a short drain its tail
//     and a long one next to nothing;
//   - a refusal halves it (paceCut), no lower than paceFloor of what got
//     through in the last paceWindow: a fleet refused all together does
//     not fall far below the limit it shares. The first refusal, which
//     ends a slow start, cuts to that floor however deep, down to a
//     quarter (paceFirstCut): a fleet that came back at PaceStart each is
//     often several times over its limit, and halving it again and again
//     costs a round of refusals each time. Only requests that left after
//     the last cut can cut again: those before it say nothing of the new
//     pace;
//   - between refusals it grows by paceGrow a second, the same for every
//     kiosk, which evens a fleet's paces out;
//   - paceRoom answers in a row without a refusal say the limit has room
//     (others are done, or gone quiet): it doubles every paceDouble again.
//     Counted in answers, which the limit shares out: a kiosk of a big
//     fleet seldom gets there, and one left with the limit to itself
//     takes it within a few seconds;
//   - never below MinPace, nor above forward_max_rate, and not grown past
//     twice what the kiosk actually sends (and PaceStart).
// A turn is taken only when it is due, so every request goes at the pace
// in force as it leaves (one that waited through a cut waits longer).
// A pace that met the limit is kept in the outbox: a kiosk restarted at
// the end of an outage starts from it.
//
// The figures were tuned on a model of a fleet and a token bucket
// (pace_model_test.go), then measured with real plugins (smartretail
// bench --only fleet, BENCHMARKS.md).

// Pace tuning.
const (
	// PaceStart is where a kiosk that never met the limit begins.
	PaceStart = 10.0
	// MinPace is the slowest the pace goes, requests a second.
	MinPace = 0.5
	// paceWindow is how far back the rate that worked is counted.
	paceWindow = 2 * time.Second
	// paceCut: a refusal cuts the pace to this much of itself, and
	// paceFloor: to no less than this much of what got through.
	paceCut   = 0.5
	paceFloor = 0.7
	// paceFirstCut: the first refusal, ending a slow start, cuts to
	// paceFloor of what got through, no lower than this much of the pace.
	paceFirstCut = 0.25
	// paceGrow: each second between refusals adds this much.
	paceGrow = 0.1
	// paceRoom answers in a row without a refusal say the limit has room.
	paceRoom = 10
	// paceDouble: in a slow start, and while the limit has room, the pace
	// doubles this often.
	paceDouble = 750 * time.Millisecond
	// paceLong: a slow start whose backlog would take longer than this at
	// the pace doubles faster, down to every paceDoubleFast (a few round
	// trips: growth faster than answers come back is blind).
	paceLong       = 10 * time.Second
	paceDoubleFast = 150 * time.Millisecond
	// paceKeepEvery: the pace is written to the outbox at most this often,
	// and only when it moved by a fifth or more.
	paceKeepEvery = 5 * time.Second
)

type pace struct {
	clock   *clock.Clock
	ceiling float64 // forward_max_rate; 0: none

	mu       sync.Mutex
	rate     float64       // requests a second
	met      bool          // it met the limit: no slow start
	next     time.Duration // the monotonic time of the next request's turn
	lastTurn time.Duration // the last turn given
	lastCut  time.Duration // when the last cut was made (turns before it are its burst)
	lastGrow time.Duration
	changed  chan struct{}       // closed when the pace or the line changes, for who waits
	line     []uint64            // tickets of the requests waiting for a turn, oldest first
	issued   uint64              // the last ticket given
	clean    int                 // answers since the last refusal
	sent     []time.Duration     // when requests went, the last paceWindow
	answered []time.Duration     // when answers that were not refusals came, likewise
	kept     float64             // the rate last written to the outbox
	keptAt   time.Duration       // when
	keep     func(float64) error // writes it (nil: not kept)
	backlog  func() int          // how many orders wait to be sent (nil: not known)
}

// newPace starts a pace: from start, kept from a run that met the limit,
// or else a slow start.
func newPace(c *clock.Clock, ceiling, start float64, keep func(float64) error) *pace {
	now := c.Elapsed()
	p := &pace{clock: c, ceiling: ceiling, rate: start, met: start > 0, kept: start, keep: keep,
		keptAt: now, lastGrow: now, lastCut: math.MinInt64}
	if !p.met {
		p.rate = PaceStart
	}
	p.rate = p.capped(p.rate)
	return p
}

// Rate is the pace in force, requests a second.
func (p *pace) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate
}

func (p *pace) capped(r float64) float64 {
	r = math.Max(MinPace, r)
	if p.ceiling > 0 && r > p.ceiling {
		r = p.ceiling
	}
	return r
}

// wait waits for the next request's turn and takes it; false when ctx
// ended first. A turn is taken only when it is due, so a request always
// goes at the pace in force as it leaves: one that waited through a cut
// waits again. Turns go in the order the requests came to wait: at a slow
// pace (WeChat Pay refusing everything) the order whose worker comes back
// first for each turn would otherwise take every one, and the others wait
// without end. The turn goes back to outcome with the answer.
func (p *pace) wait(ctx context.Context) (time.Duration, bool) {
	ticket := p.join()
	for {
		at, now, changed := p.claim(ticket)
		if at <= now {
			return at, ctx.Err() == nil
		}
		var t *time.Timer
		var due <-chan time.Time
		if at != notFirst {
			t = time.NewTimer(at - now)
			due = t.C
		}
		select {
		case <-due:
		case <-changed:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			p.leave(ticket)
			return at, false
		}
	}
}

// join puts a request in the line for a turn and gives its ticket.
func (p *pace) join() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.issued++
	p.line = append(p.line, p.issued)
	return p.issued
}

// notFirst is claim's "not your turn yet: others wait before you".
const notFirst = time.Duration(math.MaxInt64)

// claim takes the turn at now for ticket if it is due and no one waits
// before it (ticket 0: one not in the line, who goes only when the line is
// empty); or says when it will be (at > now; notFirst when others wait
// before it) and gives a channel closed when the pace or the line changes
// before.
func (p *pace) claim(ticket uint64) (at, now time.Duration, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now = p.clock.Elapsed()
	first := len(p.line) == 0 || p.line[0] == ticket
	if !first || p.next > now {
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		if !first {
			return notFirst, now, p.changed
		}
		return p.next, now, p.changed
	}
	if len(p.line) > 0 {
		p.line = p.line[1:]
	}
	p.next = now + p.gap()
	p.lastTurn = now
	p.send(now)
	p.wake() // the next in line waits for the next turn now
	return now, now, nil
}

// send records a request leaving at t (p.mu held).
func (p *pace) send(t time.Duration) {
	if p.sent = trim(p.sent, t-paceWindow); len(p.sent) == 0 {
		p.lastGrow = t // idle until now (the first send's wait, a quiet spell): no time to grow in
	}
	p.sent = append(p.sent, t)
}

// leave takes ticket out of the line: its request gave up waiting.
func (p *pace) leave(ticket uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.line, ticket); i >= 0 {
		p.line = slices.Delete(p.line, i, i+1)
		p.wake()
	}
}

// wake wakes who waits (p.mu held).
func (p *pace) wake() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// moved sets the next turn after the pace changed and wakes the waiting
// (p.mu held).
func (p *pace) moved() {
	p.next = p.lastTurn + p.gap()
	p.wake()
}

func (p *pace) gap() time.Duration { return time.Duration(float64(time.Second) / p.rate) }

// outcome takes what came of the request sent at turn: a refusal for rate
// (429) or a 5xx slows the pace, another answer grows it, no answer (the
// network) says nothing of the rate.
func (p *pace) outcome(turn time.Duration, err error) {
	var we *wxpay.Error
	switch {
	case err == nil:
		p.took()
	case !errors.As(err, &we) || we.Class == wxpay.Network || untrusted(we):
	case overloaded(we):
		p.refused(turn)
	default:
		p.took()
	}
}

// refused takes a refusal of the request sent at turn.
func (p *pace) refused(turn time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Elapsed()
	p.clean = 0
	if turn <= p.lastCut {
		return // sent before the last cut was made: the same burst
	}
	// Cut, but not far below what got through: a fleet whose kiosks are
	// refused together must not all fall to a fraction of the limit.
	p.sent, p.answered = trim(p.sent, now-paceWindow), trim(p.answered, now-paceWindow)
	through := float64(len(p.answered)) / p.covered(now).Seconds()
	if p.met {
		p.rate = math.Max(p.rate*paceCut, paceFloor*through)
	} else {
		// The first ends a slow start, whose pace ran ahead of what the
		// limit was found to take: it may cut deeper.
		p.rate, p.met = math.Max(p.rate*paceFirstCut, paceFloor*through), true
	}
	p.rate = p.capped(p.rate)
	p.lastCut, p.lastGrow = now, now
	p.moved()
	p.maybeKeep(now)
}

// covered is how much of the last paceWindow the kiosk has been sending
// in (p.mu held, trimmed): rates are counted over it.
func (p *pace) covered(now time.Duration) time.Duration {
	if len(p.sent) == 0 {
		return paceWindow
	}
	return max(min(paceWindow, now-p.sent[0]), paceWindow/4)
}

// took takes an answer that was not a refusal: the pace grows.
func (p *pace) took() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Elapsed()
	p.answered = append(trim(p.answered, now-paceWindow), now)
	p.clean++
	dt := math.Min((now - p.lastGrow).Seconds(), 1)
	p.lastGrow = now
	p.sent = trim(p.sent, now-paceWindow)
	if sending := float64(len(p.sent)) / p.covered(now).Seconds(); p.rate > 2*sending+PaceStart {
		return // not used: growing it would only be a guess
	}
	switch {
	case !p.met:
		// By the clock: kiosks that came back together stay together. At
		// most one doubling an answer: growth no answer has seen is blind.
		d := p.startDouble().Seconds()
		p.rate *= math.Exp2(math.Min(dt, d) / d)
	case p.clean >= paceRoom:
		p.rate *= math.Exp2(dt / paceDouble.Seconds())
	default:
		p.rate += paceGrow * dt
	}
	p.rate = p.capped(p.rate)
	p.moved()
	p.maybeKeep(now)
}

// startDouble is how often a slow start doubles: every paceDouble, or
// faster for a backlog that would take longer than paceLong at the pace
// (p.mu held).
func (p *pace) startDouble() time.Duration {
	if p.backlog == nil {
		return paceDouble
	}
	long := float64(p.backlog()) / p.rate // seconds
	if long <= paceLong.Seconds() {
		return paceDouble
	}
	return max(paceDoubleFast, time.Duration(float64(paceDouble)*paceLong.Seconds()/long))
}

// maybeKeep writes the pace to the outbox when it met the limit, moved by
// a fifth or more, and the last write is paceKeepEvery old (p.mu held).
func (p *pace) maybeKeep(now time.Duration) {
	if p.keep == nil || !p.met || now-p.keptAt < paceKeepEvery || math.Abs(p.rate-p.kept) < p.kept/5 {
		return
	}
	p.keptAt, p.kept = now, p.rate
	go func(r float64) { _ = p.keep(r) }(p.rate) // a slow disk does not hold a send
}

// flush writes the pace to the outbox when it met the limit and differs
// from the one kept.
func (p *pace) flush() error {
	p.mu.Lock()
	r, changed := p.rate, p.met && p.rate != p.kept
	p.kept = r
	p.mu.Unlock()
	if !changed || p.keep == nil {
		return nil
	}
	return p.keep(r)
}

// trim drops the times before from, oldest first.
func trim(ts []time.Duration, from time.Duration) []time.Duration {
	i := 0
	for i < len(ts) && ts[i] < from {
		i++
	}
	if i == 0 {
		return ts
	}
	return append(ts[:0], ts[i:]...)
}
