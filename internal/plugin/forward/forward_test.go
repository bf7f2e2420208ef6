package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// testCreds are the merchant's of every sandbox here: the process's
// default credentials, which sandbox.NewServer and sandbox.New use.
func testCreds() *sandbox.Credentials {
	c, err := sandbox.DefaultCredentials()
	if err != nil {
		panic(err) // key generation failed: nothing here can run
	}
	return c
}

type env struct {
	srv   *testkit.Sandbox
	clock testkit.Clock // the kiosk's: the outbox's and the forwarder's
	clk   *clock.Clock
	store *outbox.Store
	wx    *wxpay.Client
	fwd   *forward.Forwarder
	stop  func()
}

// setup starts a sandbox, an outbox and a forwarder sending to it that
// fails a create waiting unsent longer than maxAge (0: the default).
func setup(t testing.TB, maxAge time.Duration) *env {
	t.Helper()
	e := &env{srv: testkit.Start(t, sandbox.Options{})}
	e.clk = clock.New(&e.clock)
	e.wx = e.srv.WeChat(t)
	store, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "outbox.db"), Now: e.clock.Now, Stamp: e.clk.Stamp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store
	e.run(t, e.wx, maxAge)
	return e
}

// run stops the forwarder running and starts one sending through wx,
// with the options of the test changed by each of with.
func (e *env) run(t testing.TB, wx forward.WeChatPay, maxAge time.Duration, with ...func(*forward.Options)) {
	t.Helper()
	if e.stop != nil {
		e.stop()
	}
	opts := forward.Options{Store: e.store, WeChat: wx, Concurrency: 4, Clock: e.clk,
		BaseBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxAge: maxAge, CallTimeout: time.Second}
	for _, w := range with {
		w(&opts)
	}
	e.fwd = forward.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.fwd.Run(ctx); close(done) }()
	var once sync.Once
	e.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(e.stop)
}

func createBody(no string, confirm bool) json.RawMessage {
	creds := testCreds()
	b, _ := json.Marshal(wxpay.CreateRequest{AppID: creds.AppID, ServiceID: creds.ServiceID, OutOrderNo: no,
		ServiceStartTime: "OnAccept", ServiceStartLocation: "K-17", ServiceIntroduction: "无人零售柜",
		RiskAmount: 1000, NeedUserConfirm: &confirm, OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})
	return b
}

func completeBody(no string) json.RawMessage {
	total := int64(300)
	creds := testCreds()
	b, _ := json.Marshal(wxpay.CompleteRequest{AppID: creds.AppID, ServiceID: creds.ServiceID, FinishType: 2,
		Fees: []wxpay.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}}, TotalAmount: &total})
	return b
}

func (e *env) queue(t *testing.T, no string, ops ...outbox.Op) {
	t.Helper()
	o := &outbox.Order{OutOrderNo: no, Amount: 1000, Ops: ops} // createBody's risk_amount
	if _, _, err := e.store.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
		t.Fatal(err)
	}
	e.fwd.Wake()
}

func pending(kind outbox.OpKind, body json.RawMessage) outbox.Op {
	return outbox.Op{Kind: kind, Body: body, State: outbox.OpPending}
}

// waitSettled waits until no order has work left.
func (e *env) waitSettled(t *testing.T, within time.Duration) {
	t.Helper()
	settled := func() bool {
		st, err := e.store.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.WorkCount == 0
	}
	if !testkit.Within(within, settled) {
		due, _ := e.store.Due(5, nil)
		for _, o := range due {
			t.Logf("still waiting: %s %s ops %+v", o.OutOrderNo, o.State(), o.Ops)
		}
		t.Fatalf("orders still have work after %v", within)
	}
}

