// Package forward sends what the outbox holds to WeChat Pay when it can be
// reached, and never sends anything twice that WeChat Pay may already have:
// an operation is marked in flight (committed) before it leaves, and one
// found in flight (after a timeout, a system error or a crash) is
// reconciled by a query by out_order_no before anything is sent again.
// out_order_no never changes.
//
// It notices that WeChat Pay is reachable again from any answer (its own or
// the online path's) or from a cheap probe while offline, backs off with
// capped exponential delays and full jitter, honours Retry-After, runs a
// bounded number of orders at once, and keeps each order's operations
// strictly in order.
package forward

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// WeChatPay is what the forwarder calls; *wxpay.Client is one.
type WeChatPay interface {
	Create(context.Context, wxpay.CreateRequest) (*wxpay.CreateResponse, error)
	Query(context.Context, wxpay.QueryRequest) (*wxpay.Order, error)
	Cancel(context.Context, wxpay.CancelRequest) (*wxpay.OrderRef, error)
	Complete(context.Context, wxpay.CompleteRequest) (*wxpay.OrderRef, error)
}

// Defaults. Concurrency and MaxAge equal shared/config's
// (plugin's TestConfigDefaultsAreThePackagesDefaults checks).
const (
	DefaultConcurrency = 4
	DefaultBaseBackoff = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultMaxAge      = 24 * time.Hour
	// DefaultSkewThreshold equals shared/config's DefaultClockSkewThreshold.
	DefaultSkewThreshold = time.Minute
	// DefaultStartJitter is Options.StartJitter's default.
	DefaultStartJitter = time.Second
	// ProbeOutOrderNo is queried to learn whether WeChat Pay answers when
	// nothing else is waiting: any answer, "not found" included, is online.
	ProbeOutOrderNo = "SMARTRETAIL-PROBE"
	// sweepBatch is how many queued orders one read of the expiry sweep takes.
	sweepBatch = 256
	// Failure codes of our own, beside WeChat Pay's.
	CodeExpiredOffline = "EXPIRED_OFFLINE"
	CodeNotCreated     = "NOT_CREATED"
)

// Store is the part of the outbox the forwarder uses; *outbox.Store is one.
type Store interface {
	Get(outOrderNo string) (*outbox.Order, error)
	Modify(outOrderNo string, fn func(o *outbox.Order) (*outbox.Order, []outbox.Event, error)) (*outbox.Order, error)
	Due(n int, skip func(outOrderNo string) bool) ([]*outbox.Order, error)
	AppendEvent(ev outbox.Event) error
	PruneContext(ctx context.Context) (orders, events int, err error)
	NoteSeen(t time.Time) error
	Pace() (float64, error)
	SetPace(rate float64) error
	WorkCount() (int, error)
}

// Options configure a Forwarder.
type Options struct {
	Store Store
	// API is the configured WeChat Pay API: the probe asks it, and orders
	// stored for it go on it. SmartRetail on WeChat when nil.
	API API
	// WeChat is the smart-retail client when API is nil.
	WeChat WeChatPay
	// Also are the other APIs an order in the outbox may have been stored
	// for (a merchant who changed payscore_api while orders waited): each
	// order goes on the API it was made for.
	Also []API
	// Concurrency is how many orders are worked on at once.
	Concurrency int
	// BaseBackoff and MaxBackoff shape the delay between attempts while
	// WeChat Pay cannot be reached.
	BaseBackoff, MaxBackoff time.Duration
	// MaxAge: a create still unsent after this long is not sent at all; the
	// order moves to the failed list as EXPIRED_OFFLINE.
	MaxAge time.Duration
	// CallTimeout bounds one call to WeChat Pay (default 10 s).
	CallTimeout time.Duration
	// Claims are the outbox's: who sends which order (NewClaims when nil).
	// Give a new forwarder on the same outbox the old one's.
	Claims *Claims
	// Clock is the plugin's (a new one on the machine's clocks when nil):
	// waits are measured on its monotonic clock, ages as it says, and the
	// offset from WeChat Pay's time is watched.
	Clock *clock.Clock
	// SkewThreshold: a CLOCK_SKEW event is logged when the kiosk's clock
	// is this far from WeChat Pay's, and again when it is back within.
	SkewThreshold time.Duration
	// MaxRate caps the pace (forward_max_rate, requests a second): a
	// merchant's share of its rate limit for this kiosk. 0: none.
	MaxRate float64
	// StartJitter: after the forwarder starts, its first attempt waits a
	// random time up to this long, so that a fleet powered up together does
	// not send at the same instant. 0 means DefaultStartJitter; negative,
	// none. (When the network comes back no such wait is added: a kiosk
	// finds it by an attempt on its backoff, which has full jitter, so the
	// fleet's first sends are spread already.)
	StartJitter time.Duration
	Log         hclog.Logger
}

