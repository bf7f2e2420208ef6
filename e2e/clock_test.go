package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// A kiosk whose clock is off from WeChat Pay's by minutes to a day sells
// online and drains 100 queued sales through the real binary as one whose
// clock is right; the status and a CLOCK_SKEW event give the offset. The
// sandbox's clock stands for WeChat Pay's, the machine's for the kiosk's.
func TestWrongClocksSellAndDrainThroughTheBinary(t *testing.T) {
	for _, off := range []time.Duration{-24 * time.Hour, -time.Hour, -6 * time.Minute, 6 * time.Minute, time.Hour, 24 * time.Hour} {
		t.Run(off.String(), func(t *testing.T) {
			t.Parallel() // each has its own sandbox, plugin and outbox
			env := newSandbox(t, sandbox.Options{ClockOffset: off})
			c, _ := startHost(t, host.Options{ConfigPath: env.config})
			sb := env.srv.Sandbox
			noConfirm := false

			created, err := c.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: newSale("CK-ON", 1000, &noConfirm)})
			if err != nil || created.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
				t.Fatalf("online create: %v, %v", created, err)
			}
			q, err := c.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "CK-ON"})
			if err != nil || q.GetOrder().GetState() != sandbox.StateUserAccepted {
				t.Fatalf("online query: %v, %v", q, err)
			}
			total := int64(300)
			done, err := c.CompleteOrder(testkit.Context(t), &v1.CompleteOrderRequest{OutOrderNo: "CK-ON", FinishType: 2, TotalAmount: &total,
				Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}}, FinishTicket: q.GetOrder().GetFinishTicket()})
			if err != nil || done.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
				t.Fatalf("online complete: %v, %v", done, err)
			}
			if so, _ := sb.Order("CK-ON"); so.State != sandbox.StateFinished || so.CreateRequests != 1 {
				t.Errorf("CK-ON at WeChat Pay: state %s, %d creates", so.State, so.CreateRequests)
			}

			// A hundred sales queue while WeChat Pay cannot be reached, then
			// drain when it can.
			if err := sb.SetFaults(sandboxFaults(sandbox.FaultOffline)); err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				no := fmt.Sprintf("CK-Q%03d", i)
				resp, err := c.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: newSale(no, 1000, &noConfirm),
					OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE})
				if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
					t.Fatalf("%s: %v, %v", no, resp, err)
				}
			}
			if err := sb.SetFaults(sandboxFaults(sandbox.FaultNone)); err != nil {
				t.Fatal(err)
			}
			st := waitNothingPending(t, c, time.Minute)
			if st.GetFailedCount() != 0 {
				l, _ := c.ListQueue(testkit.Context(t), &v1.ListQueueRequest{Failed: true})
				t.Fatalf("%d orders failed: %v", st.GetFailedCount(), l)
			}
			for i := range 100 {
				no := fmt.Sprintf("CK-Q%03d", i)
				if so, ok := sb.Order(no); !ok || so.CreateRequests != 1 {
					t.Fatalf("%s at WeChat Pay: %v, %+v", no, ok, so)
				}
			}
			if !st.GetClockOffsetKnown() || (st.GetClockOffset().AsDuration()-off).Abs() > time.Second {
				t.Errorf("status clock_offset %v (known %v), want %v within a second", st.GetClockOffset().AsDuration(), st.GetClockOffsetKnown(), off)
			}
			ev := firstEvent(t, c, func(ev *v1.Event) bool { return ev.GetType() == v1.EventType_EVENT_TYPE_CLOCK_SKEW })
			if ev == nil || (ev.GetClockOffset().AsDuration()-off).Abs() > time.Second || !strings.Contains(ev.GetMessage(), "NTP") {
				t.Errorf("CLOCK_SKEW event: %v", ev)
			}
		})
	}
}