func TestDrainsInOrderExactlyOnce(t *testing.T) {
	e := setup(t, 0)
	for i := 0; i < 40; i++ {
		no := fmt.Sprintf("FW-%02d", i)
		e.queue(t, no, pending(outbox.OpCreate, createBody(no, false)), pending(outbox.OpComplete, completeBody(no)))
	}
	e.waitSettled(t, 20*time.Second)
	for i := 0; i < 40; i++ {
		no := fmt.Sprintf("FW-%02d", i)
		so, ok := e.srv.Sandbox.Order(no)
		if !ok || so.State != sandbox.StateFinished || so.CreateRequests != 1 {
			t.Errorf("%s at the sandbox: %+v", no, so)
		}
		o, _ := e.store.Get(no)
		if o.State() != outbox.StateSubmitted || o.Ops[0].Attempts != 1 || o.Ops[1].Attempts != 1 {
			t.Errorf("%s in the outbox: %s %+v", no, o.State(), o.Ops)
		}
	}
	evs, _ := e.store.EventsAfter(0, 1000)
	counts := map[string]int{}
	for _, ev := range evs {
		counts[ev.Type]++
		if ev.Type == outbox.EventOrderSubmitted && ev.OrderID == "" {
			t.Errorf("ORDER_SUBMITTED without order_id: %+v", ev)
		}
	}
	if counts[outbox.EventOrderSubmitted] != 40 || counts[outbox.EventOperationSubmitted] != 40 {
		t.Errorf("events %v", counts)
	}
	if s, _, _, _ := e.fwd.Network(); s != forward.Online {
		t.Errorf("network %s", s)
	}
}

func TestOfflineThenBack(t *testing.T) {
	e := setup(t, 0)
	rec := e.recordCalls(t, 0)
	e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	for i := 0; i < 10; i++ {
		no := fmt.Sprintf("OFF-%d", i)
		e.queue(t, no, pending(outbox.OpCreate, createBody(no, false)))
	}
	testkit.Eventually(t, 5*time.Second, "the forwarder notices it is offline", e.fwd.Offline)
	rec.waitFor(t, 10*time.Second, "three attempts while offline", func(cs []call) bool { return len(cs) >= 3 })
	if n := len(e.srv.Sandbox.Orders()); n != 0 {
		t.Fatalf("%d orders reached an offline sandbox", n)
	}
	e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitSettled(t, 10*time.Second)
	for i := 0; i < 10; i++ {
		so, ok := e.srv.Sandbox.Order(fmt.Sprintf("OFF-%d", i))
		if !ok || so.CreateRequests != 1 {
			t.Errorf("OFF-%d: %+v", i, so)
		}
	}
	var sawOffline, sawOnline bool
	evs, _ := e.store.EventsAfter(0, 1000)
	for _, ev := range evs {
		if ev.Type == outbox.EventNetworkStatusChanged {
			sawOffline = sawOffline || ev.Network == "OFFLINE"
			sawOnline = sawOnline || (sawOffline && ev.Network == "ONLINE")
		}
	}
	if !sawOffline || !sawOnline {
		t.Errorf("network events: offline %v, then online %v", sawOffline, sawOnline)
	}
}