// Forwarder drains the outbox. Create with New, run with Run.
type Forwarder struct {
	opts Options
	net  networkState
	wake chan struct{}
	pace *pace

	mu            sync.Mutex
	failures      int                      // consecutive attempts without an answer
	storeFailures int                      // consecutive reads or writes of the outbox that failed
	notBefore     time.Duration            // no attempt before this monotonic reading (backoff, Retry-After)
	burstEnds     time.Duration            // failures before this reading are the last one's burst: they count once
	later         map[string]time.Duration // orders refused for rate, and when they may go again
	skewed        bool                     // the last CLOCK_SKEW event said the clock is off
	sweepEvery    time.Duration
	pruneEvery    time.Duration

	eventMu sync.Mutex     // guards the events waiting to be written
	events  []outbox.Event // network and clock events not written yet, oldest first
	writing bool           // a writeEvents runs

	backlogMu      sync.Mutex    // guards the backlog as last read
	backlogReading bool          // a read runs
	backlogAt      time.Duration // when it was read (-backlogEvery: never)
	backlogN       int
}

// New returns a Forwarder; it does nothing until Run.
func New(opts Options) *Forwarder {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = DefaultBaseBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = wxpay.DefaultTimeout
	}
	if opts.Clock == nil {
		opts.Clock = clock.New(nil)
	}
	if opts.SkewThreshold <= 0 {
		opts.SkewThreshold = DefaultSkewThreshold
	}
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.API == nil {
		opts.API = SmartRetail{WeChat: opts.WeChat}
	}
	if opts.Claims == nil {
		opts.Claims = NewClaims()
	}
	if opts.StartJitter == 0 {
		opts.StartJitter = DefaultStartJitter
	}
	f := &Forwarder{opts: opts, wake: make(chan struct{}, 1), sweepEvery: time.Minute, pruneEvery: time.Hour,
		later: map[string]time.Duration{}, backlogAt: -backlogEvery}
	f.net.state = Unknown
	f.net.since = opts.Clock.Now()
	start, err := opts.Store.Pace()
	if err != nil {
		opts.Log.Warn("reading the kept pace failed: starting unpaced", "error", err)
	}
	f.pace = newPace(opts.Clock, opts.MaxRate, start, opts.Store.SetPace)
	f.pace.backlog = f.backlog
	return f
}

// backlogEvery: the backlog is read from the outbox at most this often.
const backlogEvery = 250 * time.Millisecond

// backlog is how many orders have work waiting, as last read (0 before
// the first read, or when the outbox cannot say: the slow start then takes
// its ordinary pace). A read older than backlogEvery starts another, in
// the background: the pace asks on every answer with its lock held, and
// must not wait on the disk, nor on a compaction, which holds reads off.
func (f *Forwarder) backlog() int {
	f.backlogMu.Lock()
	defer f.backlogMu.Unlock()
	if !f.backlogReading && f.opts.Clock.Elapsed()-f.backlogAt >= backlogEvery {
		f.backlogReading = true
		go f.readBacklog()
	}
	return f.backlogN
}

