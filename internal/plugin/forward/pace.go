package forward

import (
	"context"
	"errors"
	"math"
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
//     and grows by a fifth with each answer (a kiosk alone reaches full
//     speed within a second or so; a fleet meets the limit before its
//     first second is out);
//   - the first refusal sets it to the rate that worked: no more than the
//     answers of the last paceWindow, and half what was sent;
//   - each later refusal cuts it to paceCut of itself, once for the
//     requests that were out together (sent before the last cut);
//   - between refusals it grows by paceGrow a second, the same for every
//     kiosk, which evens a fleet's paces out (a fleet drains together,
//     none left alone at the end);
//   - paceRoom answers in a row without a refusal say the limit has room
//     (others are done, or gone quiet): it grows by a fifth with each
//     answer again. Counted in answers, which the limit shares out: a
//     kiosk of a big fleet seldom gets there, one left alone soon does;
//   - never below MinPace, nor above forward_max_rate, and not grown past
//     twice what the kiosk actually sends.
// A pace that met the limit is kept in the outbox: a kiosk restarted at
// the end of an outage starts from it.
//
// The figures were tuned on a model of a fleet and a token bucket, then
// measured with real plugins (smartretail bench --only fleet,
// BENCHMARKS.md).

// Pace tuning.
const (
	// PaceStart is where a kiosk that never met the limit begins.
	PaceStart = 10.0
	// MinPace is the slowest the pace goes, requests a second.
	MinPace = 0.5
	// paceWindow is how far back the rate that worked is counted.
	paceWindow = 2 * time.Second
	// paceCut: a refusal cuts the pace to this much of itself.
	paceCut = 0.7
	// paceGrow: each second between refusals adds this much.
	paceGrow = 0.1
	// paceRoom and paceRoomGrow: this many answers without a refusal, and
	// each answer grows the pace by paceRoomGrow of itself.
	paceRoom     = 6
	paceRoomGrow = 1.2
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
	lastCut  time.Duration // the last cut (turns before it are its burst)
	lastGrow time.Duration
	clean    int                 // answers since the last refusal
	sent     []time.Duration     // when requests went, the last paceWindow
	answered []time.Duration     // when answers that were not refusals came, likewise
	kept     float64             // the rate last written to the outbox
	keptAt   time.Duration       // when
	keep     func(float64) error // writes it (nil: not kept)
}

// newPace starts a pace: from start, kept from a run that met the limit,
// or else a slow start.
func newPace(c *clock.Clock, ceiling, start float64, keep func(float64) error) *pace {
	now := c.Elapsed()
	p := &pace{clock: c, ceiling: ceiling, rate: start, met: start > 0, kept: start, keep: keep,
		keptAt: now, lastGrow: now, lastCut: math.MinInt64}
	if !p.met {
		p.rate, p.clean = PaceStart, paceRoom
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

// wait takes the next request's turn, waiting for it; false when ctx
// ended first. The turn goes back to outcome with the answer.
func (p *pace) wait(ctx context.Context) (time.Duration, bool) {
	at, now := p.turn()
	if at <= now {
		return at, ctx.Err() == nil
	}
	t := time.NewTimer(at - now)
	defer t.Stop()
	select {
	case <-t.C:
		return at, true
	case <-ctx.Done():
		return at, false
	}
}

// turn gives out the next request's turn: at, on the monotonic clock.
func (p *pace) turn() (at, now time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now = p.clock.Elapsed()
	at = max(now, p.next)
	p.next = at + p.gap()
	p.lastTurn = at
	p.sent = append(trim(p.sent, now-paceWindow), at)
	return at, now
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
	if p.met {
		p.rate = p.capped(p.rate * paceCut)
	} else {
		// The first: the rate that worked, over the time this kiosk has
		// been sending in the window.
		p.sent, p.answered = trim(p.sent, now-paceWindow), trim(p.answered, now-paceWindow)
		covered := p.covered(now)
		r := float64(len(p.sent)) / 2
		if len(p.answered) > 0 {
			r = math.Min(r, float64(len(p.answered)))
		}
		p.rate, p.met = p.capped(r/covered.Seconds()), true
	}
	p.lastCut, p.lastGrow = now, now
	p.next = p.lastTurn + p.gap() // a turn of the new pace after the last one given
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
	if p.clean >= paceRoom {
		p.rate *= paceRoomGrow
	} else {
		p.rate += paceGrow * dt
	}
	p.rate = p.capped(p.rate)
	p.next = p.lastTurn + p.gap()
	p.maybeKeep(now)
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
