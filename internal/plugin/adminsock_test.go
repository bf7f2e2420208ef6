package plugin_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// dialAdmin is an operator's tool on a plugin's admin socket: plain gRPC.
func dialAdmin(t *testing.T, path string) shared.Orders {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///admin", append(shared.GRPCDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return shared.NewGRPCClient(conn)
}

// answers says whether a configured plugin answers on the socket at path.
func answers(t *testing.T, path string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := dialAdmin(t, path).GetStatus(ctx, &v1.GetStatusRequest{})
	return err == nil && st.GetConfigured()
}

func gone(t *testing.T, path, after string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after %s the admin socket %s is still there (%v)", after, path, err)
	}
}

// adminViolation is the violation on config.admin_socket err carries.
func adminViolation(t *testing.T, err error) string {
	t.Helper()
	se := testkit.WantError(t, shared.FromStatus(shared.ToStatus(err)), codes.InvalidArgument, shared.ClassInvalid)
	for _, v := range se.Violations {
		if v.Field == "config.admin_socket" {
			return v.Description
		}
	}
	t.Fatalf("no violation on config.admin_socket: %v", err)
	return ""
}

// Issue 13, item 2: a running kiosk's plugin serves its service on the
// admin socket, Configure excepted: an operator sees the status, the
// queue and the failed list, retries, drops, drains and compacts, and
// queries and creates, while the kiosk's host holds the plugin.
func TestAdminSocketServesAllButConfigure(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	e := newOfflineEnv(t, func(c *v1.Config) { c.AdminSocket = sock; c.OfflineMaxAge = "24h" })
	if runtime.GOOS != "windows" { // there the folder's ACL protects it
		if fi, err := os.Lstat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("admin socket %v, %v: want a socket, mode 0600", fi, err)
		}
	}
	admin := dialAdmin(t, sock)
	ctx := testkit.Context(t)

	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	force := v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE
	for _, no := range []string{"AS-1", "AS-2"} {
		resp, err := admin.CreateOrder(ctx, &v1.CreateOrderRequest{Order: noConfirm(no, 100), OfflineBehavior: force})
		if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("create %s on the admin socket: %v, %v", no, resp, err)
		}
	}
	q, err := admin.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "AS-1"})
	if ls := q.GetQueued().GetLocalState(); err != nil || ls != v1.LocalState_LOCAL_STATE_QUEUED && ls != v1.LocalState_LOCAL_STATE_SUBMITTING {
		t.Fatalf("query on the admin socket: %v, %v", q, err)
	}
	if st, err := admin.GetStatus(ctx, &v1.GetStatusRequest{}); err != nil || !st.GetConfigured() || st.GetQueuedCount() != 2 {
		t.Fatalf("status on the admin socket: %v, %v", st, err)
	}
	if l, err := admin.ListQueue(ctx, &v1.ListQueueRequest{}); err != nil || len(l.GetOrders()) != 2 {
		t.Fatalf("list on the admin socket: %v, %v", l, err)
	}

	// A day passes offline: both expire onto the failed list.
	e.waitOffline(t)
	e.clock.Advance(25 * time.Hour)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	drained := func() {
		t.Helper()
		testkit.Eventually(t, 10*time.Second, "the admin socket's drain reports nothing pending", func() bool {
			d, err := admin.Drain(ctx, &v1.DrainRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return d.GetPendingCount() == 0
		})
	}
	drained()
	failed, err := admin.ListQueue(ctx, &v1.ListQueueRequest{Failed: true})
	if err != nil || len(failed.GetOrders()) != 2 || failed.GetOrders()[0].GetFailureCode() != "EXPIRED_OFFLINE" {
		t.Fatalf("failed list on the admin socket: %v, %v", failed, err)
	}
	if _, err := admin.RetryFailed(ctx, &v1.RetryFailedRequest{OutOrderNo: "AS-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DropFailed(ctx, &v1.DropFailedRequest{OutOrderNo: "AS-2"}); err != nil {
		t.Fatal(err)
	}
	drained()
	if so, ok := e.sb.Order("AS-1"); !ok || so.CreateRequests != 1 {
		t.Errorf("retried order at the sandbox: %+v, %v", so, ok)
	}
	if _, ok := e.sb.Order("AS-2"); ok {
		t.Error("the dropped order was sent")
	}
	if st := e.status(t); st.GetFailedCount() != 0 || st.GetQueuedCount() != 0 {
		t.Errorf("the host's status after the operator's retry and drop: %v", st)
	}
	if c, err := admin.CompactOutbox(ctx, &v1.CompactOutboxRequest{}); err != nil || c.GetSizeBefore() == 0 || c.GetSizeAfter() == 0 {
		t.Fatalf("compact on the admin socket: %v, %v", c, err)
	}

	// Configure is the host's: refused, and the configuration stays.
	other := proto.Clone(e.cfg).(*v1.Config)
	other.AdminSocket = ""
	_, err = admin.Configure(ctx, &v1.ConfigureRequest{Config: other})
	if se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid); se.Reason != shared.ReasonConfiguredByHost ||
		!strings.Contains(se.Message, "the kiosk's host configures its plugin") {
		t.Errorf("Configure on the admin socket: %+v", se)
	}
	if !answers(t, sock) {
		t.Error("the refused Configure changed the plugin")
	}
	// Nothing personal or secret in the log.
	if log := e.log.String(); strings.Contains(log, noConfirm("", 0).GetOpenid()) || strings.Contains(log, e.cfg.GetApiv3Key()) {
		t.Error("the plugin's log holds the openid or the APIv3 key")
	}
}