// readBacklog reads the backlog from the outbox.
func (f *Forwarder) readBacklog() {
	n, err := f.opts.Store.WorkCount()
	f.backlogMu.Lock()
	defer f.backlogMu.Unlock()
	f.backlogReading, f.backlogAt = false, f.opts.Clock.Elapsed()
	if err == nil {
		f.backlogN = n
	}
}

// Pace is the rate the forwarder sends at, requests a second: 0 when
// nothing has limited it (and no forward_max_rate caps it).
func (f *Forwarder) Pace() float64 { return f.pace.Rate() }

// jitter is a random wait up to StartJitter, for a first attempt.
func (f *Forwarder) jitter() time.Duration {
	if f.opts.StartJitter <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(f.opts.StartJitter)))
}

// holdFor holds every attempt back until at least d from now (f.mu held).
func (f *Forwarder) holdFor(now, d time.Duration) {
	if t := now + d; t > f.notBefore {
		f.notBefore = t
	}
}

// Wake asks for an attempt now: new work was queued.
func (f *Forwarder) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Drain asks for an attempt now, backoff or not: the host wants the queue
// sent. Retry-After is still honoured.
func (f *Forwarder) Drain() {
	state, _ := f.net.get()
	f.mu.Lock()
	f.failures = 0
	if f.notBefore > f.opts.Clock.Elapsed() && state != Online {
		f.notBefore = 0
	}
	f.mu.Unlock()
	f.Wake()
}

// Hold keeps the forwarder off an order while the online path sends one
// of its operations, so that one operation is never sent by both. held is
// false when the order is taken: by another online call (wait closes when
// it lets go: ask again then) or by the forwarder (wait is nil: leave the
// operation to it).
func (f *Forwarder) Hold(no string) (held bool, wait <-chan struct{}) {
	return f.opts.Claims.hold(no)
}

// Forwarding is closed when the forwarder lets go of order no; nil when it
// does not have it in hand.
func (f *Forwarder) Forwarding(no string) <-chan struct{} {
	return f.opts.Claims.forwarderHas(no)
}

// Release ends a Hold, and wakes the forwarder for what the online path
// may have left it.
func (f *Forwarder) Release(no string) {
	f.opts.Claims.release(no)
	f.Wake()
}

// Defer holds the forwarder's next attempt back by at least d: WeChat
// Pay's Retry-After on an answer to the online path.
func (f *Forwarder) Defer(d time.Duration) {
	if d <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.opts.Clock.Elapsed() + d; t > f.notBefore {
		f.notBefore = t
	}
}

// Network reports reachability, since when, and the last error seen.
func (f *Forwarder) Network() (state Network, since time.Time, lastErr string, lastErrAt time.Time) {
	f.net.mu.Lock()
	defer f.net.mu.Unlock()
	return f.net.state, f.net.since, f.net.lastErr, f.net.lastErrAt
}

// Offline says whether the last call got no answer: new sales that prefer
// online then queue at once instead of waiting out a timeout each.
func (f *Forwarder) Offline() bool {
	s, _ := f.net.get()
	return s == Offline
}

// Observe takes the outcome of a call, the forwarder's own or the online
// path's: an answer WeChat Pay signed, of any kind, means it is reachable.
// No answer, or one that does not verify (a captive portal, a wrong or
// rotated WeChat Pay public key, a clock far off), is not WeChat Pay's
// word: the plugin is as good as offline, sales queue within the offline
// limits, and attempts back off.
//
// A refusal for rate (429) or a 5xx (WeChat Pay struggling) is an answer
// but not a success: it leaves the count of failures as it was, so that
// the next pause grows; any other answer ends a run of failures.
func (f *Forwarder) Observe(err error) {
	f.watchClock()
	var we *wxpay.Error
	switch {
	case err == nil:
		f.online()
	case errors.As(err, &we) && (we.Class == wxpay.Network || untrusted(we)):
		f.offline(err)
	case errors.As(err, &we) && overloaded(we):
		f.setNetwork(Online, "")
	case errors.As(err, &we):
		f.online()
	}
}

