// Package plugin is the inside of the smartretail-plugin binary: Service
// implements the contract (shared.Orders) on the WeChat Pay client, the
// outbox and the forwarder, and Serve runs it under go-plugin with signal
// handling and a parent watch.
package plugin

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Version is the plugin's version, reported by Configure and GetStatus.
var Version = "0.1.0-dev"

// Service implements shared.Orders.
type Service struct {
	log     hclog.Logger
	started time.Time
	clock   *clock.Clock // the plugin's one time: the kiosk's clock and WeChat Pay's, across configurations

	mu          sync.RWMutex
	cur         *configured  // nil until Configure succeeds
	admin       *adminServer // the admin socket served, nil for none
	configuring sync.Mutex   // one Configure at a time
}

// configured is one accepted configuration and what runs on it.
type configured struct {
	cfg        *config.Config
	client     *wxpay.Client
	api        payscore   // the configured API (payscore_api)
	apis       []payscore // every API, the configured one first: orders keep the one they were made for
	verifyMode string
	store      *outbox.Store
	fwd        *forward.Forwarder
	limits     outbox.Limits
	claims     *forward.Claims // the outbox's: who sends which order
	stop       context.CancelFunc
	stopped    chan struct{}
	inspect    bool // opened only to look: no forwarder runs
	// calls is read-held by each online call that sends and then records
	// (CreateOrder, CancelOrder, CompleteOrder), so that the outbox they
	// record in is not closed under them.
	calls sync.RWMutex
}

// shutdown stops the forwarder (it finishes the operations in hand).
func (c *configured) shutdown() {
	c.stop()
	<-c.stopped
}

// retire ends a configuration that is no longer current: it waits for the
// online calls still sending on it (they record what WeChat Pay answered),
// stops its forwarder and closes its outbox.
func (c *configured) retire(log hclog.Logger) {
	c.calls.Lock()
	defer c.calls.Unlock()
	c.shutdown()
	if err := c.store.Close(); err != nil {
		log.Error("closing the previous outbox failed", "error", err)
	}
}

var _ shared.Orders = (*Service)(nil)

// NewService returns an unconfigured Service. log gets no secrets and no
// openid, ever.
func NewService(log hclog.Logger, opts ...Option) *Service {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Service{log: log, started: time.Now()}
	for _, o := range opts {
		o(s)
	}
	if s.clock == nil {
		s.clock = clock.New(nil)
	}
	return s
}

func (s *Service) now() time.Time { return s.clock.Now() }

// Option changes how a Service is made.
type Option func(*Service)

// WithClock is the time the Service, its outbox, its forwarder and its
// WeChat Pay client read (the machine's clocks when not given): a test
// moves it to see what a day offline, or a kiosk's clock set wrong, does.
func WithClock(src clock.Source) Option {
	return func(s *Service) { s.clock = clock.New(src) }
}

// Close stops serving the admin socket (removing it), stops the forwarder
// and closes the outbox. Safe to call twice.
func (s *Service) Close() error {
	s.mu.Lock()
	cur, admin := s.cur, s.admin
	s.cur, s.admin = nil, nil
	s.mu.Unlock()
	if admin != nil {
		admin.stop() // first: its calls in hand finish on the open outbox
	}
	if cur == nil {
		return nil
	}
	cur.shutdown()
	return cur.store.Close()
}

func (s *Service) current() (*configured, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cur == nil {
		return nil, errNotConfigured
	}
	return s.cur, nil
}

// working is current, for calls that send or change: refused when the
// plugin was configured only to inspect.
func (s *Service) working() (*configured, error) {
	c, err := s.current()
	if err == nil && c.inspect {
		return nil, errInspecting
	}
	return c, err
}

var errInspecting = &shared.Error{Class: shared.ClassNotConfigured,
	Message: "the plugin was configured to inspect its outbox (inspect): it only answers GetStatus and ListQueue; configure it without inspect to work"}

