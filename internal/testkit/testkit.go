// Package testkit is the module's one test harness: a sandbox served for
// one test, the plugin's configuration and WeChat Pay client for it, a
// clock a test moves, and waits on a condition instead of sleeps. Only
// tests import it.
package testkit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Sandbox is a sandbox served over HTTP for one test, closed when the test
// ends. It counts the WeChat Pay requests (paths under /v3/) that reach it.
type Sandbox struct {
	*sandbox.Sandbox
	URL         string
	Credentials *sandbox.Credentials
	// Calls counts the WeChat Pay requests that reached the server.
	Calls atomic.Int64

	front atomic.Pointer[Front]
	close func()

	// BackupURL is the backup domain's, once StartBackup served it; it
	// serves the same orders, with faults of its own (Backup().SetFaults).
	BackupURL string
	// BackupCalls counts the WeChat Pay requests that reached the backup.
	BackupCalls atomic.Int64
}

// Front stands between the plugin and the sandbox (next) for a test that
// makes WeChat Pay slow, forgetful or changeable at a chosen request.
type Front func(w http.ResponseWriter, r *http.Request, next http.Handler)

// Start serves a new sandbox made with opts (the process's default
// credentials unless opts names others).
func Start(t testing.TB, opts sandbox.Options) *Sandbox {
	t.Helper()
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sandbox{Sandbox: sb, Credentials: sb.Credentials()}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v3/") {
			s.Calls.Add(1)
		}
		if f := s.front.Load(); f != nil {
			(*f)(w, r, sb)
			return
		}
		sb.ServeHTTP(w, r)
	}))
	s.URL = ts.URL
	var once sync.Once
	s.close = func() { once.Do(func() { ts.Close(); sb.Close() }) }
	t.Cleanup(s.close)
	return s
}

// Close stops the server and the sandbox before the test ends (a restart,
// WeChat Pay gone); the test's end closes them otherwise.
func (s *Sandbox) Close() { s.close() }

// StartBackup serves the sandbox's backup domain too (closed with it), and
// returns its URL: the config and settings made after name it.
func (s *Sandbox) StartBackup(t testing.TB) string {
	t.Helper()
	b := s.Sandbox.Backup()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v3/") {
			s.BackupCalls.Add(1)
		}
		b.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.BackupURL = ts.URL
	return ts.URL
}

// SetFront puts f in front of the sandbox; nil takes it away.
func (s *Sandbox) SetFront(f Front) {
	if f == nil {
		s.front.Store(nil)
		return
	}
	s.front.Store(&f)
}

// Server is the sandbox as a sandbox.Server, for WriteConfig.
func (s *Sandbox) Server() *sandbox.Server {
	return &sandbox.Server{URL: s.URL, BackupURL: s.BackupURL, Sandbox: s.Sandbox, Credentials: s.Credentials}
}

// ConfigFile writes the merchant's config file and key files for this
// sandbox into a new temporary folder, as `smartretail sandbox` does, and
// returns the file's path and its folder (which holds the outbox).
func (s *Sandbox) ConfigFile(t testing.TB) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path, err := s.Server().WriteConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// Config is the Configure message for this sandbox, read from a config
// file by the real reader.
func (s *Sandbox) Config(t testing.TB) *v1.Config {
	t.Helper()
	path, _ := s.ConfigFile(t)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c.Proto()
}

// Settings are the WeChat Pay client's settings for this sandbox.
func (s *Sandbox) Settings() wxpay.Settings {
	c := s.Credentials
	return wxpay.Settings{MchID: c.MchID, MerchantSerialNo: c.MerchantSerialNo, MerchantPrivateKey: c.MerchantPrivateKey,
		WeChatPayPublicKeyID: c.PublicKeyID, WeChatPayPublicKey: c.WechatPayPublicKey(),
		AppID: c.AppID, ServiceID: c.ServiceID, BaseURL: s.URL, BackupBaseURL: s.BackupURL, Timeout: 2 * time.Second}
}

// WeChat is a WeChat Pay client for this sandbox.
func (s *Sandbox) WeChat(t testing.TB) *wxpay.Client {
	t.Helper()
	wx, err := wxpay.New(s.Settings())
	if err != nil {
		t.Fatal(err)
	}
	return wx
}

// Clock is a test's clock (a clock.Source): the real time, moved on by
// Advance, its wall reading jumped by Jump. The zero value is ready.
type Clock struct {
	mu      sync.Mutex
	start   time.Time
	advance time.Duration // time passed: the wall and monotonic clocks
	jump    time.Duration // the wall clock set wrong: it alone
}

// Now is the kiosk's clock: the real time plus every Advance and Jump.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.advance + c.jump)
}

// Elapsed is the monotonic clock: real time since the first reading plus
// every Advance, whatever Jump did.
func (c *Clock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start.IsZero() {
		c.start = time.Now()
	}
	return time.Since(c.start) + c.advance
}

// True is the time in the test's world: the real time plus every Advance,
// without the kiosk's Jumps. WeChat Pay's clock, in a sandbox, reads it.
func (c *Clock) True() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.advance)
}

// Advance moves the clock on by d, as if d had passed.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.advance += d
	c.mu.Unlock()
}

// Jump sets the kiosk's clock d away (NTP correcting it, a board booting in
// 1970): the wall clock moves, no time passes.
func (c *Clock) Jump(d time.Duration) {
	c.mu.Lock()
	c.jump += d
	c.mu.Unlock()
}

// Context bounds a test's calls (20 s), cancelled when the test ends.
func Context(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// WantError fails the test unless err is a *shared.Error with this code
// and class, and returns it.
func WantError(t testing.TB, err error, code codes.Code, class shared.Class) *shared.Error {
	t.Helper()
	var se *shared.Error
	if !errors.As(err, &se) {
		t.Fatalf("want *shared.Error %v %v, got %v", code, class, err)
	}
	if se.Code != code || se.Class != class {
		t.Fatalf("got %v %v (%v), want %v %v", se.Code, se.Class, se, code, class)
	}
	return se
}

// Eventually checks cond until it holds, and fails the test with what
// if it does not within the time given. It is how a test waits for
// something another goroutine or process does.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(within, cond) {
		t.Fatalf("%s: not within %v", what, within)
	}
}

// Within checks cond until it holds, and reports whether it did within
// the time given.
func Within(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
	return true
}

// StatusSource is a plugin as a host sees it (shared.Orders, host.Client).
type StatusSource interface {
	GetStatus(context.Context, *v1.GetStatusRequest) (*v1.GetStatusResponse, error)
}

// Status is the plugin's status, or the test fails.
func Status(t testing.TB, o StatusSource) *v1.GetStatusResponse {
	t.Helper()
	st, err := o.GetStatus(Context(t), &v1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// WaitStatus waits until the plugin's status meets cond and returns it.
func WaitStatus(t testing.TB, o StatusSource, within time.Duration, what string, cond func(*v1.GetStatusResponse) bool) *v1.GetStatusResponse {
	t.Helper()
	var st *v1.GetStatusResponse
	deadline := time.Now().Add(within)
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		if st = Status(t, o); cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; status %v", what, within, st)
		}
		time.Sleep(wait)
	}
}