// An answer replayed from before WeChat Pay's clock moved 7 minutes on
// verifies (it is WeChat Pay's signature) but is not its word on this
// request: the create fails with reason CLOCK_SKEW, its outcome unknown,
// and the plugin reconciles it by query, never sending it again.
func TestAReplayedAnswerIsRefusedThroughTheBinary(t *testing.T) {
	env := newSandbox(t, sandbox.Options{})
	sb := env.srv.Sandbox
	// The front passes every request on; once replay is set, it answers a
	// create (after the sandbox took it) with the first create's answer.
	var mu sync.Mutex
	var captured *httptest.ResponseRecorder
	var replay atomic.Bool
	isCreate := func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/v3/payscore/smartretail-orders"
	}
	env.srv.SetFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		mu.Lock()
		if isCreate(r) && rec.Code == http.StatusOK && captured == nil {
			captured = rec
		}
		if isCreate(r) && replay.Load() && captured != nil {
			rec = captured
		}
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
	c, _ := startHost(t, host.Options{ConfigPath: env.config})

	if resp, err := c.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: newSale("RP-0", 1000, nil)}); err != nil ||
		resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Fatalf("first create: %v, %v", resp, err)
	}
	mu.Lock()
	haveAnswer := captured != nil
	mu.Unlock()
	if !haveAnswer {
		t.Fatal("the front captured no create answer")
	}
	// WeChat Pay's clock moves 7 minutes on; the plugin learns it from the
	// next answers (a refusal of the request's timestamp, then a fresh one).
	if err := sb.SetClockOffset(7 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "RP-0"}); err != nil {
		t.Fatalf("query after WeChat Pay's clock moved: %v", err)
	}
	if st := testkit.Status(t, c); !st.GetClockOffsetKnown() || (st.GetClockOffset().AsDuration()-7*time.Minute).Abs() > time.Second {
		t.Fatalf("clock_offset %v (known %v), want 7m", st.GetClockOffset().AsDuration(), st.GetClockOffsetKnown())
	}

	// The customer must confirm this order, so it cannot wait in the queue:
	// the host is told what happened.
	replay.Store(true)
	_, err := c.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: newSale("RP-1", 1000, nil)})
	var se *shared.Error
	if !errors.As(err, &se) || se.Reason != shared.ReasonClockSkew || se.Class != shared.ClassAuth || !se.ReachedServer || se.OutOrderNo != "RP-1" {
		t.Fatalf("a create answered with a replayed answer: %v (%#v)", err, se)
	}
	if !strings.Contains(se.Message, "stale or replayed") {
		t.Errorf("the error does not say why: %q", se.Message)
	}
	replay.Store(false)

	// Reconciled: the plugin finds the order by query and reports it (a
	// query answer carries no order_id, so neither does the event).
	ev := firstEvent(t, c, func(ev *v1.Event) bool {
		return ev.GetType() == v1.EventType_EVENT_TYPE_ORDER_SUBMITTED && ev.GetOutOrderNo() == "RP-1"
	})
	if so, ok := sb.Order("RP-1"); ev == nil || !ok || so.State != sandbox.StateCreated {
		t.Fatalf("RP-1 not reconciled: event %v, at WeChat Pay %v %+v", ev, ok, so)
	}
	waitNothingPending(t, c, 20*time.Second)
	if so, _ := sb.Order("RP-1"); so.CreateRequests != 1 {
		t.Errorf("RP-1 reached WeChat Pay %d times", so.CreateRequests)
	}
}

// waitNothingPending waits until no order has work left in the plugin's
// outbox, waking the forwarder while some has, and returns the status.
func waitNothingPending(t *testing.T, c *host.Client, within time.Duration) *v1.GetStatusResponse {
	t.Helper()
	return testkit.WaitStatus(t, c, within, "nothing pending", func(st *v1.GetStatusResponse) bool {
		if st.GetPendingCount() == 0 {
			return true
		}
		c.Drain(testkit.Context(t), &v1.DrainRequest{})
		return false
	})
}

// firstEvent is the first event in the plugin's log that match accepts,
// nil if none comes within 10 s.
func firstEvent(t *testing.T, c *host.Client, match func(*v1.Event) bool) *v1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var found *v1.Event
	c.WatchEvents(ctx, &v1.WatchEventsRequest{}, func(ev *v1.Event) error {
		if found == nil && match(ev) {
			found = ev
			cancel()
		}
		return nil
	})
	return found
}