// Configure checks the configuration (keys, key files, the outbox and its
// key) and makes it current. A refused configuration leaves the previous
// one in place; so does one whose ctx ends while it waits for the outbox's
// lock (the error then wraps ctx.Err()).
func (s *Service) Configure(ctx context.Context, r *v1.ConfigureRequest) (*v1.ConfigureResponse, error) {
	if r.GetConfig() == nil {
		return nil, &shared.Error{Class: shared.ClassInvalid, Message: "configuration refused",
			Violations: []shared.FieldViolation{{Field: "config", Description: "is required"}}}
	}
	if err := config.AbsolutePaths(r.GetConfig()); err != nil {
		return nil, fromConfig(err)
	}
	cfg := config.FromProto(r.GetConfig())
	if err := cfg.Validate(); err != nil {
		return nil, fromConfig(err)
	}
	keys, err := cfg.LoadKeys()
	if err != nil {
		return nil, fromConfig(err)
	}
	client, err := wxpay.New(wxpay.Settings{
		MchID:                cfg.MchID,
		MerchantSerialNo:     cfg.MerchantSerialNo,
		MerchantPrivateKey:   keys.MerchantPrivateKey,
		WeChatPayPublicKeyID: cfg.WeChatPayPublicKeyID,
		WeChatPayPublicKey:   keys.WeChatPayPublicKey,
		WeChatPayCertificate: keys.WeChatPayCertificate,
		AppID:                cfg.AppID,
		ServiceID:            cfg.ServiceID,
		BaseURL:              cfg.APIBaseURL,
		BackupBaseURL:        cfg.BackupBaseURL(),
		OnDomainChange: func(baseURL string) {
			if c, err := s.current(); err == nil {
				c.fwd.DomainChanged(redactURL(baseURL))
			}
		},
		Clock: s.clock,
	})
	if err != nil {
		return nil, fromConfig(err)
	}
	mode := "public_key"
	if keys.WeChatPayCertificate != nil {
		mode = "certificate"
	}

	inspect := r.GetInspect()
	// One Configure at a time; calls go on meanwhile on the configuration
	// in place, which is swapped under s.mu only once the new one is ready.
	s.configuring.Lock()
	defer s.configuring.Unlock()
	old, _ := s.current()

	// The admin socket in place is kept when it stays the same; a new one
	// listens before the configuration is taken, so that one refused
	// leaves the configuration in place as it was.
	s.mu.RLock()
	admin := s.admin
	s.mu.RUnlock()
	var newAdmin *adminServer
	keepAdmin := false
	if want := cfg.AdminSocket; want != "" && !inspect {
		if admin != nil && sameFile(admin.path, want) {
			keepAdmin = true
		} else if newAdmin, err = listenAdmin(want); err != nil {
			return nil, err
		}
	}
	committed := false
	defer func() {
		if !committed && newAdmin != nil {
			newAdmin.stop()
		}
	}()

	sameOutbox := old != nil && sameFile(old.cfg.OutboxPath, cfg.OutboxPath)
	var store *outbox.Store
	var claims *forward.Claims
	switch {
	case sameOutbox && old.inspect == inspect && sameFile(old.cfg.OutboxKeyFile, cfg.OutboxKeyFile):
		store, claims = old.store, old.claims // the same outbox: keep it open, and who sends what
	case sameOutbox:
		// The same outbox, opened another way: let go of it first (a
		// file has one owner, even within a process). Calls wait
		// meanwhile, or find the plugin not configured for a moment.
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		old.retire(s.log)
		if store, err = s.openOutbox(ctx, cfg, inspect); err != nil {
			// Refused: the previous configuration comes back, as it was,
			// even when the caller gave up: it is not the caller's.
			if back, rerr := s.openOutbox(context.WithoutCancel(ctx), old.cfg, old.inspect); rerr == nil {
				s.mu.Lock()
				s.cur = s.start(old.cfg, old.client, old.verifyMode, back, nil, old.inspect)
				s.mu.Unlock()
			} else {
				s.log.Error("reopening the previous outbox failed: the plugin is not configured", "error", rerr)
			}
			return nil, err
		}
		old = nil // retired
	default:
		if store, err = s.openOutbox(ctx, cfg, inspect); err != nil {
			return nil, err
		}
	}
	cur := s.start(cfg, client, mode, store, claims, inspect)
	var stopAdmin *adminServer
	s.mu.Lock()
	s.cur = cur
	if !keepAdmin {
		// Another socket, or none (an inspecting plugin serves none).
		stopAdmin, s.admin = s.admin, newAdmin
		if newAdmin != nil {
			newAdmin.serve(s, s.log)
		}
	}
	s.mu.Unlock()
	committed = true
	if stopAdmin != nil {
		stopAdmin.stop()
	}
	if old != nil {
		if old.store == store {
			old.shutdown() // its forwarder; the claims keep the two apart meanwhile
		} else {
			old.retire(s.log)
		}
	}
	s.log.Info("configured", "mchid", cfg.MchID, "api_base_url", redactURL(cfg.APIBaseURL), "verify_mode", mode, "outbox", cfg.OutboxPath, "inspect", inspect,
		"admin_socket", cfg.AdminSocket)
	return &v1.ConfigureResponse{VerifyMode: mode, PluginVersion: Version}, nil
}