func TestAmbiguousOutcomesAreReconciledNotResentBlind(t *testing.T) {
	e := setup(t, 0)
	rec := e.recordCalls(t, 0)
	e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultDropResponse, Probability: 0.5})
	for i := 0; i < 30; i++ {
		no := fmt.Sprintf("AMB-%02d", i)
		e.queue(t, no, pending(outbox.OpCreate, createBody(no, false)), pending(outbox.OpComplete, completeBody(no)))
	}
	// The fault stays until a create and a complete were done at the
	// sandbox and their answers lost on the way back.
	rec.waitFor(t, 10*time.Second, "lost answer to a create and to a complete", func(cs []call) bool {
		var create, complete bool
		for _, c := range cs {
			create = create || (c.op == "create" && c.noAnswer())
			complete = complete || (c.op == "complete" && c.noAnswer())
		}
		return create && complete
	})
	e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitSettled(t, 20*time.Second)
	for i := 0; i < 30; i++ {
		no := fmt.Sprintf("AMB-%02d", i)
		so, ok := e.srv.Sandbox.Order(no)
		// Finished once: a second complete would have been refused, and it
		// would show as a failure below.
		if !ok || so.State != sandbox.StateFinished {
			t.Errorf("%s: %+v", no, so)
		}
		if o, _ := e.store.Get(no); o.State() != outbox.StateSubmitted {
			t.Errorf("%s in the outbox: %s %+v %+v", no, o.State(), o.Failure, o.Ops)
		}
	}
	if st, _ := e.store.Stats(); st.FailedCount != 0 {
		t.Errorf("%d failed", st.FailedCount)
	}
	// Not resent blind: after an attempt whose outcome is unknown, the
	// same operation goes again only once a query has answered that it
	// may (a create: any answer, as the same create returns the same
	// order; a complete: the order still USER_ACCEPTED). A lost complete
	// was done at the sandbox, so it is never sent again.
	lost := 0
	for no, cs := range rec.byOrder() {
		unsure := map[string]bool{}
		for _, c := range cs {
			if c.op != "query" && unsure[c.op] {
				t.Errorf("%s: %s sent again without a query saying it was not applied: %v", no, c.op, cs)
			}
			switch {
			case c.op == "query" && c.answered():
				unsure["create"] = false
				if c.err == nil && c.state == wxpay.StateUserAccepted {
					unsure["complete"] = false
				}
			case c.op != "query":
				unsure[c.op] = c.err != nil && c.err.Ambiguous()
			}
			if c.noAnswer() && c.op != "query" {
				lost++
			}
		}
	}
	t.Logf("%d creates and completes done at the sandbox with their answers lost", lost)
}

func TestRateLimitAndSystemErrorsWaitAndRetry(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		class wxpay.Class
		code  string
	}{
		{sandbox.FaultRateLimit, wxpay.RateLimited, "FREQUENCY_LIMITED"},
		{sandbox.FaultError, wxpay.Transient, "SYSTEM_ERROR"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			e := setup(t, 0)
			rec := e.recordCalls(t, 0)
			// Every call refused until three creates were: with a chance
			// below 1 the orders could all get through first.
			e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: tc.mode, Probability: 1})
			for i := 0; i < 8; i++ {
				no := fmt.Sprintf("RL-%d", i)
				e.queue(t, no, pending(outbox.OpCreate, createBody(no, false)))
			}
			faulted := func(c call) bool { return c.err != nil && c.err.Class == tc.class && c.err.Code == tc.code }
			rec.waitFor(t, 10*time.Second, "three creates refused with "+tc.code, func(cs []call) bool {
				n := 0
				for _, c := range cs {
					if c.op == "create" && faulted(c) {
						n++
					}
				}
				return n >= 3
			})
			e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
			e.waitSettled(t, 15*time.Second)
			for i := 0; i < 8; i++ {
				// Created once: the refused attempts did nothing, and the
				// one that got through is the only one that counted.
				if so, ok := e.srv.Sandbox.Order(fmt.Sprintf("RL-%d", i)); !ok || so.State != sandbox.StateUserAccepted || so.CreateRequests != 1 {
					t.Errorf("RL-%d: %+v", i, so)
				}
			}
			// Waited: an order refused with a Retry-After (the sandbox's
			// is 1 s) is not tried again before it has passed. A system
			// error may come after the work was done: a query comes first.
			for no, cs := range rec.byOrder() {
				for i := 1; i < len(cs); i++ {
					prev := cs[i-1]
					if faulted(prev) && prev.err.RetryAfter > 0 && cs[i].start.Sub(prev.end) < prev.err.RetryAfter {
						t.Errorf("%s: tried again %v after %s with Retry-After %v", no, cs[i].start.Sub(prev.end), tc.code, prev.err.RetryAfter)
					}
					if faulted(prev) && prev.err.Ambiguous() && cs[i].op != "query" {
						t.Errorf("%s: %s after %s on %s, not a query", no, cs[i].op, tc.code, prev.op)
					}
				}
			}
		})
	}
}

