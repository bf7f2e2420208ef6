package clock_test

import (
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
)

// fake is a kiosk whose clock reads wall and whose monotonic clock reads
// mono; a test moves them apart.
type fake struct {
	wall time.Time
	mono time.Duration
}

func (f *fake) Now() time.Time         { return f.wall }
func (f *fake) Elapsed() time.Duration { return f.mono }
func (f *fake) pass(d time.Duration)   { f.wall, f.mono = f.wall.Add(d), f.mono+d }

var truth = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func TestAKioskADayBehindLearnsWeChatPaysTime(t *testing.T) {
	k := &fake{wall: truth.Add(-24 * time.Hour)}
	c := clock.New(k)
	if _, known := c.Offset(); known {
		t.Fatal("an offset known before any answer")
	}
	// The first request goes out on the kiosk's time: refused for it.
	signed := c.SigningTime()
	k.pass(100 * time.Millisecond)
	if v := c.Answer(truth.Add(100*time.Millisecond).Truncate(time.Second), signed, k.mono, true); v != clock.TimeRefused {
		t.Fatalf("a 401 a day from the request's time: %v", v)
	}
	if _, known := c.Offset(); known {
		t.Error("a refusal's time taken as known before an answer accepted a request signed with it")
	}
	// The retry is signed on the refusal's time, and accepted.
	signed = c.SigningTime()
	if d := signed.Sub(truth); d < 0 || d > 2*time.Second {
		t.Fatalf("retry signed at %v, WeChat Pay's time is %v", signed, truth.Add(100*time.Millisecond))
	}
	k.pass(100 * time.Millisecond)
	if v := c.Answer(truth.Add(200*time.Millisecond).Truncate(time.Second), signed, k.mono, false); v != clock.Fresh {
		t.Fatalf("the retry's answer: %v", v)
	}
	off, known := c.Offset()
	if !known || (off-24*time.Hour).Abs() > time.Second {
		t.Errorf("offset %v (known %v), want 24h within a second", off, known)
	}
	// A jump of the kiosk's clock (NTP) does not move WeChat Pay's time.
	k.wall = truth.Add(time.Hour)
	k.mono += time.Second
	w, _ := c.WeChatNow()
	if d := w.Sub(truth.Add(1200 * time.Millisecond)).Abs(); d > time.Second {
		t.Errorf("after the kiosk's clock jumped, WeChat Pay's time is %v, want about %v", w, truth.Add(1200*time.Millisecond))
	}
}

func TestStaleAnswersAreRefused(t *testing.T) {
	k := &fake{wall: truth}
	c := clock.New(k)
	signed := c.SigningTime()
	if v := c.Answer(truth, signed, k.mono, false); v != clock.Fresh {
		t.Fatalf("a fresh answer: %v", v)
	}
	k.pass(10 * time.Minute)
	signed = c.SigningTime()
	for _, age := range []time.Duration{5 * time.Minute, 6 * time.Minute, 24 * time.Hour} {
		if v := c.Answer(signed.Add(-age), signed, k.mono, false); v != clock.Stale {
			t.Errorf("an answer %v old: %v, want Stale", age, v)
		}
	}
	if v := c.Answer(signed.Add(-4*time.Minute), signed, k.mono, false); v != clock.Fresh {
		t.Errorf("an answer 4 minutes old: %v, want Fresh", v)
	}
	// An older answer does not pull WeChat Pay's time back.
	if w, _ := c.WeChatNow(); w.Before(truth.Add(10 * time.Minute)) {
		t.Errorf("WeChat Pay's time went back to %v", w)
	}
}

// A refusal replayed by someone in the middle makes the next request go
// out on the wrong time; WeChat Pay's refusal of that one sets it right.
func TestAReplayedRefusalIsSetRightByTheNextAnswer(t *testing.T) {
	k := &fake{wall: truth}
	c := clock.New(k)
	c.Answer(truth, c.SigningTime(), k.mono, false)
	if v := c.Answer(truth.Add(-48*time.Hour), c.SigningTime(), k.mono, true); v != clock.TimeRefused {
		t.Fatalf("replayed refusal: %v", v)
	}
	wrong := c.SigningTime()
	if v := c.Answer(truth, wrong, k.mono, true); v != clock.TimeRefused {
		t.Fatalf("WeChat Pay's refusal of the wrong time: %v", v)
	}
	signed := c.SigningTime()
	if d := signed.Sub(truth).Abs(); d > time.Second {
		t.Fatalf("signed at %v after the true refusal", signed)
	}
	if v := c.Answer(truth, signed, k.mono, false); v != clock.Fresh {
		t.Fatalf("answer: %v", v)
	}
	if off, known := c.Offset(); !known || off.Abs() > time.Second {
		t.Errorf("offset %v, %v", off, known)
	}
}

func TestAHintIsUsedToSignButNeverLearnt(t *testing.T) {
	k := &fake{wall: truth.Add(-time.Hour)}
	c := clock.New(k)
	c.Hint(truth, k.mono)
	if d := c.SigningTime().Sub(truth).Abs(); d > time.Second {
		t.Errorf("signing time %v, want the hint %v", c.SigningTime(), truth)
	}
	if _, known := c.Offset(); known {
		t.Error("a hint taken as WeChat Pay's time")
	}
}