// Issue 13, item 2: the socket's life. A file a killed plugin left is
// replaced; a live plugin's is refused, naming config.admin_socket, and
// keeps answering; something other than a socket is left alone; moving or
// turning the socket off, and Close, remove it; a plugin that only
// inspects serves none.
func TestAdminSocketLifecycle(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	// A socket file nothing answers on, as a killed plugin leaves it.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("no stale socket file to test with: %v", err)
	}

	cfg := testkit.Start(t, sandbox.Options{}).Config(t)
	cfg.AdminSocket = sock
	s := plugin.NewService(nil)
	t.Cleanup(func() { s.Close() })
	if _, err := s.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatalf("a stale socket file was not replaced: %v", err)
	}
	if !answers(t, sock) {
		t.Fatal("the plugin does not answer on its admin socket")
	}

	// Another plugin (its own outbox) on the same socket is refused.
	second := testkit.Start(t, sandbox.Options{}).Config(t)
	second.AdminSocket = sock
	s2 := plugin.NewService(nil)
	t.Cleanup(func() { s2.Close() })
	_, err = s2.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: second})
	if d := adminViolation(t, err); !strings.Contains(d, sock) || !strings.Contains(d, "answers on it already") {
		t.Errorf("refusal: %s", d)
	}
	if st := testkit.Status(t, s2); st.GetConfigured() {
		t.Error("the refused plugin took the configuration")
	}
	if !answers(t, sock) {
		t.Fatal("the live plugin's socket was taken from it")
	}

	// Not a socket: left alone.
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	second.AdminSocket = file
	_, err = s2.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: second})
	if d := adminViolation(t, err); !strings.Contains(d, "not a socket") {
		t.Errorf("refusal: %s", d)
	}
	if data, err := os.ReadFile(file); err != nil || string(data) != "keep me" {
		t.Errorf("the file at admin_socket was touched: %q, %v", data, err)
	}

	// Moved: the old socket goes, the new one answers.
	moved := filepath.Join(dir, "run", "admin2.sock")
	cfg.AdminSocket = moved
	if _, err := s.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	gone(t, sock, "moving admin_socket")
	if !answers(t, moved) {
		t.Fatal("no answer on the moved admin socket")
	}
	// Turned off.
	cfg.AdminSocket = ""
	if _, err := s.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	gone(t, moved, "turning admin_socket off")
	// Inspecting serves none.
	cfg.AdminSocket = sock
	if _, err := s.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg, Inspect: true}); err != nil {
		t.Fatal(err)
	}
	gone(t, sock, "configuring to inspect")
	// Close removes it.
	if _, err := s.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	if !answers(t, sock) {
		t.Fatal("no answer on the admin socket")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	gone(t, sock, "Close")
}

// Issue 13, item 2: a plugin refused the outbox because another holds it
// is told so (OUTBOX, OUTBOX_LOCKED, the holder's pid on
// config.outbox_path), and how to reach the one that holds it: set
// admin_socket, or, when it is set and nothing answers there, restart the
// kiosk's software with it. Not INVALID "configuration refused".
func TestALockedOutboxPointsToTheAdminSocket(t *testing.T) {
	_, cfg := configuredService(t) // the kiosk's plugin, without admin_socket
	for _, sock := range []string{"", filepath.Join(t.TempDir(), "admin.sock")} {
		mine := proto.Clone(cfg).(*v1.Config)
		mine.AdminSocket = sock
		s := plugin.NewService(nil)
		_, err := s.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: mine})
		s.Close()
		se := testkit.WantError(t, shared.FromStatus(shared.ToStatus(err)), codes.FailedPrecondition, shared.ClassOutbox)
		if se.Reason != shared.ReasonOutboxLocked || strings.Contains(se.Message, "configuration refused") {
			t.Errorf("admin_socket %q: %+v", sock, se)
		}
		want := "set admin_socket in its config file"
		if sock != "" {
			want = "on admin_socket " + sock + "; if nothing answers there"
		}
		if !strings.Contains(se.Message, want) {
			t.Errorf("admin_socket %q: message %q does not say %q", sock, se.Message, want)
		}
		if len(se.Violations) != 1 || se.Violations[0].Field != "config.outbox_path" ||
			!strings.Contains(se.Violations[0].Description, "locked by another process") {
			t.Errorf("admin_socket %q: violations %+v", sock, se.Violations)
		}
		if sock != "" {
			gone(t, sock, "a refused Configure")
		}
	}
}