func TestPermanentRefusalGoesToTheFailedList(t *testing.T) {
	e := setup(t, 0)
	var r wxpay.CreateRequest
	json.Unmarshal(createBody("BAD-APP", false), &r)
	r.AppID = "wx0000000000000000"
	body, _ := json.Marshal(r)
	e.queue(t, "BAD-APP", pending(outbox.OpCreate, body))
	e.queue(t, "GOOD-1", pending(outbox.OpCreate, createBody("GOOD-1", false)))
	e.waitSettled(t, 10*time.Second)
	o, _ := e.store.Get("BAD-APP")
	if o.State() != outbox.StateFailed || o.Failure.Code != "INVALID_REQUEST" {
		t.Fatalf("BAD-APP: %s %+v", o.State(), o.Failure)
	}
	if g, _ := e.store.Get("GOOD-1"); g.State() != outbox.StateSubmitted {
		t.Errorf("a refused order held up the next one: %s", g.State())
	}
	evs, _ := e.store.EventsAfter(0, 100)
	found := false
	for _, ev := range evs {
		found = found || (ev.Type == outbox.EventOrderFailed && ev.OutOrderNo == "BAD-APP" && ev.Code == "INVALID_REQUEST")
	}
	if !found {
		t.Error("no ORDER_FAILED event with WeChat's code")
	}
}

func TestExpiredOrdersAreNeverSent(t *testing.T) {
	e := setup(t, time.Hour)
	e.srv.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	e.queue(t, "OLD-1", pending(outbox.OpCreate, createBody("OLD-1", false)))
	// Once an attempt has failed, the forwarder stops while the order grows
	// old (so no attempt picked up before goes out after), and a new one
	// finds the network back.
	testkit.Eventually(t, 10*time.Second, "an attempt at OLD-1 failed", func() bool {
		o, _ := e.store.Get("OLD-1")
		return o.Ops[0].LastError != ""
	})
	e.stop()
	e.clock.Advance(2 * time.Hour)
	e.srv.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.run(t, e.wx, time.Hour)
	e.fwd.Drain()
	e.waitSettled(t, 10*time.Second)
	o, _ := e.store.Get("OLD-1")
	if o.State() != outbox.StateFailed || o.Failure.Code != forward.CodeExpiredOffline {
		t.Fatalf("OLD-1: %s %+v", o.State(), o.Failure)
	}
	if _, ok := e.srv.Sandbox.Order("OLD-1"); ok {
		t.Error("an expired order was sent")
	}
}

func TestReconcileOnlyIsNeverResent(t *testing.T) {
	e := setup(t, 0)
	// One that reached WeChat Pay, one that did not; both in flight.
	if _, err := e.wx.Create(context.Background(), mustCreate("RO-THERE")); err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"RO-THERE", "RO-GONE"} {
		o := &outbox.Order{OutOrderNo: no, ReconcileOnly: true,
			Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: createBody(no, false), State: outbox.OpInFlight, Attempts: 1}}}
		if _, _, err := e.store.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
			t.Fatal(err)
		}
	}
	e.fwd.Wake()
	e.waitSettled(t, 10*time.Second)
	if o, _ := e.store.Get("RO-THERE"); o.State() != outbox.StateSubmitted {
		t.Errorf("RO-THERE: %s", o.State())
	}
	if o, _ := e.store.Get("RO-GONE"); o != nil {
		t.Errorf("RO-GONE is still in the outbox: %s %+v", o.State(), o.Failure)
	}
	evs, _ := e.store.EventsAfter(0, 100)
	var told bool
	for _, ev := range evs {
		told = told || (ev.OutOrderNo == "RO-GONE" && ev.Type == outbox.EventOrderFailed && ev.Code == forward.CodeNotCreated)
	}
	if !told {
		t.Error("no ORDER_FAILED NOT_CREATED event for RO-GONE")
	}
	if _, ok := e.srv.Sandbox.Order("RO-GONE"); ok {
		t.Error("a reconcile-only order was sent")
	}
	if so, _ := e.srv.Sandbox.Order("RO-THERE"); so.CreateRequests > 2 {
		t.Errorf("RO-THERE create requests %d", so.CreateRequests)
	}
}