// A kiosk that slept (its monotonic clock stopped meanwhile) signs on a
// WeChat Pay time that lags: the refusal's Date sets it right.
func TestARefusalAfterASleepSetsTheTimeRight(t *testing.T) {
	k := &fake{wall: truth}
	c := clock.New(k)
	c.Answer(truth, c.SigningTime(), k.mono, false)
	k.wall = k.wall.Add(time.Hour) // an hour asleep: the wall clock moved on, the monotonic did not
	if d := c.SigningTime().Sub(truth).Abs(); d > time.Second {
		t.Fatalf("signing time %v", c.SigningTime())
	}
	c.Hint(truth.Add(time.Hour), k.mono)
	signed := c.SigningTime()
	if v := c.Answer(truth.Add(time.Hour), signed, k.mono, false); v != clock.Fresh {
		t.Fatalf("the answer to the request signed on the refusal's time: %v", v)
	}
	if w, _ := c.WeChatNow(); w.Sub(truth.Add(time.Hour)).Abs() > time.Second {
		t.Errorf("WeChat Pay's time %v, want %v", w, truth.Add(time.Hour))
	}
}

// How long ago a sale was is measured, never guessed from a clock that
// jumped: in this run on the monotonic clock; from another run on WeChat
// Pay's time once known; otherwise it is at least this run's time.
func TestSinceIsHonest(t *testing.T) {
	// A board that booted 25 hours behind: its sales are stamped then.
	k := &fake{wall: truth.Add(-25 * time.Hour)}
	c := clock.New(k)
	c.Seen(truth.Add(-time.Minute)) // the outbox saw that time last run
	s := c.Stamp()
	if !s.Doubt {
		t.Error("a stamp taken 25 h behind a time seen before is not in doubt")
	}
	k.pass(10 * time.Second)
	k.wall = truth // NTP sets the clock: 25 h forward, 10 s passed
	if age, exact, _ := c.Since(s); !exact || age != 10*time.Second {
		t.Errorf("in this run: %v (exact %v), want 10s", age, exact)
	}
	// The next run, before and after WeChat Pay's time is known.
	next := clock.New(k)
	k.pass(time.Minute)
	if age, exact, how := next.Since(s); exact || age != time.Minute {
		t.Errorf("another run, WeChat Pay's time unknown: %v (exact %v, %s), want at least 1m", age, exact, how)
	}
	next.Answer(k.wall, k.wall, k.mono, false)
	if age, exact, _ := next.Since(s); exact {
		t.Errorf("a stamp in doubt measured as exact: %v", age)
	}
	trusted := clock.WallStamp(truth.Add(-30 * time.Hour))
	if age, exact, _ := next.Since(trusted); !exact || (age-(30*time.Hour+time.Minute)).Abs() > time.Second {
		t.Errorf("a trusted stamp from another run: %v (exact %v), want 30h1m", age, exact)
	}
}

func TestAJumpWhileRunningPutsTheClockInDoubt(t *testing.T) {
	k := &fake{wall: truth}
	c := clock.New(k)
	if _, ok := c.TrustedNow(); !ok {
		t.Fatal("a steady clock in doubt")
	}
	k.wall = k.wall.Add(-48 * time.Hour)
	if _, ok := c.TrustedNow(); ok {
		t.Error("a clock set back two days trusted")
	}
	if s := c.Stamp(); !s.Doubt {
		t.Error("a stamp after the jump not in doubt")
	}
}

// A kiosk steadily a day behind WeChat Pay, whose sale was stamped by an
// earlier run before WeChat Pay's time was known, waited what it waited,
// not a day more; and the time it persists as seen is its own.
func TestASteadilySkewedKioskDoesNotAgeItsSales(t *testing.T) {
	k := &fake{wall: truth.Add(-24 * time.Hour)}
	first := clock.New(k)
	s := first.Stamp()
	if s.Doubt || !s.WeChat.IsZero() {
		t.Fatalf("stamp %+v", s)
	}
	k.pass(10 * time.Minute)
	next := clock.New(k)
	next.Answer(truth.Add(10*time.Minute), k.wall, k.mono, true) // refused: signed on the kiosk's day-behind time
	next.Answer(truth.Add(10*time.Minute), next.SigningTime(), k.mono, false)
	if _, known := next.Offset(); !known {
		t.Fatal("WeChat Pay's time not learnt")
	}
	if age, exact, _ := next.Since(s); !exact || (age-10*time.Minute).Abs() > time.Second {
		t.Errorf("waited %v (exact %v), want 10m", age, exact)
	}
	if seen, ok := next.TrustedNow(); !ok || !seen.Equal(k.wall) {
		t.Errorf("time seen %v (%v), want the kiosk's %v", seen, ok, k.wall)
	}
}

// A host's time off the kiosk's clock moves onto WeChat Pay's by the
// offset, in whole seconds, and not at all for an offset under two
// seconds (the estimate is good to about a second) or one not known.
func TestKioskTimesMoveOntoWeChatPaysClock(t *testing.T) {
	host := truth.Add(-time.Minute)
	for _, tc := range []struct {
		kioskAhead time.Duration
		want       time.Time
	}{
		{0, host},
		{time.Second, host},
		{10 * time.Minute, host.Add(-10 * time.Minute)},
		{-3 * time.Second, host.Add(3 * time.Second)},
	} {
		k := &fake{wall: truth.Add(tc.kioskAhead)}
		c := clock.New(k)
		if got := c.FromKiosk(host); !got.Equal(host) {
			t.Errorf("offset not known: %v, want unmoved", got)
		}
		signed := c.SigningTime()
		if v := c.Answer(truth, signed, k.mono, true); v == clock.TimeRefused { // learnt from a refusal's retry
			c.Answer(truth, c.SigningTime(), k.mono, false)
		} else if v != clock.Fresh {
			t.Fatalf("answer: %v", v)
		}
		// The offset is learnt to about a second: within one of the truth,
		// in whole seconds.
		if got := c.FromKiosk(host); got.Sub(tc.want) > time.Second || tc.want.Sub(got) > time.Second || got.Sub(host)%time.Second != 0 {
			t.Errorf("kiosk %v ahead: %v, want %v, to the second", tc.kioskAhead, got, tc.want)
		}
	}
}
