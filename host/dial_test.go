package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Issue 13, item 2: an operator's tool reaches the plugin a kiosk's host
// runs through its admin socket: the same Client methods, answered by the
// kiosk's plugin; Close lets go of the connection and leaves the plugin
// running.
func TestDialReachesTheKiosksPlugin(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	path, dir := srv.ConfigFile(t)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AdminSocket = filepath.Join(dir, "admin.sock")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t)
	kiosk, err := host.Start(ctx, host.Options{PluginPath: self, Config: cfg.Proto()})
	if err != nil {
		t.Fatal(err)
	}
	defer kiosk.Close()

	op, err := host.Dial(ctx, cfg.AdminSocket)
	if err != nil {
		t.Fatal(err)
	}
	if op.PID() != 0 {
		t.Errorf("a dialled Client names pid %d: it runs no process", op.PID())
	}
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	confirm := false
	created, err := op.CreateOrder(ctx, &v1.CreateOrderRequest{OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE,
		Order: &v1.NewOrder{OutOrderNo: "DIAL-1", ServiceStartTime: "OnAccept", ServiceStartLocation: "K-17", ServiceIntroduction: "无人零售柜",
			RiskAmount: 100, NeedUserConfirm: &confirm, Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}})
	if err != nil || created.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("create through the admin socket: %v, %v", created, err)
	}
	// The kiosk's host sees what the operator did: one plugin.
	if st, err := kiosk.GetStatus(ctx, &v1.GetStatusRequest{}); err != nil || st.GetQueuedCount() != 1 {
		t.Fatalf("the kiosk's status: %v, %v", st, err)
	}
	if l, err := op.ListQueue(ctx, &v1.ListQueueRequest{}); err != nil || len(l.GetOrders()) != 1 || l.GetOrders()[0].GetOutOrderNo() != "DIAL-1" {
		t.Fatalf("list through the admin socket: %v, %v", l, err)
	}
	if q, err := op.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "DIAL-1"}); err != nil || q.GetQueued() == nil {
		t.Fatalf("query through the admin socket: %v, %v", q, err)
	}
	// Streams work there too.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var seen v1.EventType
	errStop := errors.New("seen")
	if err := op.WatchEvents(wctx, &v1.WatchEventsRequest{}, func(ev *v1.Event) error {
		if ev.GetOutOrderNo() == "DIAL-1" {
			seen = ev.GetType()
			return errStop
		}
		return nil
	}); !errors.Is(err, errStop) || seen != v1.EventType_EVENT_TYPE_ORDER_QUEUED {
		t.Fatalf("watch through the admin socket: %v, saw %v", err, seen)
	}
	// Errors come whole, classes and reasons decoded.
	_, err = op.RetryFailed(ctx, &v1.RetryFailedRequest{OutOrderNo: "NO-SUCH"})
	testkit.WantError(t, err, codes.NotFound, shared.ClassNotFound)

	if err := op.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := op.GetStatus(ctx, &v1.GetStatusRequest{}); !errors.Is(err, host.ErrClosed) {
		t.Errorf("a call on a closed dialled Client: %v, want ErrClosed", err)
	}
	if _, err := kiosk.GetStatus(ctx, &v1.GetStatusRequest{}); err != nil {
		t.Fatalf("closing the operator's Client stopped the kiosk's plugin: %v", err)
	}
	again, err := host.Dial(ctx, cfg.AdminSocket)
	if err != nil {
		t.Fatalf("the admin socket is gone after an operator's Close: %v", err)
	}
	again.Close()

	// The kiosk's host stops its plugin: nothing answers there any more.
	kiosk.Close()
	_, err = host.Dial(ctx, cfg.AdminSocket)
	if err == nil || !strings.Contains(err.Error(), cfg.AdminSocket) {
		t.Errorf("Dial after the plugin stopped: %v, want an error naming the socket", err)
	}
}

// Nothing listening is an error at once, naming the socket.
func TestDialWithNothingThere(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	start := time.Now()
	_, err := host.Dial(testkit.Context(t), sock)
	if err == nil || !strings.Contains(err.Error(), "no plugin answers on admin socket "+sock) {
		t.Errorf("Dial with nothing there: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Dial took %v to find nothing there", took)
	}
	if _, err := host.Dial(testkit.Context(t), ""); err == nil {
		t.Error("Dial with no path succeeded")
	}
}
