package forward

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
)

// The pace: how fast the forwarder sends. A merchant's kiosks share one
// WeChat Pay rate limit, so a fleet coming back from an outage must not
// all send at full speed. Until WeChat Pay refuses a request for its rate
// (429, or a 5xx: it is struggling) nothing is paced, which is today's
// speed for a kiosk alone. Then the pace is the rate that worked: it drops
// to at most half, and to no more than the answers that came back in the
// last second; a burst of refusals (the requests in flight together) cuts
// it once, and refusals with no answer beside them leave it (they say
// nothing of the rate that works: the pause after each holds back). Each answer that is not a refusal grows it again, a little
// more the faster it goes (additive, with a proportional part), never
// past twice what the kiosk actually sends, nor past forward_max_rate.
// The pace is kept in the outbox, so a restart starts from it.

// Pace tuning.
const (
	// MinPace is the slowest the pace goes, requests a second.
	MinPace = 0.5
	// paceWindow is how far back "the answers of the last second" look.
	paceWindow = time.Second
	// paceGuard: refusals within this long of a cut are the same burst.
	paceGuard = time.Second
	// paceGrowAdd and paceGrowProp: each second of answers without a
	// refusal adds paceGrowAdd + paceGrowProp x the pace.
	paceGrowAdd  = 0.2
	paceGrowProp = 0.1
	// paceKeepEvery: the pace is written to the outbox at most this often,
	// and only when it moved by a fifth or more.
	paceKeepEvery = 5 * time.Second
)

type pace struct {
	clock   *clock.Clock
	ceiling float64 // forward_max_rate; 0: none

	mu       sync.Mutex
	rate     float64       // requests a second; 0: not paced
	next     time.Duration // the monotonic time of the next request's turn
	lastCut  time.Duration
	lastGrow time.Duration
	cut      bool                // the pace was ever cut in this run
	sent     []time.Duration     // when requests went, the last paceWindow
	answered []time.Duration     // when answers that were not refusals came, likewise
	kept     float64             // the rate last written to the outbox
	keptAt   time.Duration       // when
	keep     func(float64) error // writes it (nil: not kept)
}

func newPace(c *clock.Clock, ceiling, start float64, keep func(float64) error) *pace {
	p := &pace{clock: c, ceiling: ceiling, rate: start, kept: start, keep: keep}
	now := c.Elapsed()
	p.lastGrow, p.lastCut, p.keptAt = now, now-paceGuard, now
	return p
}

// Rate is the pace in force, requests a second; 0 when nothing paces.
func (p *pace) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.effective()
}

func (p *pace) effective() float64 {
	r := p.rate
	if p.ceiling > 0 && (r == 0 || r > p.ceiling) {
		r = p.ceiling
	}
	return r
}

// wait takes the next request's turn, waiting for it: false when ctx
// ended first.
func (p *pace) wait(ctx context.Context) bool {
	at, now := p.turn()
	if at <= now {
		return ctx.Err() == nil
	}
	t := time.NewTimer(at - now)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// turn gives out the next request's turn: at, on the monotonic clock
// (now, or later when paced).
func (p *pace) turn() (at, now time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now = p.clock.Elapsed()
	at = now
	if r := p.effective(); r > 0 {
		at = max(now, p.next)
		p.next = at + time.Duration(float64(time.Second)/r)
	}
	p.sent = append(trim(p.sent, at-paceWindow), at)
	return at, now
}

// refused takes a refusal for rate (429) or a struggling WeChat Pay (5xx).
func (p *pace) refused() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Elapsed()
	if now-p.lastCut < paceGuard {
		return // the same burst
	}
	p.sent, p.answered = trim(p.sent, now-paceWindow), trim(p.answered, now-paceWindow)
	if len(p.answered) == 0 {
		// Everything refused: that says nothing of the rate that works
		// (WeChat Pay may be refusing all, or others took the whole
		// limit). The pause after it holds this kiosk back meanwhile.
		return
	}
	base := p.effective()
	if base == 0 {
		base = float64(len(p.sent)) / paceWindow.Seconds() // unpaced: what it sent
	}
	r := math.Min(base/2, float64(len(p.answered))/paceWindow.Seconds())
	p.rate = math.Max(MinPace, r)
	p.lastCut, p.lastGrow, p.cut = now, now, true
	// The turns already given out were at the old rate: the next one comes
	// a turn of the new rate from now.
	p.next = now + time.Duration(float64(time.Second)/p.rate)
	p.maybeKeep(now)
}

// took takes an answer that was not a refusal: the pace grows.
func (p *pace) took() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Elapsed()
	p.answered = append(trim(p.answered, now-paceWindow), now)
	dt := (now - p.lastGrow).Seconds()
	p.lastGrow = now
	if p.rate == 0 || dt <= 0 {
		return
	}
	p.sent = trim(p.sent, now-paceWindow)
	if sending := float64(len(p.sent)) / paceWindow.Seconds(); p.rate > 2*sending+1 {
		return // not used: growing it would only be a guess
	}
	p.rate += (paceGrowAdd + paceGrowProp*p.rate) * math.Min(dt, 1)
	if p.ceiling > 0 && p.rate > p.ceiling {
		p.rate = p.ceiling
	}
	p.maybeKeep(now)
}

// maybeKeep writes the pace to the outbox when it moved by a fifth or more
// and the last write is paceKeepEvery old (p.mu held).
func (p *pace) maybeKeep(now time.Duration) {
	if p.keep == nil || now-p.keptAt < paceKeepEvery || math.Abs(p.rate-p.kept) < p.kept/5 {
		return
	}
	p.keptAt, p.kept = now, p.rate
	go func(r float64) { _ = p.keep(r) }(p.rate) // a slow disk does not hold a send
}

// flush writes the pace to the outbox when it differs from the one kept.
func (p *pace) flush() error {
	p.mu.Lock()
	r, changed := p.rate, p.rate != p.kept
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
