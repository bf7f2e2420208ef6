package plugin_test

// Cases an independent review of issue 9's changes found: each failed
// before its fix.

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// gatedEnv is a plugin whose first request with method to a path ending in
// suffix, once armed, is held at WeChat Pay's door: arrived closes when it
// comes, and it goes on when the test closes release.
type gatedEnv struct {
	*offlineEnv
	arrived  chan struct{}
	release  chan struct{}
	armed    atomic.Bool  // the gate holds nothing until armed
	requests atomic.Int64 // requests with method to suffix, once armed
}

func newGatedEnv(t *testing.T, method, suffix string) *gatedEnv {
	t.Helper()
	return newGatedEnvWith(t, nil, method, suffix)
}

// newGatedEnvWith is newGatedEnv with the plugin's config edited first.
func newGatedEnvWith(t *testing.T, edit func(*v1.Config), method, suffix string) *gatedEnv {
	t.Helper()
	g := &gatedEnv{arrived: make(chan struct{}), release: make(chan struct{})}
	g.offlineEnv = newEnvWithFront(t, edit, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if g.armed.Load() && r.Method == method && strings.HasSuffix(r.URL.Path, suffix) && g.requests.Add(1) == 1 {
			close(g.arrived)
			<-g.release
		}
		next.ServeHTTP(w, r)
	})
	t.Cleanup(func() { // before the server closes: it waits for its requests
		select {
		case <-g.release:
		default:
			close(g.release)
		}
	})
	return g
}

func (g *gatedEnv) waitArrived(t *testing.T) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached WeChat Pay")
	}
}

// A Configure that closes the outbox (here, to inspect it) while an online
// complete is out: the complete's refusal was not recorded, the host was
// told "refused", and the forwarder later sent it and charged the
// customer. Now the outbox stays open until the online call has recorded
// its outcome.
func TestARefusalIsRecordedBeforeTheOutboxCloses(t *testing.T) {
	// The complete's query of the order is held: the complete is in
	// flight in the outbox meanwhile.
	g := newGatedEnv(t, http.MethodGet, "/smartretail-orders")
	confirm := noConfirm("UR-1", 1000)
	confirm.NeedUserConfirm = nil // the customer confirms in WeChat: CREATED until then
	if _, err := g.o.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: confirm, OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var cerr, ierr error
	g.armed.Store(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// The customer has not accepted: it is refused.
		_, cerr = g.o.CompleteOrder(testkit.Context(t), charge("UR-1", 300))
	}()
	g.waitArrived(t)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, ierr = g.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: g.cfg, Inspect: true})
	}()
	close(g.release)
	wg.Wait()
	if ierr != nil {
		t.Fatal(ierr)
	}
	testkit.WantError(t, cerr, codes.FailedPrecondition, shared.ClassInvalid)
	if _, err := g.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: g.cfg}); err != nil {
		t.Fatal(err)
	}
	if err := g.sb.Accept("UR-1"); err != nil {
		t.Fatal(err)
	}
	g.waitPending(t, 10*time.Second)
	if so, _ := g.sb.Order("UR-1"); so.State != sandbox.StateUserAccepted {
		t.Errorf("the host was told the complete was refused; WeChat Pay shows %s", so.State)
	}
}

// Configure again with the same outbox made a forwarder that knew nothing
// of the online path's claim: it reconciled the online cancel still out
// and sent it a second time. The claims belong to the outbox now.
func TestAReconfigureKeepsTheOnlinePathsClaim(t *testing.T) {
	// The order is accepted (need_user_confirm false): its cancel goes as
	// a complete with finish_type 1.
	// One order at a time, oldest first: the new forwarder comes to RF-2
	// only after it has passed over RF-1 or worked on it.
	g := newGatedEnvWith(t, func(c *v1.Config) { c.ForwardConcurrency = 1 }, http.MethodPost, "/complete")
	if _, err := g.o.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: noConfirm("RF-1", 1000)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var resp *v1.CancelOrderResponse
	var cerr error
	g.armed.Store(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, cerr = g.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: "RF-1", Reason: "未取货"})
	}()
	g.waitArrived(t)
	if _, err := g.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: g.cfg}); err != nil {
		t.Fatal(err)
	}
	// Give the new forwarder its chance at the order: a sale queued behind
	// it reaches WeChat Pay once the forwarder has been past RF-1.
	if resp, err := g.create(t, noConfirm("RF-2", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("RF-2: %v, %v", resp, err)
	}
	testkit.Eventually(t, 10*time.Second, "RF-2 reaches WeChat Pay", func() bool { _, ok := g.sb.Order("RF-2"); return ok })
	close(g.release)
	wg.Wait()
	if cerr != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Errorf("cancel: %v, %v", resp, cerr)
	}
	if n := g.requests.Load(); n != 1 {
		t.Errorf("the cancel was sent %d times", n)
	}
}

