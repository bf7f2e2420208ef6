package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault modes for Faults.Mode.
const (
	FaultNone         = "none"
	FaultOffline      = "offline"       // reset the connection, do nothing
	FaultError        = "error"         // 500 SYSTEM_ERROR, do nothing
	FaultRateLimit    = "rate_limit"    // 429 FREQUENCY_LIMITED + Retry-After: 1, do nothing
	FaultDropResponse = "drop_response" // do the work, then reset the connection
)

// MaxLatencyMS caps Faults.LatencyMS.
const MaxLatencyMS = 60000

// Faults is injected into /v3/ requests (never into /sandbox/).
type Faults struct {
	Mode        string  `json:"mode"`        // one of the Fault* constants; "" means none
	Probability float64 `json:"probability"` // 0..1 chance per request; 0 means 1 (always)
	LatencyMS   int     `json:"latency_ms"`  // delay before every /v3/ request, 0..MaxLatencyMS
}

func (f Faults) normalize() (Faults, error) {
	if f.Mode == "" {
		f.Mode = FaultNone
	}
	switch f.Mode {
	case FaultNone, FaultOffline, FaultError, FaultRateLimit, FaultDropResponse:
	default:
		return f, fmt.Errorf("unknown fault mode %q: want none, offline, error, rate_limit or drop_response", f.Mode)
	}
	if math.IsNaN(f.Probability) || f.Probability < 0 || f.Probability > 1 {
		return f, fmt.Errorf("probability %v is outside 0..1", f.Probability)
	}
	if f.Probability == 0 {
		// mode "none" is how to switch faults off; a zero value meaning
		// "never" would make Faults{Mode: "error"} silently do nothing.
		f.Probability = 1
	}
	if f.LatencyMS < 0 || f.LatencyMS > MaxLatencyMS {
		return f, fmt.Errorf("latency_ms %d is outside 0..%d", f.LatencyMS, MaxLatencyMS)
	}
	return f, nil
}

// Options configure a Sandbox.
type Options struct {
	// Credentials: the merchant's and the platform's keys and ids. Nil
	// means DefaultCredentials, one set shared by the whole process.
	Credentials *Credentials
	// Dir, when set, holds the order log (OrdersFile); orders then survive a
	// restart. "" keeps orders in memory only.
	Dir string
	// Now (default time.Now) plus ClockOffset is the sandbox's clock. It
	// drives expiry, timestamps in answers (Wechatpay-Timestamp, Date) and
	// the signature time window, so moving it 5 minutes or more away from
	// the client's clock makes signatures fail, as it would against WeChat Pay.
	Now func() time.Time
	// ClockOffset sets the sandbox's clock that far from Now (at most
	// MaxClockOffset either way): WeChat Pay's time as seen by a kiosk
	// whose clock is off by -ClockOffset. SetClockOffset changes it later.
	ClockOffset time.Duration
	// Rand, when set, draws each request's fault (Faults.Probability)
	// instead of the process's global source, so that a test with a seed
	// can replay which requests failed. The sandbox guards it: *rand.Rand
	// is not safe for concurrent use.
	Rand *rand.Rand
	// MaxRiskAmount (fen) is the service's configured risk amount: a create
	// whose risk_amount (smart retail) or risk_fund.amount (service order)
	// is above it is refused (400 PARAM_ERROR), and so is a service order's
	// total_amount above it. 0 means DefaultMaxRiskAmount.
	MaxRiskAmount int64
	// NotifyClient posts service orders' notifications to their
	// notify_url. Nil: a client that reaches loopback addresses only (a
	// sandbox sends no order data off the machine) and waits NotifyTimeout;
	// give one to reach other hosts or to trust a TLS receiver's certificate.
	NotifyClient *http.Client
	// NotifyRetryDelays are the waits before each retry of a notification
	// that was not answered 2xx; nil means DefaultNotifyRetryDelays, empty
	// means no retry.
	NotifyRetryDelays []time.Duration
	// OnNotify, when set, is called after each delivery attempt of a
	// notification (and when one is not posted), from the delivering
	// goroutine; Sandbox.Notifications lists them all.
	OnNotify func(Notification)
	Logf     func(format string, args ...any) // optional
}

// Errors of the customer-side methods (Accept, Pay, Expire).
var (
	ErrOrderNotExist = errors.New("sandbox: order does not exist")
	ErrInvalidState  = errors.New("sandbox: order state does not allow this")
	ErrClosed        = errors.New("sandbox: closed")
)