// start makes a configuration on an open outbox and starts its forwarder
// (none when it only inspects). claims are the outbox's, nil for new ones.
func (s *Service) start(cfg *config.Config, client *wxpay.Client, mode string, store *outbox.Store, claims *forward.Claims, inspect bool) *configured {
	if claims == nil {
		claims = forward.NewClaims()
	}
	maxOrders, orderAmount, totalAmount := cfg.Limits()
	cur := &configured{cfg: cfg, client: client, verifyMode: mode, store: store, claims: claims, inspect: inspect,
		limits: outbox.Limits{MaxOrders: int(maxOrders), MaxOrderAmount: orderAmount, MaxTotalAmount: totalAmount}}
	cur.api, cur.apis = apis(cfg, client)
	var also []forward.API
	for _, a := range cur.apis[1:] {
		also = append(also, a)
	}
	cur.fwd = forward.New(forward.Options{Store: store, API: cur.api, Also: also, Concurrency: cfg.Concurrency(), Clock: s.clock,
		SkewThreshold: cfg.SkewThreshold(), MaxAge: cfg.MaxAge(), MaxRate: cfg.ForwardMaxRate, Claims: claims, Log: s.log.Named("forward")})
	ctx, cancel := context.WithCancel(context.Background())
	cur.stop, cur.stopped = cancel, make(chan struct{})
	if inspect {
		close(cur.stopped) // looking sends nothing: no forwarder runs
	} else {
		go func() {
			defer close(cur.stopped)
			cur.fwd.Run(ctx)
		}()
	}
	return cur
}

// openOutbox opens the configuration's outbox, waiting for its lock no
// longer than ctx lasts.
func (s *Service) openOutbox(ctx context.Context, cfg *config.Config, inspect bool) (*outbox.Store, error) {
	store, err := outbox.OpenContext(ctx, outbox.Options{
		Path:      cfg.OutboxPath,
		KeyFile:   cfg.OutboxKeyFile,
		Retention: cfg.Retention(),
		ReadOnly:  inspect,
		Now:       s.clock.Now,
		Stamp:     s.clock.Stamp,
		Logf:      s.outboxLog(),
	})
	if err == nil {
		// A kiosk's clock behind what the outbox saw before was set back:
		// it cannot date how long orders waited until WeChat Pay says.
		if seen, serr := store.NewestSeen(); serr == nil {
			s.clock.Seen(seen)
		}
		if now, ok := s.clock.TrustedNow(); ok && !inspect {
			if serr := store.NoteSeen(now); serr != nil {
				s.log.Warn("recording the time seen failed", "error", serr)
			}
		}
		return store, nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// Not a fault of the configuration: the caller gave up. Left as
		// the context's error, which gRPC answers as Canceled or
		// DeadlineExceeded.
		return nil, fmt.Errorf("configuration not applied: %w", err)
	}
	var locked *outbox.LockError
	if errors.As(err, &locked) {
		return nil, lockedError(cfg, err)
	}
	key := "outbox_path"
	if errors.Is(err, outbox.ErrWrongKey) || isKeyFileError(err, cfg.OutboxKeyFile) {
		key = "outbox_key_file"
	}
	msg := "configuration refused: the outbox cannot be opened"
	if errors.Is(err, outbox.ErrDamaged) {
		// Said in the message, which has room; the description is the damage.
		msg = "configuration refused: the outbox is damaged and the plugin will not open it: stop every plugin that uses it and run `smartretail queue salvage --config CONFIG`, which copies every order that can still be read into a new outbox, keeps the damaged file beside it, and lists what could not be read"
	}
	return nil, &shared.Error{Class: shared.ClassInvalid, Message: msg,
		Violations: []shared.FieldViolation{{Field: "config." + key, Description: err.Error()}}}
}