// overloaded says whether an answer says WeChat Pay takes no more now: a
// 429, or a 5xx.
func overloaded(we *wxpay.Error) bool {
	return we.Class == wxpay.RateLimited || we.StatusCode >= 500
}

// untrusted says whether an error is an answer that did not verify.
func untrusted(we *wxpay.Error) bool { return we.Class == wxpay.Auth && we.ReachedServer }

func (f *Forwarder) online() {
	f.mu.Lock()
	wasFailing := f.failures > 0
	f.failures = 0
	f.mu.Unlock()
	if f.setNetwork(Online, "") || wasFailing {
		f.Wake() // the queue can go now
	}
}

func (f *Forwarder) offline(err error) {
	f.pause(0)
	f.setNetwork(Offline, err.Error())
}

func (f *Forwarder) setNetwork(s Network, errText string) bool {
	// The state changes at once; its event is written by one writer, in
	// the order of the changes, so the log never ends on a state the
	// plugin has left, and no sale waits for that write's fsync.
	f.eventMu.Lock()
	defer f.eventMu.Unlock()
	if !f.net.set(s, f.opts.Clock.Now(), errText) {
		return false
	}
	f.opts.Log.Info("network status changed", "status", s)
	f.recordLocked(outbox.Event{Type: outbox.EventNetworkStatusChanged, Network: string(s), Message: errText})
	return true
}

// watchClock logs a CLOCK_SKEW event when the kiosk's clock, as WeChat
// Pay's answers show it, passes SkewThreshold one way or the other.
func (f *Forwarder) watchClock() {
	off, known := f.opts.Clock.Offset()
	if !known {
		return
	}
	skewed := off >= f.opts.SkewThreshold || -off >= f.opts.SkewThreshold
	f.eventMu.Lock()
	defer f.eventMu.Unlock()
	if skewed == f.skewed {
		return
	}
	f.skewed = skewed
	msg := fmt.Sprintf("the kiosk's clock is %v from WeChat Pay's: sales go on, signed on WeChat Pay's time; set the kiosk's clock right (NTP)", off.Round(time.Second))
	if !skewed {
		msg = fmt.Sprintf("the kiosk's clock is back within %v of WeChat Pay's (%v)", f.opts.SkewThreshold, off.Round(time.Second))
	}
	f.opts.Log.Warn("clock skew", "offset", off.Round(time.Second).String(), "skewed", skewed)
	f.recordLocked(outbox.Event{Type: outbox.EventClockSkew, ClockOffset: off, Message: msg})
}

// DomainChanged logs an API_DOMAIN_CHANGED event: requests now go to
// baseURL (WeChat Pay's main domain gave no answer, or answers again).
func (f *Forwarder) DomainChanged(baseURL string) {
	f.opts.Log.Warn("API domain changed", "api_base_url", baseURL)
	f.eventMu.Lock()
	defer f.eventMu.Unlock()
	f.recordLocked(outbox.Event{Type: outbox.EventAPIDomainChanged, APIBaseURL: baseURL,
		Message: "requests now go to " + baseURL})
}

// recordLocked queues ev for the one writer (eventMu held).
func (f *Forwarder) recordLocked(ev outbox.Event) {
	ev.Time = f.opts.Clock.Now()
	f.events = append(f.events, ev)
	if !f.writing {
		f.writing = true
		go f.writeEvents()
	}
}

// writeEvents appends the events waiting, oldest first, until none is left.
func (f *Forwarder) writeEvents() {
	for {
		f.eventMu.Lock()
		if len(f.events) == 0 {
			f.writing = false
			f.eventMu.Unlock()
			return
		}
		ev := f.events[0]
		f.events = f.events[1:]
		f.eventMu.Unlock()
		if err := f.opts.Store.AppendEvent(ev); err != nil {
			f.opts.Log.Error("logging an event failed", "type", ev.Type, "error", err)
		}
	}
}

