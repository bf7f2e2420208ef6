package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// withKey writes key: value into the config file at path.
func withKey(t *testing.T, path, key string, value any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = value
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// kiosk is a kiosk's host running its plugin (this test binary) on the
// config file at path, as kiosk software does, holding its outbox.
func kiosk(t *testing.T, path string) *host.Client {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, err := host.Start(testkit.Context(t), host.Options{PluginPath: self, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// cliErrorOf reads the JSON error a failed command printed.
func cliErrorOf(t *testing.T, stderr string) (class, reason, message string) {
	t.Helper()
	var e struct {
		Error struct{ Class, Reason, Message string } `json:"error"`
	}
	i := strings.Index(stderr, `{`)
	if i < 0 || json.Unmarshal([]byte(stderr[i:]), &e) != nil {
		t.Fatalf("stderr holds no JSON error: %s", stderr)
	}
	return e.Error.Class, e.Error.Reason, e.Error.Message
}

// printed reads what a command printed as the answer's message.
var printed = protojson.UnmarshalOptions{DiscardUnknown: true}

func queueOf(t *testing.T, out string) []*v1.QueuedOrder {
	t.Helper()
	var l v1.ListQueueResponse
	if err := printed.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("not a queue listing: %v\n%s", err, out)
	}
	return l.GetOrders()
}

func statusOf(t *testing.T, out string) *v1.GetStatusResponse {
	t.Helper()
	var st v1.GetStatusResponse
	if err := printed.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("not a status: %v\n%s", err, out)
	}
	return &st
}

// Issue 13, item 2 (its Done-when): with a kiosk's plugin running, held by
// its host, smartretail status and the queue commands work through the
// config's admin_socket. A plugin the CLI started would be refused the
// outbox, which the kiosk's plugin holds: that they answer at all is
// that they went through the socket, which -v says.
func TestStatusAndQueueThroughTheAdminSocket(t *testing.T) {
	// WeChat Pay takes no risk_amount above 10,000 fen: ASQ-BIG fails
	// when it is sent, onto the failed list.
	srv := testkit.Start(t, sandbox.Options{MaxRiskAmount: 10000})
	cfg, _ := srv.ConfigFile(t)
	withKey(t, cfg, "admin_socket", "admin.sock") // beside the config file
	k := kiosk(t, cfg)
	ctx := testkit.Context(t)
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	confirm := false
	for no, risk := range map[string]int64{"ASQ-OK": 100, "ASQ-BIG": 20000} {
		if _, err := k.CreateOrder(ctx, &v1.CreateOrderRequest{OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE,
			Order: &v1.NewOrder{OutOrderNo: no, ServiceStartTime: "OnAccept", ServiceStartLocation: "K-17", ServiceIntroduction: "无人零售柜",
				RiskAmount: risk, NeedUserConfirm: &confirm, Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errOut := runCLI(t, "", "status", "-v", "--config", cfg)
	if code != 0 || statusOf(t, out).GetQueuedCount() != 2 {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "through the kiosk's plugin on admin_socket") {
		t.Errorf("status -v does not say it went through the admin socket: %s", errOut)
	}
	if code, out, errOut = runCLI(t, "", "queue", "status", "--config", cfg); code != 0 || statusOf(t, out).GetQueuedCount() != 2 {
		t.Fatalf("queue status: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "", "queue", "list", "--config", cfg)
	if code != 0 || len(queueOf(t, out)) != 2 {
		t.Fatalf("queue list: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut = runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ASQ-OK"); code != 0 || !strings.Contains(out, `"ASQ-OK"`) {
		t.Fatalf("query: exit %d\n%s\n%s", code, out, errOut)
	}

	// Back online, the operator drains the kiosk's queue: ASQ-OK goes,
	// ASQ-BIG is refused onto the failed list.
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone}); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = runCLI(t, "", "queue", "drain", "--timeout", "30s", "--config", cfg); code != 0 || statusOf(t, out).GetFailedCount() != 1 {
		t.Fatalf("queue drain: exit %d\n%s\n%s", code, out, errOut)
	}
	if so, ok := srv.Sandbox.Order("ASQ-OK"); !ok || so.CreateRequests != 1 {
		t.Errorf("ASQ-OK at the sandbox after the drain: %+v, %v", so, ok)
	}
	code, out, errOut = runCLI(t, "", "queue", "failed", "--config", cfg)
	if failed := queueOf(t, out); code != 0 || len(failed) != 1 || failed[0].GetOutOrderNo() != "ASQ-BIG" || failed[0].GetFailureCode() == "" {
		t.Fatalf("queue failed: exit %d\n%s\n%s", code, out, errOut)
	}

	// Retried, it is sent again (and refused again): the kiosk's event log
	// shows a second ORDER_FAILED.
	calls := srv.Calls.Load()
	if code, out, errOut = runCLI(t, "", "queue", "retry", "--config", cfg, "ASQ-BIG"); code != 0 {
		t.Fatalf("queue retry: exit %d\n%s\n%s", code, out, errOut)
	}
	testkit.Eventually(t, 20*time.Second, "the retried order is sent and fails again", func() bool {
		st, err := k.GetStatus(ctx, &v1.GetStatusRequest{})
		return err == nil && st.GetFailedCount() == 1 && st.GetPendingCount() == 0 && srv.Calls.Load() > calls
	})
	if n := failedEvents(t, k, "ASQ-BIG"); n != 2 {
		t.Errorf("ASQ-BIG failed %d times, want 2: the retry did not put it back", n)
	}
	if code, out, errOut = runCLI(t, "", "queue", "drop", "--config", cfg, "--yes", "ASQ-BIG"); code != 0 {
		t.Fatalf("queue drop: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut = runCLI(t, "", "queue", "failed", "--config", cfg); code != 0 || len(queueOf(t, out)) != 0 {
		t.Fatalf("queue failed after the drop: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut = runCLI(t, "", "queue", "compact", "--config", cfg); code != 0 || !strings.Contains(out, "size_after") {
		t.Fatalf("queue compact: exit %d\n%s\n%s", code, out, errOut)
	}
	// The kiosk's plugin is the one that did all this, and still works.
	if st, err := k.GetStatus(ctx, &v1.GetStatusRequest{}); err != nil || st.GetFailedCount() != 0 || st.GetQueuedCount() != 0 {
		t.Errorf("the kiosk's status after the operator's work: %v, %v", st, err)
	}
}

// failedEvents counts the ORDER_FAILED events for no in the kiosk's log.
func failedEvents(t *testing.T, k *host.Client, no string) int {
	t.Helper()
	st, err := k.GetStatus(testkit.Context(t), &v1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	last := st.GetLastEventSequence()
	n := 0
	err = k.WatchEvents(testkit.Context(t), &v1.WatchEventsRequest{}, func(ev *v1.Event) error {
		if ev.GetType() == v1.EventType_EVENT_TYPE_ORDER_FAILED && ev.GetOutOrderNo() == no {
			n++
		}
		if ev.GetSequence() >= last {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	return n
}

var errEnough = errors.New("read to the last event")

// Issue 13, item 2: a kiosk's plugin running without admin_socket holds
// the outbox; the CLI's plugin is refused it, and the error says so (class
// OUTBOX, reason OUTBOX_LOCKED) and how to reach the kiosk's plugin, not
// INVALID "configuration refused". With admin_socket in the file but not
// served (the kiosk's plugin started before it was set), it says that.
func TestCLIToldTheKiosksPluginHoldsTheOutbox(t *testing.T) {
	cfg, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	kiosk(t, cfg)
	code, out, errOut := runCLI(t, "", "queue", "status", "--config", cfg)
	if code != 1 || out != "" {
		t.Fatalf("queue status beside a running kiosk plugin: exit %d\n%s\n%s", code, out, errOut)
	}
	class, reason, msg := cliErrorOf(t, errOut)
	if class != string(shared.ClassOutbox) || reason != shared.ReasonOutboxLocked ||
		!strings.Contains(msg, "the kiosk's own plugin") || !strings.Contains(msg, "set admin_socket in its config file") {
		t.Errorf("class %s, reason %s, message %q", class, reason, msg)
	}

	withKey(t, cfg, "admin_socket", "admin.sock")
	code, _, errOut = runCLI(t, "", "queue", "compact", "--config", cfg)
	class, reason, msg = cliErrorOf(t, errOut)
	if code != 1 || class != string(shared.ClassOutbox) || reason != shared.ReasonOutboxLocked ||
		!strings.Contains(msg, "if nothing answers there") || !strings.Contains(msg, "no plugin answers on admin socket") {
		t.Errorf("with admin_socket not served: exit %d, class %s, reason %s, message %q", code, class, reason, msg)
	}
}
