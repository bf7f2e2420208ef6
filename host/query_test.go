package host_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

func TestMain(m *testing.M) {
	// The test binary is the plugin too, so these tests need nothing built.
	if plugin.IsPluginLaunch() {
		plugin.Serve()
		return
	}
	os.Exit(m.Run())
}

// startPlugin runs this test binary as the plugin against a sandbox.
func startPlugin(t *testing.T, opts sandbox.Options) (*host.Client, *testkit.Sandbox) {
	t.Helper()
	srv := testkit.Start(t, opts)
	cfg, _ := srv.ConfigFile(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, err := host.Start(testkit.Context(t), host.Options{PluginPath: self, ConfigPath: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

// A Go host reads the whole QueryOrderResponse: for an order the outbox
// still holds, queued.local_state, and for one WeChat Pay refused, the
// failure's code and message.
func TestQueryOrderShowsTheOutboxsPart(t *testing.T) {
	// WeChat Pay (the sandbox) refuses a risk_amount above the service's,
	// which the kiosk cannot know: the queued create fails when it is sent.
	c, srv := startPlugin(t, sandbox.Options{MaxRiskAmount: 10000})
	ctx := testkit.Context(t)
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	st, err := c.GetStatus(ctx, &v1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	no := "QUEUED-1"
	confirm := false
	created, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{
		OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE,
		Order: &v1.NewOrder{OutOrderNo: no, ServiceStartTime: "OnAccept", ServiceStartLocation: "柜机 K-17",
			ServiceIntroduction: "智慧零售柜", RiskAmount: 20000, NeedUserConfirm: &confirm, Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
	})
	if err != nil || created.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("create: %v, %v", created, err)
	}

	q, err := c.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	if err != nil {
		t.Fatal(err)
	}
	// The forwarder may already be trying it: queued or being sent, never
	// at WeChat Pay while it is offline.
	if s := q.GetQueued().GetLocalState(); s != v1.LocalState_LOCAL_STATE_QUEUED && s != v1.LocalState_LOCAL_STATE_SUBMITTING {
		t.Errorf("queued part while offline: %v, want local_state QUEUED or SUBMITTING", q.GetQueued())
	}
	if q.GetOrder().GetOutOrderNo() != no || q.GetOrder().GetState() != "" {
		t.Errorf("order part while offline: %v, want the queued request with no state", q.GetOrder())
	}

	// Back online: wait for the order's ORDER_FAILED event, then ask again.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	failed := make(chan *v1.Event, 1)
	watched := make(chan error, 1)
	go func() {
		watched <- c.WatchEvents(wctx, &v1.WatchEventsRequest{AfterSequence: st.GetLastEventSequence()}, func(ev *v1.Event) error {
			if ev.GetType() == v1.EventType_EVENT_TYPE_ORDER_FAILED && ev.GetOutOrderNo() == no {
				failed <- ev
				return errors.New("seen")
			}
			return nil
		})
	}()
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Drain(ctx, &v1.DrainRequest{}); err != nil {
		t.Fatal(err)
	}
	var ev *v1.Event
	select {
	case ev = <-failed:
	case err := <-watched:
		t.Fatalf("the watch ended before %s failed: %v", no, err)
	case <-ctx.Done():
		t.Fatalf("%s never failed", no)
	}

	q, err = c.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	if err != nil {
		t.Fatal(err)
	}
	got := q.GetQueued()
	if got.GetLocalState() != v1.LocalState_LOCAL_STATE_FAILED || got.GetFailureCode() != ev.GetCode() ||
		got.GetFailureCode() != "PARAM_ERROR" || got.GetFailureMessage() == "" || got.GetFailedOperation() != "create" {
		t.Errorf("queued part after WeChat Pay refused the create: %v (event %v), want FAILED with PARAM_ERROR, its message and operation create", got, ev)
	}
}