// lockedError says that another process holds the outbox, and how an
// operator reaches the plugin that does: the kiosk's own, most likely, in
// which case its admin socket is the way in.
func lockedError(cfg *config.Config, err error) error {
	msg := "another process holds the outbox, most likely the kiosk's own plugin (one plugin per outbox): to look at or administer a running kiosk, set admin_socket in its config file (e.g. \"admin_socket\": \"admin.sock\") and restart the kiosk's software: its plugin then serves the smartretail CLI's status and queue commands there; or stop that plugin first"
	if cfg.AdminSocket != "" {
		msg = fmt.Sprintf("another process holds the outbox, most likely the kiosk's own plugin (one plugin per outbox): started with this config, it serves the smartretail CLI's status and queue commands on admin_socket %s; if nothing answers there, it was started before admin_socket was set or with another config file: restart the kiosk's software with this config, or stop that plugin first", cfg.AdminSocket)
	}
	return &shared.Error{Class: shared.ClassOutbox, Reason: shared.ReasonOutboxLocked, Message: msg,
		Violations: []shared.FieldViolation{{Field: "config.outbox_path", Description: err.Error()}}}
}

// outboxLog is where the outbox says what an operator must know: the
// plugin's log, named for it (its own lines say "outbox: " too).
func (s *Service) outboxLog() func(format string, a ...any) {
	log := s.log.Named("outbox")
	return func(format string, a ...any) {
		log.Warn(strings.TrimPrefix(fmt.Sprintf(format, a...), "outbox: "))
	}
}

// wake tells the current forwarder that work was queued. Not the one the
// call started with: a Configure meanwhile may have replaced it, and the
// old one no longer runs.
func (s *Service) wake() {
	if c, err := s.current(); err == nil {
		c.fwd.Wake()
	}
}

// sameFile says whether two paths name one file, however spelled.
func sameFile(a, b string) bool {
	ca, errA := filepath.EvalSymlinks(a)
	cb, errB := filepath.EvalSymlinks(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ca == cb
}

// GetStatus answers even before Configure: it is how a host learns that it
// still has to configure.
func (s *Service) GetStatus(context.Context, *v1.GetStatusRequest) (*v1.GetStatusResponse, error) {
	resp := &v1.GetStatusResponse{PluginVersion: Version, StartedAt: timestamppb.New(s.started)}
	c, err := s.current()
	if err != nil {
		return resp, nil
	}
	resp.Configured = true
	resp.Mchid = c.cfg.MchID
	resp.ApiBaseUrl = redactURL(c.cfg.APIBaseURL)
	resp.ApiBaseUrlInUse = redactURL(c.client.InUse())
	resp.ForwardPace = c.fwd.Pace()
	resp.VerifyMode = c.verifyMode
	state, since, lastErr, lastErrAt := c.fwd.Network()
	resp.NetworkStatus = networkStatus(string(state))
	resp.NetworkStatusSince = timestamppb.New(since)
	resp.LastError = lastErr
	if !lastErrAt.IsZero() {
		resp.LastErrorAt = timestamppb.New(lastErrAt)
	}
	st, err := c.store.Stats()
	if err != nil {
		return nil, outboxError(err)
	}
	resp.QueuedCount = int64(st.QueuedCount)
	resp.QueuedAmount = st.QueuedAmount
	resp.FailedCount = int64(st.FailedCount)
	resp.PendingCount = int64(st.WorkCount)
	resp.CorruptCount = int64(st.CorruptCount)
	resp.LastEventSequence = st.LastEventSeq
	resp.FirstEventSequence = st.FirstEventSeq
	if off, known := s.clock.Offset(); known {
		resp.ClockOffset, resp.ClockOffsetKnown = durationpb.New(off), true
	}
	if st.Oldest != nil {
		// As honestly as the clock can tell: never from a clock that jumped.
		age, _, _ := s.clock.Since(st.Oldest.AgeStamp())
		resp.OldestQueuedAge = durationpb.New(age)
	}
	return resp, nil
}

// NewOutOrderNo mints an out_order_no for a host that gave none: "SR", the
// CST time to the second and 80 random bits, 32 characters in all, within
// WeChat Pay's charset. It is minted once and then stored with the order:
// a retry never mints another.
func NewOutOrderNo(now time.Time) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails: the runtime aborts first
	return "SR" + wxpay.FormatTime(now) + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// redactURL hides a password in a URL before it is logged or reported.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