func mustCreate(no string) wxpay.CreateRequest {
	var r wxpay.CreateRequest
	json.Unmarshal(createBody(no, false), &r)
	return r
}

// setupQueuedOffline is setup with WeChat Pay unreachable and n creates
// (out_order_no from format and 0..n-1) queued before the forwarder, with
// the options changed by with, starts: all due at once.
func setupQueuedOffline(t *testing.T, format string, n int, with ...func(*forward.Options)) *env {
	t.Helper()
	e := setup(t, 0)
	e.stop()
	e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	for i := 0; i < n; i++ {
		no := fmt.Sprintf(format, i)
		e.queue(t, no, pending(outbox.OpCreate, createBody(no, false)))
	}
	e.stop = nil
	e.run(t, e.wx, 0, with...)
	return e
}

// A forwarder that has not had an answer yet sends one order at a time:
// into a network that takes requests and answers none (a connection reset
// after the request was read), forward_concurrency sends would leave that
// many creates in doubt, each to be reconciled by a query before it can
// go again; one leaves one. Then the network comes back and every sale
// goes, once.
func TestUntilWeChatPayAnswersOneOrderIsInDoubt(t *testing.T) {
	e := setupQueuedOffline(t, "DOUBT-%02d", 8)
	inDoubt := func() int {
		n := 0
		for i := 0; i < 8; i++ {
			o, err := e.store.Get(fmt.Sprintf("DOUBT-%02d", i))
			if err != nil {
				t.Fatal(err)
			}
			if o.Ops[0].State == outbox.OpInFlight {
				n++
			}
		}
		return n
	}
	if !testkit.Within(5*time.Second, func() bool { return inDoubt() > 0 }) {
		t.Fatal("nothing was sent into the network that answers none")
	}
	time.Sleep(500 * time.Millisecond) // more attempts, on the backoff
	if n := inDoubt(); n != 1 {
		t.Errorf("%d creates in doubt before WeChat Pay ever answered, want 1", n)
	}
	e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitSettled(t, 10*time.Second)
	if got := len(e.srv.Sandbox.Orders()); got != 8 {
		t.Errorf("%d orders at WeChat Pay, want 8", got)
	}
}

// A kiosk that finds WeChat Pay answering again sends its queue at once:
// when it finds it is already spread over the fleet by the jittered
// backoff of its attempts while offline, and a second random wait on top
// only left its sales later than the rest of the fleet's (a 10-kiosk
// fleet's slowest kiosk started up to a second late, was cut lowest, and
// finished 1-2 s after the others). The wait after the plugin starts stays
// (a fleet powered up together): here it is an hour, and the host's Drain
// lets the first attempt go. Before the fix the kiosk, back, waited a
// random part of that hour.
func TestAKioskThatFindsTheNetworkBackSendsAtOnce(t *testing.T) {
	e := setupQueuedOffline(t, "BACK-%d", 6, func(o *forward.Options) { o.StartJitter = time.Hour })
	testkit.Eventually(t, 5*time.Second, "the forwarder, told to drain, notices it is offline", func() bool {
		e.fwd.Drain() // again: Run's wait may be set after the first
		return e.fwd.Offline()
	})
	e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitSettled(t, 10*time.Second)
	if got := len(e.srv.Sandbox.Orders()); got != 6 {
		t.Errorf("%d orders at WeChat Pay, want 6", got)
	}
}