// Sandbox emulates the WeChat Pay smart-retail order API. It is an
// http.Handler: /v3/... is the signed WeChat Pay API, /sandbox/... the admin API.
type Sandbox struct {
	creds       *Credentials
	certSerial  string
	clock       func() time.Time // Options.Now; the sandbox's clock is now()
	clockOffset atomic.Int64     // a time.Duration added to clock
	logf        func(string, ...any)

	mu        sync.Mutex
	orders    map[string]*Order // by out_order_no
	byQueryID map[string]string // query_id -> out_order_no
	orderIDs  map[string]bool   // both APIs' order_id
	store     *store

	// Service orders (/v3/payscore/serviceorder), a namespace of their own.
	serviceOrders map[string]*ServiceOrder // by out_order_no
	soByQueryID   map[string]string        // query_id -> out_order_no
	soStore       *store
	notifier      *notifier
	lock          *dirLock // held on Dir until Close
	closed        bool

	// main and backup are the two API domains the sandbox plays (ServeHTTP
	// and Backup()): one store of orders and one clock, faults of their own.
	main, backup domain
	backupH      *Backup
	faultMu      sync.Mutex // guards the domains' faults and rng
	rng          *rand.Rand // Options.Rand; nil: the global source

	reqPrefix string
	reqSeq    atomic.Uint64

	maxRiskAmount int64 // Options.MaxRiskAmount, defaulted

	bucket bucket // the merchant's rate limit (SetRateLimit) and the request log
}

// New makes a Sandbox; with opts.Dir it locks the folder (LockFile) for
// the sandbox's life and replays the order log there. A folder another
// sandbox holds is refused at once with a *DirInUseError. Without
// Credentials it uses DefaultCredentials.
func New(opts Options) (*Sandbox, error) { return newSandbox(opts, false) }

// newSandbox is New; with credsFromDir, nil Credentials are loaded from
// opts.Dir (generated there on first use) under the folder's lock, so two
// sandboxes starting on a new folder cannot interleave their key files.
func newSandbox(opts Options, credsFromDir bool) (_ *Sandbox, err error) {
	if opts.Credentials != nil {
		// Checked before the folder is touched: bad input writes nothing.
		if err := opts.Credentials.validate(); err != nil {
			return nil, err
		}
	}
	if err := checkClockOffset(opts.ClockOffset); err != nil {
		return nil, err
	}
	var lock *dirLock
	if opts.Dir != "" {
		if lock, err = lockDir(opts.Dir); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				lock.release()
			}
		}()
	}
	if opts.Credentials == nil {
		if credsFromDir && opts.Dir != "" {
			opts.Credentials, err = LoadOrCreateCredentials(opts.Dir)
		} else {
			opts.Credentials, err = DefaultCredentials()
		}
		if err != nil {
			return nil, err
		}
		if err := opts.Credentials.validate(); err != nil {
			return nil, err
		}
	}
	s := &Sandbox{
		creds:      opts.Credentials,
		certSerial: opts.Credentials.PlatformCertificateSerial(),
		clock:      opts.Now,
		logf:       opts.Logf,
		orders:     map[string]*Order{},
		byQueryID:  map[string]string{},
		orderIDs:   map[string]bool{},

		serviceOrders: map[string]*ServiceOrder{},
		soByQueryID:   map[string]string{},
		main:          domain{name: "sandbox", faults: Faults{Mode: FaultNone, Probability: 1}},
		backup:        domain{name: "sandbox backup", faults: Faults{Mode: FaultNone, Probability: 1}},
		rng:           opts.Rand,

		maxRiskAmount: opts.MaxRiskAmount,
		reqPrefix:     strings.ToLower(randString(hexUp, 8)),
		lock:          lock,
	}
	s.backupH = &Backup{s: s}
	s.notifier = newNotifier(s, opts)
	if s.clock == nil {
		s.clock = time.Now
	}
	s.clockOffset.Store(int64(opts.ClockOffset))
	if s.maxRiskAmount <= 0 {
		s.maxRiskAmount = DefaultMaxRiskAmount
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if opts.Dir != "" {
		st, orders, err := openStore(opts.Dir, s.logf)
		if err != nil {
			return nil, err
		}
		s.store = st
		for _, o := range orders {
			s.index(o)
		}
		sst, sorders, err := openLog[ServiceOrder](opts.Dir, ServiceOrdersFile, s.logf)
		if err != nil {
			_ = st.close()
			return nil, err
		}
		s.soStore = sst
		for _, o := range sorders {
			s.indexServiceOrder(o)
		}
	}
	return s, nil
}

