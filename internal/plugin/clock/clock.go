// Package clock is the plugin's one source of time: the kiosk's clock, a
// monotonic clock beside it, and WeChat Pay's time as learnt from answers
// whose signature verifies.
//
// Kiosk boards often have no RTC battery: they boot in 1970 or days behind
// until NTP answers, and their clocks drift and jump. WeChat Pay refuses a
// request whose timestamp is 5 minutes or more from its own time, and an
// answer that far from the reader's time is refused as stale. So requests
// are signed, and answers judged, on WeChat Pay's time as learnt here, and
// durations (backoff, how long an order waited) are measured on the
// monotonic clock, which a jump of the kiosk's clock does not move.
package clock

import (
	"sync"
	"time"
)

// MaxSkew is WeChat Pay's window: a request or answer whose timestamp is
// this far or more from the reader's time is refused.
const MaxSkew = 5 * time.Minute

// Source is what time is read from.
type Source interface {
	// Now is the kiosk's clock: it may be wrong, and may jump.
	Now() time.Time
	// Elapsed is monotonic time since a fixed instant: it only grows, at
	// the rate time passes, whatever the kiosk's clock does.
	Elapsed() time.Duration
}

type system struct{ start time.Time }

func (s system) Now() time.Time { return time.Now() }

// Elapsed subtracts two readings that carry Go's monotonic clock.
func (s system) Elapsed() time.Duration { return time.Since(s.start) }

// System is the machine's clocks.
func System() Source { return system{start: time.Now()} }

// Clock knows the kiosk's time and, once an answer has said, WeChat Pay's.
// It is safe for concurrent use.
type Clock struct {
	src Source

	mu sync.Mutex
	// known: WeChat Pay's time was wechat at monotonic reading at.
	known  bool
	at     time.Duration
	wechat time.Time
	// cand is WeChat Pay's time as a refusal of our timestamp said it
	// (candAt its monotonic reading): the next requests are signed with it,
	// and an answer that accepts one confirms it.
	cand   time.Time
	candAt time.Duration
}

// New is a Clock reading src (System when nil).
func New(src Source) *Clock {
	if src == nil {
		src = System()
	}
	return &Clock{src: src}
}

// Now is the kiosk's clock.
func (c *Clock) Now() time.Time { return c.src.Now() }

// Elapsed is the monotonic clock: use it to measure durations.
func (c *Clock) Elapsed() time.Duration { return c.src.Elapsed() }

// WeChatNow is WeChat Pay's time as best known: learnt from answers, else
// the kiosk's clock. known says whether an answer has confirmed it.
func (c *Clock) WeChatNow() (now time.Time, known bool) {
	e := c.src.Elapsed()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known {
		return c.wechat.Add(e - c.at), true
	}
	return c.src.Now(), false
}

// Offset is WeChat Pay's time less the kiosk's clock, and whether an
// answer has confirmed it (0, false before).
func (c *Clock) Offset() (time.Duration, bool) {
	w, known := c.WeChatNow()
	if !known {
		return 0, false
	}
	return w.Sub(c.src.Now()).Round(time.Millisecond), true
}

// SigningTime is the time to sign a request with: WeChat Pay's time as a
// refusal of our timestamp last said, else as answers confirmed it, else
// the kiosk's clock.
func (c *Clock) SigningTime() time.Time {
	e := c.src.Elapsed()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.cand.IsZero():
		return c.cand.Add(e - c.candAt)
	case c.known:
		return c.wechat.Add(e - c.at)
	}
	return c.src.Now()
}

// Verdict is what an answer's timestamp says.
type Verdict int

const (
	// Fresh: within MaxSkew of the time the request was signed with. Its
	// time is learnt.
	Fresh Verdict = iota
	// TimeRefused: a refusal (401) whose timestamp is MaxSkew or more from
	// the request's: WeChat Pay refused the request's timestamp and did not
	// process it. Its time is what the next requests are signed with.
	TimeRefused
	// Stale: any other answer that far from the request's time: replayed,
	// or held back. Not WeChat Pay's word on this request.
	Stale
)

// Answer judges the timestamp of an answer whose signature verified:
// answered is its Wechatpay-Timestamp (seconds), signed the time the
// request was signed with, at the monotonic reading when the answer was
// read, refusal whether WeChat Pay refused the request's signature (401).
func (c *Clock) Answer(answered, signed time.Time, at time.Duration, refusal bool) Verdict {
	// The timestamp is whole seconds: WeChat Pay's time was within the
	// second after it.
	wechat := answered.Add(500 * time.Millisecond)
	if d := answered.Sub(signed); d >= MaxSkew || -d >= MaxSkew {
		if !refusal {
			return Stale
		}
		c.mu.Lock()
		c.cand, c.candAt = wechat, at
		c.mu.Unlock()
		return TimeRefused
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Learn it when nothing was known; when it is later than the estimate
	// (an answer cannot come from the future, so a later one is nearer the
	// truth: a kiosk that slept, a monotonic clock that lagged); or when
	// the request was signed on a refusal's time, which it confirms. A
	// fresh answer settles a refusal's time either way.
	fromRefusal := !c.cand.IsZero() && absDur(signed.Sub(c.cand.Add(at-c.candAt))) < MaxSkew
	if !c.known || wechat.After(c.wechat.Add(at-c.at)) || fromRefusal {
		c.known, c.wechat, c.at = true, wechat, at
	}
	c.cand = time.Time{}
	return Fresh
}

// Hint is a time an answer claims without a signature (the Date header of
// a 401 that refused the request's timestamp): the next requests are
// signed on it, and only an answer whose signature verifies, to a request
// signed on it, makes it known.
func (c *Clock) Hint(t time.Time, at time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cand, c.candAt = t, at
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
