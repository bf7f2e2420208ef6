package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The admin API's service-order routes, and the smart-retail routes
// finding a service order when no smart-retail order has the number.
func TestServiceOrderAdmin(t *testing.T) {
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	soCreate(t, cl, srv, soCreateBody(c, "ad-1"))
	soCreate(t, cl, srv, soCreateBody(c, "ad-1"))
	soCreate(t, cl, srv, soCreateBody(c, "ad-2"))

	a := admin(t, srv, "GET", "/sandbox/serviceorders", "")
	var list []ServiceOrder
	if err := json.Unmarshal(a.Body, &list); err != nil || a.Status != 200 || len(list) != 2 {
		t.Fatalf("list: %d %s", a.Status, a.Body)
	}
	if list[0].OutOrderNo != "ad-1" || list[0].CreateRequests != 2 || list[1].CreateRequests != 1 || !strings.Contains(string(a.Body), `"create_requests":2`) {
		t.Fatalf("list: %s", a.Body)
	}
	a = admin(t, srv, "GET", "/sandbox/serviceorders/ad-1", "")
	if a.Status != 200 || a.JSON["state"] != ServiceOrderCreated || a.JSON["query_id"] == "" {
		t.Fatalf("one: %d %s", a.Status, a.Body)
	}
	if a := admin(t, srv, "GET", "/sandbox/serviceorders/nope", ""); a.Status != 404 || a.JSON["code"] != "ORDER_NOT_EXIST" {
		t.Fatalf("unknown: %d %s", a.Status, a.Body)
	}

	if a := admin(t, srv, "POST", "/sandbox/serviceorders/ad-1/accept", ""); a.Status != 200 || a.JSON["state_description"] != DescUserConfirm {
		t.Fatalf("accept: %d %s", a.Status, a.Body)
	}
	if a := admin(t, srv, "POST", "/sandbox/serviceorders/ad-1/accept", ""); a.Status != 409 || a.JSON["code"] != "INVALID_STATE" {
		t.Fatalf("accept twice: %d %s", a.Status, a.Body)
	}
	soOK(t, cl, srv, "ad-1", "complete", soCompleteBody(c))
	if a := admin(t, srv, "PUT", "/sandbox/serviceorders/ad-1/deductions", `{"fail":true}`); a.Status != 200 || a.JSON["deductions_fail"] != true {
		t.Fatalf("deductions: %d %s", a.Status, a.Body)
	}
	if a := admin(t, srv, "POST", "/sandbox/serviceorders/ad-1/pay", ""); a.Status != 409 || !strings.Contains(a.JSON["message"].(string), "deductions") {
		t.Fatalf("pay with failing deductions: %d %s", a.Status, a.Body)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"fail":"yes"}`, `{"fail":true,"when":1}`, `{"fail":true} {}`, `{"fail":`} {
		if a := admin(t, srv, "PUT", "/sandbox/serviceorders/ad-1/deductions", bad); a.Status != 400 || a.JSON["code"] != "PARAM_ERROR" {
			t.Errorf("deductions body %q: %d %s", bad, a.Status, a.Body)
		}
	}
	if a := admin(t, srv, "PUT", "/sandbox/serviceorders/nope/deductions", `{"fail":true}`); a.Status != 404 {
		t.Fatalf("deductions of an unknown order: %d %s", a.Status, a.Body)
	}
	admin(t, srv, "PUT", "/sandbox/serviceorders/ad-1/deductions", `{"fail":false}`)
	if a := admin(t, srv, "POST", "/sandbox/serviceorders/ad-1/pay", ""); a.Status != 200 || a.JSON["state"] != ServiceOrderDone {
		t.Fatalf("pay: %d %s", a.Status, a.Body)
	}
	if a := admin(t, srv, "POST", "/sandbox/serviceorders/ad-2/expire", ""); a.Status != 200 || a.JSON["state"] != ServiceOrderExpired {
		t.Fatalf("expire: %d %s", a.Status, a.Body)
	}
	for _, tc := range []struct{ method, path string }{
		{"POST", "/sandbox/serviceorders"}, {"DELETE", "/sandbox/serviceorders/ad-1"},
		{"GET", "/sandbox/serviceorders/ad-1/accept"}, {"POST", "/sandbox/serviceorders/ad-1/deductions"},
		{"POST", "/sandbox/notifications"},
	} {
		if a := admin(t, srv, tc.method, tc.path, ""); a.Status != 405 || a.Header.Get("Allow") == "" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, a.Status, a.Body)
		}
	}
	if a := admin(t, srv, "POST", "/sandbox/serviceorders/ad-1/refund", ""); a.Status != 404 || a.JSON["code"] != "NOT_FOUND" {
		t.Fatalf("unknown action: %d %s", a.Status, a.Body)
	}

	// The smart-retail routes find a service order.
	soCreate(t, cl, srv, soCreateBody(c, "ad-3"))
	if a := admin(t, srv, "GET", "/sandbox/orders/ad-3", ""); a.Status != 200 || a.JSON["risk_fund"] == nil {
		t.Fatalf("GET /sandbox/orders/ad-3: %d %s", a.Status, a.Body)
	}
	if a := admin(t, srv, "POST", "/sandbox/orders/ad-3/accept", ""); a.Status != 200 || a.JSON["state"] != ServiceOrderDoing {
		t.Fatalf("POST /sandbox/orders/ad-3/accept: %d %s", a.Status, a.Body)
	}
	if a := admin(t, srv, "POST", "/sandbox/orders/nope/accept", ""); a.Status != 404 {
		t.Fatalf("unknown: %d %s", a.Status, a.Body)
	}
	// GET /sandbox/orders stays the smart-retail list.
	if a := admin(t, srv, "GET", "/sandbox/orders", ""); a.Status != 200 || string(bytes.TrimSpace(a.Body)) != "[]" {
		t.Fatalf("GET /sandbox/orders: %s", a.Body)
	}

	// The notifications list (here: not posted, off the machine).
	a = admin(t, srv, "GET", "/sandbox/notifications", "")
	var ns []Notification
	if err := json.Unmarshal(a.Body, &ns); err != nil || a.Status != 200 || len(ns) != 3 {
		t.Fatalf("notifications: %d %s", a.Status, a.Body)
	}
	// The envelope and the order read as JSON, not base64.
	if !strings.Contains(string(a.Body), `"body":{"id":"`) || !strings.Contains(string(a.Body), `"plaintext":{"appid":"`) ||
		ns[0].EventType != EventUserConfirm || ns[0].Done != true || !strings.Contains(ns[0].Err, "loopback") {
		t.Fatalf("notifications: %s", a.Body)
	}
}

// Service orders survive a restart in their own log, beside an order log
// that stays as it was; repeats and query ids still work afterwards.
func TestServiceOrdersPersist(t *testing.T) {
	dir := t.TempDir()
	creds := testCreds(t)
	srv := startServer(t, Options{Dir: dir, Credentials: creds})
	cl := pubKeyClient(t, creds)
	sdkCreate(t, cl, srv, "sr-1") // a smart-retail order beside them
	first := soCreate(t, cl, srv, soCreateBody(creds, "ps-1"))
	soCompleted(t, cl, srv, "ps-2")
	soOK(t, cl, srv, "ps-2", "modify", soModifyBody(creds, 500))
	_ = srv.Sandbox.FailServiceOrderDeductions("ps-2", true)
	before, _ := srv.Sandbox.ServiceOrder("ps-2")
	orders, _ := os.ReadFile(filepath.Join(dir, OrdersFile))
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2 := startServer(t, Options{Dir: dir, Credentials: creds})
	sb := srv2.Sandbox
	if got := sb.ServiceOrders(); len(got) != 2 || len(sb.Orders()) != 1 {
		t.Fatalf("after restart: %d service orders, %d orders", len(got), len(sb.Orders()))
	}
	after, _ := sb.ServiceOrder("ps-2")
	if after.stateName() != "DOING+MCH_COMPLETE" || !after.DeductionsFail || after.Modifications != 1 ||
		after.Collection.PayingAmount != 500 || after.QueryID != before.QueryID || after.OrderID != before.OrderID ||
		after.ConfirmedAt == nil || !after.ConfirmedAt.Equal(*before.ConfirmedAt) {
		t.Fatalf("ps-2 after restart: %+v", after)
	}
	if again := soCreate(t, cl, srv2, soCreateBody(creds, "ps-1")); again["package"] != first["package"] || again["order_id"] != first["order_id"] {
		t.Fatal("a repeat after restart answered another order")
	}
	if _, err := cl.Get(context.Background(), soQueryURL(srv2, "query_id", before.QueryID)); err != nil {
		t.Fatal(err)
	}
	// New order ids stay apart from the replayed ones.
	soCreate(t, cl, srv2, soCreateBody(creds, "ps-3"))
	if o, _ := sb.ServiceOrder("ps-3"); o.OrderID == first["order_id"] || o.OrderID == before.OrderID {
		t.Fatal("an order id was drawn twice")
	}
	// The order log was compacted as before and holds no service order.
	now, _ := os.ReadFile(filepath.Join(dir, OrdersFile))
	if !bytes.Equal(now, orders) || bytes.Contains(now, []byte("ps-")) {
		t.Fatalf("orders.jsonl changed: %s", now)
	}
	data, _ := os.ReadFile(filepath.Join(dir, ServiceOrdersFile))
	if n := bytes.Count(data, []byte("\n")); n != 2+2 { // compacted 2, then the repeat and ps-3
		t.Fatalf("%d lines in %s, want 4: %s", n, ServiceOrdersFile, data)
	}
}

// A folder written before service orders existed (orders.jsonl only)
// opens as it is; a torn last line of the service-order log is dropped,
// any other corrupt line is an error naming the file and line.
func TestServiceOrderLogOldAndDamaged(t *testing.T) {
	dir := t.TempDir()
	creds := testCreds(t)
	sb, err := New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	createDirect(t, sb, "old-1")
	sb.Close()
	if err := os.Remove(filepath.Join(dir, ServiceOrdersFile)); err != nil {
		t.Fatal(err)
	}
	sb, err = New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatalf("an old folder: %v", err)
	}
	if len(sb.Orders()) != 1 || len(sb.ServiceOrders()) != 0 {
		t.Fatalf("old folder: %d orders, %d service orders", len(sb.Orders()), len(sb.ServiceOrders()))
	}
	createServiceDirect(t, sb, "so-a")
	createServiceDirect(t, sb, "so-b")
	sb.Close()

	path := filepath.Join(dir, ServiceOrdersFile)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"out_order_no":"so-c","sta`)
	f.Close()
	sb, err = New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatalf("torn last line: %v", err)
	}
	if len(sb.ServiceOrders()) != 2 {
		t.Fatalf("%d service orders", len(sb.ServiceOrders()))
	}
	sb.Close()

	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	_ = os.WriteFile(path, []byte(lines[0]+"{\"out_order_no\":\"x\"}\n"+lines[1]), 0o600)
	_, err = New(Options{Dir: dir, Credentials: creds})
	if err == nil || !strings.Contains(err.Error(), ServiceOrdersFile) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want an error naming %s line 2, got %v", ServiceOrdersFile, err)
	}
	// The refused start released the folder: the next one may lock it.
	_ = os.WriteFile(path, []byte(lines[0]), 0o600)
	sb, err = New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	sb.Close()
}

// createServiceDirect creates a service order through ServeHTTP without a network.
func createServiceDirect(t testing.TB, sb *Sandbox, no string) {
	t.Helper()
	c := sb.Credentials()
	req := signedRequest(t, c, "POST", "http://sandbox"+serviceOrderPath, mustJSON(soCreateBody(c, no)), sb.now(), nil)
	rec := httptest.NewRecorder()
	sb.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("create %s: %d %s", no, rec.Code, rec.Body)
	}
}