// Close flushes nothing (writes are unbuffered), stops notifications
// still being delivered, closes the order logs and then releases the
// folder's lock. Later changes fail with 500 SYSTEM_ERROR.
func (s *Sandbox) Close() error {
	// Before s.mu: an OnNotify hook may be reading the sandbox.
	s.notifier.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.store != nil {
		err = s.store.close()
	}
	if s.soStore != nil {
		if cerr := s.soStore.close(); err == nil {
			err = cerr
		}
	}
	// Released last: the next holder must find the log closed.
	if lerr := s.lock.release(); err == nil {
		err = lerr
	}
	return err
}

// Credentials returns the credentials the sandbox was made with.
func (s *Sandbox) Credentials() *Credentials { return s.creds }

// Faults returns the main domain's fault settings.
func (s *Sandbox) Faults() Faults { return s.faultsOf(&s.main) }

// SetFaults replaces the main domain's fault settings (see Faults for the
// zero values); Backup().SetFaults sets the backup domain's.
func (s *Sandbox) SetFaults(f Faults) error { return s.setFaults(&s.main, f) }

func (s *Sandbox) faultsOf(d *domain) Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return d.faults
}

func (s *Sandbox) setFaults(d *domain, f Faults) error {
	f, err := f.normalize()
	if err != nil {
		return err
	}
	s.faultMu.Lock()
	d.faults = f
	s.faultMu.Unlock()
	s.logf("%s: faults set to %+v", d.name, f)
	return nil
}

// ---- order store (callers hold s.mu) ----

func (s *Sandbox) index(o *Order) {
	s.orders[o.OutOrderNo] = o
	s.byQueryID[o.QueryID] = o.OutOrderNo
	s.orderIDs[o.OrderID] = true
}

// commit persists o and then makes it current; memory never runs ahead of
// the log.
func (s *Sandbox) commit(o Order) (*Order, error) {
	o.UpdatedAt = s.now().UTC()
	return commitTo(s, s.store, o, "order "+o.OutOrderNo, s.index)
}

// commitTo persists o in st (nil: kept in memory only), then makes it
// current with index: memory never runs ahead of the log. One way for the
// orders of both APIs.
func commitTo[T any](s *Sandbox, st *store, o T, what string, index func(*T)) (*T, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if st != nil {
		if err := st.append(&o); err != nil {
			s.logf("sandbox: persist %s: %v", what, err)
			return nil, err
		}
	}
	p := &o
	index(p)
	return p, nil
}

// lookup finds an order and applies the 1-hour expiry lazily.
func (s *Sandbox) lookup(outOrderNo string) (*Order, bool) {
	o, ok := s.orders[outOrderNo]
	if !ok {
		return nil, false
	}
	if o.State == StateCreated && s.now().Sub(o.CreatedAt) >= ExpireAfter {
		n := o.clone()
		n.State = StateExpired
		if p, err := s.commit(n); err == nil {
			o = p
		}
	}
	return o, true
}

// Orders returns every order, oldest first.
func (s *Sandbox) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.orders))
	for no := range s.orders {
		o, _ := s.lookup(no)
		out = append(out, o.clone())
	}
	sort.Slice(out, func(i, j int) bool {
		return oldestFirst(out[i].CreatedAt, out[j].CreatedAt, out[i].OutOrderNo, out[j].OutOrderNo)
	})
	return out
}

// oldestFirst orders the orders of either API for a listing: by creation,
// then by out_order_no.
func oldestFirst(a, b time.Time, aNo, bNo string) bool {
	if !a.Equal(b) {
		return a.Before(b)
	}
	return aNo < bNo
}

// Order returns one order by out_order_no.
func (s *Sandbox) Order(outOrderNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.lookup(outOrderNo)
	if !ok {
		return Order{}, false
	}
	return o.clone(), true
}

