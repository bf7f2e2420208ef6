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
	"crypto/rand"
	"encoding/binary"
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
	run uint64 // this process's, in stamps: their monotonic readings compare only within it
	// start is the monotonic reading at New: the run's own time is
	// measured from it.
	start time.Duration
	// wallAtZero is the kiosk's clock less the monotonic at New: it moves
	// only when the kiosk's clock jumps.
	wallAtZero time.Time

	mu sync.Mutex
	// known: WeChat Pay's time was wechat at monotonic reading at.
	known  bool
	at     time.Duration
	wechat time.Time
	// behind: at start, the kiosk's clock was behind a time the outbox had
	// seen (a board that booted in 1970, or days behind).
	behind bool
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
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's contract since Go 1.24)
	e := src.Elapsed()
	return &Clock{src: src, run: binary.LittleEndian.Uint64(b[:]) | 1, start: e, wallAtZero: src.Now().Add(-e)}
}

// jumpTolerance is how far the kiosk's clock may move against the
// monotonic one before it counts as set, not drifting.
const jumpTolerance = time.Minute

// Seen tells the clock the newest time the outbox has seen (persisted from
// earlier runs): a kiosk's clock behind it was set back, and cannot be
// trusted to say how long an order waited until WeChat Pay's time is known.
func (c *Clock) Seen(newest time.Time) {
	if newest.IsZero() || !c.src.Now().Before(newest.Add(-jumpTolerance)) {
		return
	}
	c.mu.Lock()
	c.behind = true
	c.mu.Unlock()
}

// TrustedNow is the kiosk's time to persist as seen, when nothing says the
// kiosk's clock is wrong; ok is false when in doubt. It is the kiosk's, not
// WeChat Pay's: Seen compares it with the kiosk's clock at the next start,
// and a kiosk that is steadily off from WeChat Pay was not set back.
func (c *Clock) TrustedNow() (now time.Time, ok bool) {
	if c.doubt() {
		return time.Time{}, false
	}
	return c.src.Now(), true
}

// doubt: the kiosk's clock is not to be trusted to date things: it was
// behind a time seen before, or it has jumped while the plugin ran.
func (c *Clock) doubt() bool {
	c.mu.Lock()
	behind := c.behind
	c.mu.Unlock()
	jumped := c.src.Now().Add(-c.src.Elapsed()).Sub(c.wallAtZero)
	return behind || jumped > jumpTolerance || -jumped > jumpTolerance
}

// Stamp is a moment recorded with what is known of it, so that how long
// ago it was can be told honestly later, by another run if need be.
type Stamp struct {
	Wall   time.Time     `json:"wall"`            // the kiosk's clock
	WeChat time.Time     `json:"wechat,omitzero"` // WeChat Pay's time, when known
	Run    uint64        `json:"run,omitempty"`   // the run that took it
	Mono   time.Duration `json:"mono,omitempty"`  // its monotonic reading, in that run
	Doubt  bool          `json:"doubt,omitempty"` // the kiosk's clock was not to be trusted
}

// Stamp records now.
func (c *Clock) Stamp() Stamp {
	s := Stamp{Wall: c.src.Now(), Run: c.run, Mono: c.src.Elapsed()}
	if w, known := c.WeChatNow(); known {
		s.WeChat = w
	} else {
		s.Doubt = c.doubt()
	}
	return s
}

// WallStamp is a moment known only by the kiosk's clock (a record from
// before stamps), trusted as much as the clock then was.
func WallStamp(t time.Time) Stamp { return Stamp{Wall: t} }

// Since is how long ago s was. exact says it was measured; otherwise age
// is only the least it can be (this run's own time), because the kiosk's
// clock is in doubt and WeChat Pay's time not yet known.
//   - In this run: on the monotonic clock.
//   - Otherwise, once WeChat Pay's time is known: from s's WeChat Pay
//     time, or its kiosk time when that was trusted.
//
// The kiosk's clock alone never says: set forward while the plugin was
// down, it would make every order look old.
func (c *Clock) Since(s Stamp) (age time.Duration, exact bool, how string) {
	if s.Run == c.run {
		return c.src.Elapsed() - s.Mono, true, "on this run's monotonic clock"
	}
	if w, known := c.WeChatNow(); known {
		switch {
		case !s.WeChat.IsZero():
			return w.Sub(s.WeChat), true, "on WeChat Pay's time"
		case !s.Doubt:
			// The kiosk's clock may have been off then by what it is off
			// now, or by nothing: the smaller of the two measures cannot
			// overstate the wait (a kiosk a day behind WeChat Pay would
			// otherwise count that day as waited).
			return min(w.Sub(s.Wall), c.src.Now().Sub(s.Wall)), true, "from the kiosk's clock then, against WeChat Pay's time now"
		}
		return c.src.Elapsed() - c.start, false, "at least, since the plugin started (the kiosk's clock was in doubt when it was queued)"
	}
	return c.src.Elapsed() - c.start, false, "at least, since the plugin started (WeChat Pay's time is not known yet)"
}

// Now is the kiosk's clock.
func (c *Clock) Now() time.Time { return c.src.Now() }

// WeChatTimeOf is when s was taken, on WeChat Pay's time as best known:
// WeChat Pay's time now less how long ago it was (Since), so a kiosk's
// clock that was wrong then, or jumped since, does not move it. exact is
// Since's: false when only a lower bound of the age is known, and the
// moment given is then the latest it can have been.
func (c *Clock) WeChatTimeOf(s Stamp) (t time.Time, exact bool) {
	age, exact, _ := c.Since(s)
	w, _ := c.WeChatNow()
	return w.Add(-age), exact
}

// FromKiosk is a time read off the kiosk's clock (a host's, to the
// second), on WeChat Pay's time: moved by the offset the answers showed,
// in whole seconds. Unchanged while the offset is not known, or under two
// seconds: learnt from whole-second timestamps, it is good to about a
// second, and moving a host's time by less would be noise.
func (c *Clock) FromKiosk(t time.Time) time.Time {
	off, _ := c.Offset()
	if off < 2*time.Second && off > -2*time.Second {
		return t
	}
	return t.Add(off.Round(time.Second))
}

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
