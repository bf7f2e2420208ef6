package plugin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// charged completes an order charging fen (one fee).
func chargeAll(no string, fen int64) *v1.CompleteOrderRequest {
	return &v1.CompleteOrderRequest{OutOrderNo: no, FinishType: 2, TotalAmount: &fen,
		Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: fen}}}
}

// A kiosk whose clock is off from WeChat Pay's by anything from minutes to
// days sells online, and drains its queue, as one whose clock is right;
// the status reports the offset and an event says so.
func TestAKioskWithAWrongClockSellsAndDrains(t *testing.T) {
	for _, off := range []time.Duration{-24 * time.Hour, -time.Hour, -6 * time.Minute, 6 * time.Minute, time.Hour, 24 * time.Hour} {
		t.Run(off.String(), func(t *testing.T) {
			e := newOfflineEnv(t, func(c *v1.Config) { c.OfflineMaxOrders = 200 })
			e.wechatOffset.Store(int64(off))
			if resp, err := e.create(t, noConfirm("CK-ON", 1000), 0); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
				t.Fatalf("online create: %v, %v", resp, err)
			}
			if q, err := e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "CK-ON"}); err != nil || q.GetOrder().GetState() != sandbox.StateUserAccepted {
				t.Fatalf("online query: %v, %v", q, err)
			}
			if resp, err := e.o.CompleteOrder(testkit.Context(t), chargeAll("CK-ON", 300)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
				t.Fatalf("online complete: %v, %v", resp, err)
			}
			// A hundred sales queue while WeChat Pay cannot be reached,
			// then drain.
			e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
			for i := range 100 {
				no := fmt.Sprintf("CK-Q%03d", i)
				if resp, err := e.create(t, noConfirm(no, 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
					t.Fatalf("%s: %v, %v", no, resp, err)
				}
			}
			e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
			e.waitPending(t, 30*time.Second)
			st := e.status(t)
			if st.GetFailedCount() != 0 {
				l, _ := e.o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{Failed: true})
				t.Fatalf("%d orders failed: %v", st.GetFailedCount(), l)
			}
			for i := range 100 {
				if so, ok := e.sb.Order(fmt.Sprintf("CK-Q%03d", i)); !ok || so.CreateRequests != 1 {
					t.Fatalf("CK-Q%03d at WeChat Pay: %+v", i, so)
				}
			}
			if !st.GetClockOffsetKnown() || (st.GetClockOffset().AsDuration()-off).Abs() > time.Second {
				t.Errorf("status clock_offset %v (known %v), want %v within a second", st.GetClockOffset().AsDuration(), st.GetClockOffsetKnown(), off)
			}
			if ev := findEvent(t, e, v1.EventType_EVENT_TYPE_CLOCK_SKEW); ev == nil || (ev.GetClockOffset().AsDuration()-off).Abs() > time.Second || !strings.Contains(ev.GetMessage(), "NTP") {
				t.Errorf("CLOCK_SKEW event: %v", ev)
			}
		})
	}
}

// findEvent is the first event of type typ the plugin logs (nil if none
// within 5 s).
func findEvent(t *testing.T, e *offlineEnv, typ v1.EventType) *v1.Event {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var found *v1.Event
	e.o.WatchEvents(c, &v1.WatchEventsRequest{}, func(ev *v1.Event) error {
		if ev.GetType() == typ {
			found = ev
			cancel()
		}
		return nil
	})
	return found
}

// Sales queued while the kiosk's clock read 25 hours behind, or 1970, then
// set right by NTP, waited seconds: none expires, all are delivered.
func TestAClockSetRightExpiresNothing(t *testing.T) {
	for _, jump := range []time.Duration{-25 * time.Hour, -time.Since(time.Unix(0, 0))} {
		t.Run(fmt.Sprintf("%.0fh behind", -jump.Hours()), func(t *testing.T) {
			e := newOfflineEnv(t, nil)
			e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
			e.clock.Jump(jump)
			for i := range 5 {
				no := fmt.Sprintf("NTP-%d", i)
				if resp, err := e.create(t, noConfirm(no, 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
					t.Fatalf("%s: %v, %v", no, resp, err)
				}
			}
			e.waitOffline(t)
			e.clock.Jump(-jump) // NTP answers
			e.clock.Advance(2 * time.Minute)
			e.o.Drain(testkit.Context(t), &v1.DrainRequest{})
			e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
			e.waitPending(t, 20*time.Second)
			if st := e.status(t); st.GetFailedCount() != 0 {
				l, _ := e.o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{Failed: true})
				t.Fatalf("failed after the clock was set right: %v", l)
			}
		})
	}
}