// The same cancel again while the first is out was answered QUEUED; the
// first was then refused and removed, and the host got neither a queued
// cancel nor an event. A retry now waits for the first's outcome.
func TestARetryWaitsForTheCallStillOut(t *testing.T) {
	g := newGatedEnv(t, http.MethodGet, "/smartretail-orders") // the first cancel's query
	if _, err := g.o.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: noConfirm("RC-1", 1000)}); err != nil {
		t.Fatal(err)
	}
	// Completed elsewhere (through another outbox): every cancel is refused.
	other := proto.Clone(g.cfg).(*v1.Config)
	other.OutboxPath, other.OutboxKeyFile = t.TempDir()+"/other.db", ""
	o2, _ := harnessWith(t)
	if _, err := o2.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := o2.CompleteOrder(testkit.Context(t), charge("RC-1", 100)); err != nil {
		t.Fatal(err)
	}
	req := &v1.CancelOrderRequest{OutOrderNo: "RC-1", Reason: "未取货"}
	var wg sync.WaitGroup
	var first, second *v1.CancelOrderResponse
	var ferr, serr error
	g.armed.Store(true)
	wg.Add(2)
	go func() { defer wg.Done(); first, ferr = g.o.CancelOrder(testkit.Context(t), req) }()
	g.waitArrived(t)
	go func() { defer wg.Done(); second, serr = g.o.CancelOrder(testkit.Context(t), req) }()
	g.waitLog(t, "waiting for another call for the order still being sent")
	close(g.release)
	wg.Wait()
	testkit.WantError(t, ferr, codes.FailedPrecondition, shared.ClassInvalid)
	if serr == nil {
		t.Errorf("the retry of a refused cancel was answered %v", second.GetDisposition())
	} else {
		testkit.WantError(t, serr, codes.FailedPrecondition, shared.ClassInvalid)
	}
	_ = first
}

// Offline, a complete of another amount on an order whose complete was
// applied was answered QUEUED; sent later, it was refused and the order
// went to the failed list, and the host's retry of the applied complete
// was refused as failed. It is refused at once now.
func TestADifferentCompleteAfterAnAppliedOneIsRefusedOffline(t *testing.T) {
	e := newOfflineEnv(t, nil)
	if _, err := e.create(t, noConfirm("PR-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.o.CompleteOrder(testkit.Context(t), charge("PR-1", 100)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Fatalf("first complete: %v, %v", resp, err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "PR-1"}) // learns it is offline
	_, err := e.o.CompleteOrder(testkit.Context(t), charge("PR-1", 900))
	if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); se.Reason != shared.ReasonOperationConflict || !strings.Contains(se.Message, "charging 100 fen applied") {
		t.Errorf("a different complete offline: %+v", se)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 10*time.Second)
	if resp, err := e.o.CompleteOrder(testkit.Context(t), charge("PR-1", 100)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Errorf("the retry of the applied complete: %v, %v", resp, err)
	}
}

// An online complete leaves a record without the create; the same create
// again, offline, was refused as "out_order_no used with different
// parameters". It is the create WeChat Pay applied: SUBMITTED.
func TestTheSameCreateAfterAnOnlineCompleteIsSubmitted(t *testing.T) {
	e := newOfflineEnv(t, nil)
	order := noConfirm("OC-1", 1000)
	if _, err := e.create(t, order, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.CompleteOrder(testkit.Context(t), charge("OC-1", 100)); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "OC-1"}) // learns it is offline
	if resp, err := e.create(t, order, 0); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Errorf("the same create again, offline: %v, %v", resp, err)
	}
}

// "A refused configuration leaves the previous one in place": one naming
// the same outbox with another key closed the working outbox first, and
// its refusal left the plugin unconfigured.
func TestARefusedReconfigureOfTheSameOutboxKeepsThePrevious(t *testing.T) {
	e := newOfflineEnv(t, nil)
	bad := proto.Clone(e.cfg).(*v1.Config)
	keyFile := t.TempDir() + "/other.key"
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	bad.OutboxKeyFile = keyFile
	if _, err := e.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: bad}); err == nil {
		t.Fatal("a wrong key was accepted")
	}
	if _, err := e.create(t, noConfirm("AFTER-1", 100), 0); err != nil {
		t.Errorf("after a refused Configure: %v", err)
	}
}

// A rate-limited online complete is queued; its Retry-After was dropped
// and the forwarder sent it again at once. Now the forwarder waits.
func TestAnOnlineRateLimitHoldsTheForwarderBack(t *testing.T) {
	type span struct{ start, end time.Time }
	var mu sync.Mutex
	var spans []span // of WeChat Pay's requests
	e := newEnvWithFront(t, nil, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		start := time.Now()
		next.ServeHTTP(w, r)
		mu.Lock()
		spans = append(spans, span{start, time.Now()})
		mu.Unlock()
	})
	requests := func() []span { mu.Lock(); defer mu.Unlock(); return append([]span(nil), spans...) }
	if _, err := e.create(t, noConfirm("RL-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultRateLimit})
	if resp, err := e.o.CompleteOrder(testkit.Context(t), charge("RL-1", 100)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("a rate-limited complete: %v, %v", resp, err)
	}
	refused := len(requests()) - 1 // the 429, with Retry-After: 1
	testkit.Eventually(t, 10*time.Second, "the forwarder sends again", func() bool { return len(requests()) > refused+1 })
	s := requests()
	// Measured at WeChat Pay's door, the gap is at most a little shorter
	// than the plugin's own (the answer's way back).
	if gap := s[refused+1].start.Sub(s[refused].end); gap < 950*time.Millisecond {
		t.Errorf("the forwarder sent again %v after a 429 with Retry-After: 1", gap)
	}
}

// A query refused before sending (a malformed out_order_no) said nothing
// of the network, yet it set an OFFLINE plugin ONLINE.
func TestAQueryRefusedBeforeSendingLeavesTheNetworkStatus(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "NET-1"}) // learns it is offline
	if st := e.status(t); st.GetNetworkStatus() != v1.NetworkStatus_NETWORK_STATUS_OFFLINE {
		t.Fatalf("network %v", st.GetNetworkStatus())
	}
	_, err := e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "not a valid no!"})
	testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	if st := e.status(t); st.GetNetworkStatus() != v1.NetworkStatus_NETWORK_STATUS_OFFLINE {
		t.Errorf("after a query refused before sending, network %v", st.GetNetworkStatus())
	}
}