// backoff is capped exponential with full jitter (a uniform delay between
// a tenth of the base and the cap for this attempt), so kiosks that lost the
// network together do not all come back at the same instant.
func (f *Forwarder) backoff(attempt int) time.Duration {
	limit := f.opts.BaseBackoff << min(attempt-1, 20)
	if limit <= 0 || limit > f.opts.MaxBackoff {
		limit = f.opts.MaxBackoff
	}
	floor := f.opts.BaseBackoff / 10
	return floor + time.Duration(rand.Int64N(int64(limit-floor)+1))
}

// Run works until ctx ends, then waits for the orders in hand.
func (f *Forwarder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		if err := f.pace.flush(); err != nil {
			f.opts.Log.Warn("keeping the pace failed", "error", err)
		}
	}()
	f.readBacklog() // known before the first answer
	// The first attempt of a kiosk that just started waits its turn: a
	// fleet powered up together does not all send at once.
	f.mu.Lock()
	f.holdFor(f.opts.Clock.Elapsed(), f.jitter())
	f.mu.Unlock()
	done := make(chan struct{}, f.opts.Concurrency)
	// The first prune waits an hour: a full read of the outbox has no
	// business competing with a kiosk that just started selling.
	lastSweep := time.Duration(-1 << 62)
	lastPrune := f.opts.Clock.Elapsed()
	for {
		if ctx.Err() != nil {
			return
		}
		now := f.opts.Clock.Elapsed()
		if now-lastSweep >= f.sweepEvery {
			f.sweep(ctx)
			f.noteSeen()
			lastSweep = now
		}
		if now-lastPrune >= f.pruneEvery {
			f.prune(ctx)
			lastPrune = now
		}
		wait := f.sweepEvery
		f.mu.Lock()
		pause := f.notBefore - now
		free := f.opts.Concurrency - f.opts.Claims.forwarding()
		for no, t := range f.later {
			if t <= now {
				delete(f.later, no)
			} else {
				wait = min(wait, t-now) // look again when it may go
			}
		}
		f.mu.Unlock()
		switch {
		case pause > 0:
			wait = min(wait, pause)
		case free > 0:
			if s, _ := f.net.get(); s != Online {
				// One order in flight until WeChat Pay answers: the first is
				// the probe, and a network that takes requests and answers
				// none (a reset, a timeout) leaves one order in doubt to be
				// reconciled, not forward_concurrency of them.
				free = min(free, 1-f.opts.Claims.forwarding())
			}
			started := 0
			if free > 0 {
				started = f.dispatch(ctx, &wg, done, free)
			}
			if started == 0 && f.Offline() && f.opts.Claims.forwarding() == 0 {
				f.probe(ctx)
				continue
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-f.wake:
		case <-done:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// dispatch starts up to n due orders that are not already in hand.
func (f *Forwarder) dispatch(ctx context.Context, wg *sync.WaitGroup, done chan struct{}, n int) int {
	now := f.opts.Clock.Elapsed()
	due, err := f.opts.Store.Due(n, func(no string) bool { return f.opts.Claims.taken(no) || f.waiting(no, now) })
	if err != nil {
		f.storeFailed("reading the outbox", "", err)
		return 0
	}
	started := 0
	for _, o := range due {
		no := o.OutOrderNo
		if !f.opts.Claims.take(no) { // the online path took it since Due read the queue
			continue
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.work(ctx, no)
			f.opts.Claims.drop(no)
			select { // a wake-up, not a count: never block on it
			case done <- struct{}{}:
			default:
			}
		}()
	}
	return started
}

// probe asks WeChat Pay something harmless, to learn whether it answers.
func (f *Forwarder) probe(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, f.opts.CallTimeout)
	defer cancel()
	_, err := f.opts.API.Query(cctx, wxpay.QueryRequest{OutOrderNo: ProbeOutOrderNo})
	if ctx.Err() != nil {
		return
	}
	f.Observe(err)
}

// sweep moves creates that waited too long unsent to the failed list. It
// reads the queue oldest first and stops at the first order young enough,
// so it costs little however long the queue is; an order is written only
// when it does expire.
func (f *Forwarder) sweep(ctx context.Context) {
	var seen map[string]bool
	for ctx.Err() == nil {
		due, err := f.opts.Store.Due(sweepBatch, func(no string) bool { return f.opts.Claims.taken(no) || seen[no] })
		if err != nil {
			f.opts.Log.Error("reading the outbox failed", "error", err)
			return
		}
		if len(due) == 0 {
			return
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		for _, o := range due {
			seen[o.OutOrderNo] = true // looked at: the next read goes past it
			if age, _, _ := f.opts.Clock.Since(o.AgeStamp()); age <= f.opts.MaxAge {
				if o.RetriedAt.IsZero() {
					return // queued in order: the rest of the queue is younger still
				}
				continue // retried recently: those after it may be older
			}
			if i := o.Next(); i >= 0 && o.Ops[i].Kind == outbox.OpCreate && o.Ops[i].State == outbox.OpPending {
				f.expire(o.OutOrderNo)
			}
		}
	}
}

// noteSeen records the time, when it can be trusted, as the newest the
// outbox has seen: a clock set back before the next start shows then.
func (f *Forwarder) noteSeen() {
	if t, ok := f.opts.Clock.TrustedNow(); ok {
		if err := f.opts.Store.NoteSeen(t); err != nil {
			f.opts.Log.Error("recording the time seen failed", "error", err)
		}
	}
}

// prune drops what the retention period no longer keeps. It stops when
// ctx (Run's) ends: a forwarder told to stop does not finish a read of the
// whole outbox first.
func (f *Forwarder) prune(ctx context.Context) {
	orders, events, err := f.opts.Store.PruneContext(ctx)
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		f.opts.Log.Info("pruning the outbox stopped: the forwarder is stopping", "orders", orders, "events", events)
	case err != nil:
		f.opts.Log.Error("pruning the outbox failed", "error", err)
	case orders+events > 0:
		f.opts.Log.Info("pruned the outbox", "orders", orders, "events", events)
	}
}

// expire fails the order if its create is pending (never sent) and too old.
// It reports whether it did.
func (f *Forwarder) expire(no string) bool {
	expired := false
	_, err := f.opts.Store.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		evs, ok := f.expireIn(o)
		if expired = ok; !ok {
			return nil, nil, outbox.ErrNoChange
		}
		return o, evs, nil
	})
	if err != nil {
		f.storeFailed("expiring an order", no, err)
		return false
	}
	if expired {
		f.opts.Log.Warn("order expired offline", "out_order_no", no)
	}
	return expired
}

// expireIn fails o, in the change being made, if its create is pending
// (never sent) and it has waited longer than MaxAge, as the clock can tell
// honestly (a jump of the kiosk's clock never makes it so); it reports
// whether it did, with the event to log.
func (f *Forwarder) expireIn(o *outbox.Order) ([]outbox.Event, bool) {
	if o == nil || o.Failure != nil {
		return nil, false
	}
	i := o.Next()
	if i < 0 || o.Ops[i].Kind != outbox.OpCreate || o.Ops[i].State != outbox.OpPending {
		return nil, false
	}
	age, _, how := f.opts.Clock.Since(o.AgeStamp())
	if age <= f.opts.MaxAge {
		return nil, false
	}
	msg := fmt.Sprintf("not sent within %v of being queued: it waited %v (measured %s); it was never sent to WeChat Pay",
		f.opts.MaxAge, age.Round(time.Second), how)
	o.Failure = &outbox.Failure{Code: CodeExpiredOffline, Message: msg, Op: outbox.OpCreate, At: f.opts.Clock.Now()}
	o.Ops[i].State = outbox.OpFailed
	return []outbox.Event{{Type: outbox.EventOrderFailed, Op: outbox.OpCreate, Code: CodeExpiredOffline, Message: msg}}, true
}