// An order that really waited past offline_max_age still expires, and the
// message says how long it waited, measured on a clock that did not jump.
func TestAnOrderThatReallyWaitedExpiresWithAnHonestAge(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := e.create(t, noConfirm("OLD-1", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	e.waitOffline(t)
	e.clock.Jump(-48 * time.Hour) // and the kiosk's clock set wrong meanwhile
	e.clock.Advance(25 * time.Hour)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	e.waitPending(t, 10*time.Second)
	l, err := e.o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{Failed: true})
	if err != nil || len(l.GetOrders()) != 1 {
		t.Fatalf("failed list: %v, %v", l, err)
	}
	if f := l.GetOrders()[0]; f.GetFailureCode() != "EXPIRED_OFFLINE" || !strings.Contains(f.GetFailureMessage(), "waited 25h0m") {
		t.Errorf("expired: %s %q", f.GetFailureCode(), f.GetFailureMessage())
	}
	if _, ok := e.sb.Order("OLD-1"); ok {
		t.Error("an expired order reached WeChat Pay")
	}
}

// A board without an RTC battery reboots in 1970 and sells offline; at the
// next start its clock is right. Those sales waited minutes, not 56 years:
// the outbox had seen a later time, so their dates were in doubt, and they
// are all delivered.
func TestSalesMadeAfterABootIn1970AreDelivered(t *testing.T) {
	e := newOfflineEnv(t, nil) // Configure notes the time the outbox has seen
	restart := func(jump time.Duration) *plugin.Service {
		t.Helper()
		if err := e.svc.Close(); err != nil {
			t.Fatal(err)
		}
		e.clock.Jump(jump)
		svc := plugin.NewService(nil, plugin.WithClock(&e.clock))
		if _, err := svc.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		e.svc = svc
		return svc
	}
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	boot := -time.Since(time.Unix(0, 0))
	svc := restart(boot)
	for i := range 3 {
		if _, err := svc.CreateOrder(testkit.Context(t), &v1.CreateOrderRequest{Order: noConfirm(fmt.Sprintf("BOOT-%d", i), 1000),
			OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(10 * time.Minute)
	svc = restart(-boot) // the next boot: NTP has set the clock
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	testkit.Eventually(t, 20*time.Second, "every sale delivered", func() bool {
		svc.Drain(testkit.Context(t), &v1.DrainRequest{})
		for i := range 3 {
			if _, ok := e.sb.Order(fmt.Sprintf("BOOT-%d", i)); !ok {
				return false
			}
		}
		return true
	})
	if st, _ := svc.GetStatus(testkit.Context(t), &v1.GetStatusRequest{}); st.GetFailedCount() != 0 {
		t.Errorf("%d failed", st.GetFailedCount())
	}
}

// A sale queued by an earlier run, a day and more before the kiosk came
// back, is not sent on the strength of a clock nobody has checked: the
// plugin asks WeChat Pay the time first, and the order expires.
func TestAnOldSaleFromAnEarlierRunExpiresRatherThanGoes(t *testing.T) {
	e := newOfflineEnv(t, nil)
	// Nothing listens where this run sends: the create stays pending,
	// surely never sent.
	nowhere := proto.Clone(e.cfg).(*v1.Config)
	nowhere.ApiBaseUrl = "http://127.0.0.1:1"
	if _, err := e.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: nowhere}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.create(t, noConfirm("LONG-1", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	e.waitOffline(t) // tried, refused at the door, and backing off
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(25 * time.Hour) // the kiosk stays off for a day
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	svc := plugin.NewService(nil, plugin.WithClock(&e.clock))
	t.Cleanup(func() { svc.Close() })
	if _, err := svc.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitStatus(t, svc, 10*time.Second, "LONG-1 expired", func(st *v1.GetStatusResponse) bool { return st.GetFailedCount() == 1 })
	if _, ok := e.sb.Order("LONG-1"); ok {
		t.Error("a sale 25 hours old was sent")
	}
	l, _ := svc.ListQueue(testkit.Context(t), &v1.ListQueueRequest{Failed: true})
	if m := l.GetOrders()[0].GetFailureMessage(); !strings.Contains(m, "on WeChat Pay's time") && !strings.Contains(m, "against WeChat Pay's time now") {
		t.Errorf("expired with %q", m)
	}
}

// The status's oldest_queued_age is as honest as the expiry: a kiosk clock
// set back does not make it negative, nor one set forward make it days.
func TestOldestQueuedAgeIgnoresAJump(t *testing.T) {
	e := newOfflineEnv(t, nil)
	if _, err := e.create(t, noConfirm("AGE-1", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	for _, jump := range []time.Duration{-48 * time.Hour, 96 * time.Hour} {
		e.clock.Jump(jump)
		if age := e.status(t).GetOldestQueuedAge().AsDuration(); age < time.Minute || age > 2*time.Minute {
			t.Errorf("after the kiosk's clock jumped %v: oldest_queued_age %v, want about 1m", jump, age)
		}
	}
}

// A kiosk a day behind WeChat Pay queues sales in one run, before it has
// heard WeChat Pay's time; the next run, online, delivers every one: a day
// of skew is not a day of waiting (found from outside: with the sandbox's
// clock a day ahead, sales queued by one CLI command expired when the next
// drained them).
func TestSalesQueuedBeforeTheSkewWasKnownAreDelivered(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.wechatOffset.Store(int64(24 * time.Hour))
	nowhere := proto.Clone(e.cfg).(*v1.Config)
	nowhere.ApiBaseUrl = "http://127.0.0.1:1" // this run never hears WeChat Pay
	if _, err := e.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: nowhere}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := e.create(t, noConfirm(fmt.Sprintf("SKQ-%d", i), 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
			t.Fatal(err)
		}
	}
	e.waitOffline(t)
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	svc := plugin.NewService(nil, plugin.WithClock(&e.clock))
	t.Cleanup(func() { svc.Close() })
	if _, err := svc.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitStatus(t, svc, 20*time.Second, "the queue drained", func(st *v1.GetStatusResponse) bool {
		svc.Drain(testkit.Context(t), &v1.DrainRequest{})
		return st.GetPendingCount() == 0
	})
	if st, _ := svc.GetStatus(testkit.Context(t), &v1.GetStatusRequest{}); st.GetFailedCount() != 0 {
		l, _ := svc.ListQueue(testkit.Context(t), &v1.ListQueueRequest{Failed: true})
		t.Fatalf("failed: %v", l)
	}
	for i := range 3 {
		if so, ok := e.sb.Order(fmt.Sprintf("SKQ-%d", i)); !ok || so.CreateRequests != 1 {
			t.Errorf("SKQ-%d at WeChat Pay: %+v", i, so)
		}
	}
}
