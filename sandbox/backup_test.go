package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

// startWithBackup is a sandbox serving both domains, and the backup as a
// *Server view (same Sandbox, the backup's URL) for the URL helpers.
func startWithBackup(t *testing.T, opts Options) (srv, bk *Server) {
	t.Helper()
	srv = startServer(t, opts)
	if err := srv.ListenBackup("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if srv.BackupURL == "" || srv.BackupURL == srv.URL || !strings.HasPrefix(srv.BackupURL, "http://127.0.0.1:") {
		t.Fatalf("BackupURL %q beside URL %q", srv.BackupURL, srv.URL)
	}
	return srv, &Server{URL: srv.BackupURL, Sandbox: srv.Sandbox, Credentials: srv.Credentials}
}

func isConnError(err error) bool {
	var ae *core.APIError
	return err != nil && !errors.As(err, &ae)
}

// Both domains serve one store: an order made on either is seen, repeated,
// accepted and completed on the other, and their answers are signed alike.
func TestBackupServesTheSameOrders(t *testing.T) {
	srv, bk := startWithBackup(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c) // verifies every answer's signature
	ctx := context.Background()

	main1 := sdkCreate(t, cl, srv, "bk-1")
	// The same create resent to the backup is the same order.
	again := sdkCreate(t, cl, bk, "bk-1")
	if again["order_id"] != main1["order_id"] || again["package"] != main1["package"] {
		t.Fatalf("the backup answered another order: %v, main %v", again, main1)
	}
	if o, _ := srv.Sandbox.Order("bk-1"); o.CreateRequests != 2 {
		t.Fatalf("create_requests %d, want 2 (one per domain)", o.CreateRequests)
	}
	sdkCreate(t, cl, bk, "bk-2")
	res, err := cl.Get(ctx, queryURL(srv, "out_order_no", "bk-2"))
	if err != nil {
		t.Fatalf("the main domain does not know the backup's order: %v", err)
	}
	if q := decode(t, res); q["state"] != StateCreated {
		t.Fatalf("query on main: %v", q)
	}

	// The customer accepts through the backup's admin API; main completes.
	if a := admin(t, bk, "POST", "/sandbox/orders/bk-2/accept", ""); a.Status != 200 {
		t.Fatalf("accept on the backup: %d %s", a.Status, a.Body)
	}
	if _, err := cl.Post(ctx, ordersURL(srv)+"/bk-2/complete", ticketed(srv, "bk-2", completeBody(c))); err != nil {
		t.Fatalf("complete on main: %v", err)
	}
	res, err = cl.Get(ctx, queryURL(bk, "out_order_no", "bk-2"))
	if err != nil {
		t.Fatal(err)
	}
	if q := decode(t, res); q["state"] != StateFinished {
		t.Fatalf("query on the backup after main's complete: %v", q)
	}

	var list []Order
	a := admin(t, bk, "GET", "/sandbox/orders", "")
	if err := json.Unmarshal(a.Body, &list); err != nil || len(list) != 2 {
		t.Fatalf("GET /sandbox/orders on the backup: %d %s", a.Status, a.Body)
	}

	// One clock: setting it through the backup moves the main domain's.
	if a := admin(t, bk, "PUT", "/sandbox/clock", `{"offset":"-6m"}`); a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if a := admin(t, srv, "GET", "/sandbox/clock", ""); a.JSON["offset"] != "-6m0s" {
		t.Fatalf("main's clock after the backup's PUT: %s", a.Body)
	}
}