// transition is the customer side of the state machine (admin API).
func (s *Sandbox) transition(outOrderNo, action string) (Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.lookup(outOrderNo)
	if !ok {
		return Order{}, fmt.Errorf("%w: out_order_no %q", ErrOrderNotExist, outOrderNo)
	}
	n := o.clone()
	now := s.now()
	switch {
	case action == "accept" && o.State == StateCreated:
		n.State = StateUserAccepted
		n.RealServiceStartTime = formatWechatTime(now)
	case action == "pay" && o.State == StateFinished && o.FinishType == FinishTypeCharge:
		n.State = StateUserPaid
		n.PaySuccTime = formatWechatTime(now)
		n.FinishTransactionID = "4200" + now.In(cst).Format("20060102") + randString(digits, 16)
		n.PayType = "MchChannelPayType"
	case action == "expire" && o.State == StateCreated:
		n.State = StateExpired
	default:
		why := o.State
		if o.State == StateFinished && o.FinishType != FinishTypeCharge {
			why += " with finish_type 1 (nothing to pay)"
		}
		return o.clone(), fmt.Errorf("%w: cannot %s an order in state %s", ErrInvalidState, action, why)
	}
	p, err := s.commit(n)
	if err != nil {
		return Order{}, err
	}
	s.logf("sandbox: order %s %s -> %s", outOrderNo, o.State, p.State)
	return p.clone(), nil
}

// Accept is the customer confirming the order: CREATED -> USER_ACCEPTED.
// With no smart-retail order of that number it is AcceptServiceOrder.
func (s *Sandbox) Accept(outOrderNo string) error {
	_, err := s.customerMove(outOrderNo, "accept")
	return err
}

// Pay is the customer paying: FINISHED (finish_type 2) -> USER_PAID.
// With no smart-retail order of that number it is PayServiceOrder.
func (s *Sandbox) Pay(outOrderNo string) error {
	_, err := s.customerMove(outOrderNo, "pay")
	return err
}

// Expire ends an unconfirmed order now: CREATED -> EXPIRED. With no
// smart-retail order of that number it is ExpireServiceOrder.
func (s *Sandbox) Expire(outOrderNo string) error {
	_, err := s.customerMove(outOrderNo, "expire")
	return err
}

// ---- HTTP ----

// ServeHTTP serves /v3/ (WeChat Pay, signed) and /sandbox/ (admin) as the
// main domain: with its faults.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, &s.main) }

// serve answers a request that reached domain d.
func (s *Sandbox) serve(w http.ResponseWriter, r *http.Request, d *domain) {
	w.Header().Set("Request-ID", s.newRequestID())
	switch {
	case strings.HasPrefix(r.URL.Path, "/v3/"):
		s.serveV3(w, r, d)
	case r.URL.Path == "/sandbox" || strings.HasPrefix(r.URL.Path, "/sandbox/"):
		s.serveAdmin(w, r, d)
	default:
		writeJSON(w, http.StatusNotFound, newError(http.StatusNotFound, "NOT_FOUND",
			"no such path: the API is under /v3/, the admin API under /sandbox/"))
	}
}

func (s *Sandbox) newRequestID() string {
	// Unique per sandbox by the counter; the random part keeps ids of two
	// sandboxes (or a restart) apart.
	return fmt.Sprintf("%s%08x%s", s.reqPrefix, s.reqSeq.Add(1), randString(alnum, 8))
}

// marshal encodes JSON without HTML escaping and without a trailing newline.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"code":"SYSTEM_ERROR","message":"cannot encode answer"}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(marshal(v))
}

// resetConn drops the connection without an answer; with SO_LINGER 0 the
// client sees a TCP reset, like a middlebox or a crashed server.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // not hijackable (HTTP/2, recorder): abort instead
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// sleep waits d unless the request goes away first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pickFault draws whether a request to the main domain gets its fault.
func (s *Sandbox) pickFault() (Faults, string) { return s.pickFaultOf(&s.main) }

// pickFaultOf draws whether this request to d gets d's fault: one draw per
// faulted request, none while the mode is none. Both domains draw from the
// one source, so a seeded Options.Rand replays them together.
func (s *Sandbox) pickFaultOf(d *domain) (Faults, string) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := d.faults
	if f.Mode == FaultNone {
		return f, FaultNone
	}
	var p float64
	if s.rng != nil {
		p = s.rng.Float64()
	} else {
		p = rand.Float64()
	}
	if p >= f.Probability {
		return f, FaultNone
	}
	return f, f.Mode
}