// Each domain has its own faults: the main one down, the backup answers;
// /sandbox/faults on a listener reads and sets that listener's.
func TestFaultsPerDomain(t *testing.T) {
	srv, bk := startWithBackup(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	ctx := context.Background()
	create := func(s *Server, no string) error {
		_, err := cl.Post(ctx, ordersURL(s), createBody(c, no))
		return err
	}

	if err := srv.Sandbox.SetFaults(Faults{Mode: FaultOffline}); err != nil {
		t.Fatal(err)
	}
	if err := create(srv, "pd-main"); !isConnError(err) {
		t.Fatalf("main with faults offline: %v, want a connection error", err)
	}
	if err := create(bk, "pd-main"); err != nil {
		t.Fatalf("the backup while main is offline: %v", err)
	}
	if o, _ := srv.Sandbox.Order("pd-main"); o.CreateRequests != 1 {
		t.Fatalf("create_requests %d, want 1: the offline main did no work", o.CreateRequests)
	}
	if f := srv.Sandbox.Backup().Faults(); f.Mode != FaultNone {
		t.Fatalf("main's faults leaked to the backup: %+v", f)
	}

	// The backup's own admin API sets the backup's faults, not main's.
	a := admin(t, bk, "PUT", "/sandbox/faults", `{"mode":"error"}`)
	if a.Status != 200 || a.JSON["mode"] != FaultError {
		t.Fatalf("PUT /sandbox/faults on the backup: %d %s", a.Status, a.Body)
	}
	if f := srv.Sandbox.Backup().Faults(); f.Mode != FaultError {
		t.Fatalf("backup faults %+v", f)
	}
	if a := admin(t, srv, "GET", "/sandbox/faults", ""); a.JSON["mode"] != FaultOffline {
		t.Fatalf("main's faults after the backup's PUT: %s", a.Body)
	}
	if a := admin(t, bk, "GET", "/sandbox/faults", ""); a.JSON["mode"] != FaultError {
		t.Fatalf("the backup's GET /sandbox/faults: %s", a.Body)
	}
	apiErr(t, create(bk, "pd-both"), 500, "SYSTEM_ERROR")
	if err := create(srv, "pd-both"); !isConnError(err) {
		t.Fatalf("main still offline: %v", err)
	}

	// Main's admin API sets main's faults only.
	if a := admin(t, srv, "PUT", "/sandbox/faults", `{"mode":"none"}`); a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if err := create(srv, "pd-both"); err != nil {
		t.Fatalf("main back: %v", err)
	}
	if f := srv.Sandbox.Backup().Faults(); f.Mode != FaultError {
		t.Fatalf("main's PUT changed the backup's faults: %+v", f)
	}
	if err := srv.Sandbox.Backup().SetFaults(Faults{Mode: "explode"}); err == nil {
		t.Fatal("Backup().SetFaults accepted an unknown mode")
	}
}

func TestWriteConfigNamesTheBackup(t *testing.T) {
	read := func(srv *Server) map[string]any {
		t.Helper()
		path, err := srv.WriteConfig(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	srv := startServer(t, Options{})
	if m := read(srv); m["api_base_url"] != srv.URL || m["api_backup_base_url"] != nil {
		t.Fatalf("without a backup listener: %v", m)
	}
	if err := srv.ListenBackup("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if m := read(srv); m["api_base_url"] != srv.URL || m["api_backup_base_url"] != srv.BackupURL {
		t.Fatalf("with a backup at %s: %v", srv.BackupURL, m)
	}
}

func TestListenBackupErrorsAndClose(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv := startServer(t, Options{})
	if err := srv.ListenBackup(busy.Addr().String()); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("ListenBackup on a busy address: %v, want an error naming it", err)
	}
	if srv.BackupURL != "" {
		t.Fatalf("a failed ListenBackup set BackupURL %q", srv.BackupURL)
	}
	if err := srv.ListenBackup("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	first := srv.BackupURL
	if err := srv.ListenBackup("127.0.0.1:0"); err == nil || srv.BackupURL != first {
		t.Fatalf("a second ListenBackup: %v, BackupURL %s (was %s)", err, srv.BackupURL, first)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	if res, err := cl.Get(first + "/sandbox/orders"); err == nil {
		res.Body.Close()
		t.Fatal("the backup still answers after Close")
	}
}
