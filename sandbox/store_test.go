package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

func TestRestartKeepsOrders(t *testing.T) {
	dir := t.TempDir()
	creds := testCreds(t)
	srv := startServer(t, Options{Dir: dir, Credentials: creds})
	cl := pubKeyClient(t, creds)
	first := sdkCreate(t, cl, srv, "p-1")
	sdkCreate(t, cl, srv, "p-2")
	sdkCreate(t, cl, srv, "p-2")
	if err := srv.Sandbox.Accept("p-1"); err != nil {
		t.Fatal(err)
	}
	before, _ := srv.Sandbox.Order("p-1")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2 := startServer(t, Options{Dir: dir, Credentials: creds})
	if n := len(srv2.Sandbox.Orders()); n != 2 {
		t.Fatalf("%d orders after restart", n)
	}
	o, _ := srv2.Sandbox.Order("p-1")
	if o.State != StateUserAccepted || o.OrderID != first["order_id"] || o.QueryID != before.QueryID {
		t.Fatalf("%+v", o)
	}
	if o2, _ := srv2.Sandbox.Order("p-2"); o2.CreateRequests != 2 {
		t.Fatalf("create_requests %d", o2.CreateRequests)
	}
	// The restarted sandbox still recognises repeats and query ids.
	again := sdkCreate(t, cl, srv2, "p-1")
	if again["package"] != first["package"] {
		t.Fatal("repeat after restart answered another package")
	}
	if _, err := cl.Get(context.Background(), queryURL(srv2, "query_id", before.QueryID)); err != nil {
		t.Fatal(err)
	}
	// Compacted at start: one line per order, then appended.
	data, _ := os.ReadFile(filepath.Join(dir, OrdersFile))
	if n := bytes.Count(data, []byte("\n")); n != 3 {
		t.Fatalf("%d lines, want 2 compacted + 1 appended", n)
	}
}

func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	creds := testCreds(t)
	sb, err := New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	createDirect(t, sb, "t-1")
	createDirect(t, sb, "t-2")
	sb.Close()
	path := filepath.Join(dir, OrdersFile)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"appid":"wx","out_order_no":"t-3","sta`)
	f.Close()

	var logs []string
	var mu sync.Mutex
	sb, err = New(Options{Dir: dir, Credentials: creds, Logf: func(format string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(format, a...))
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if n := len(sb.Orders()); n != 2 {
		t.Fatalf("%d orders", n)
	}
	if len(logs) == 0 || !strings.Contains(logs[0], "torn") {
		t.Fatalf("no warning: %v", logs)
	}
	// Compaction removed the torn line; new orders append cleanly.
	createDirect(t, sb, "t-3")
	sb.Close()
	sb, err = New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if n := len(sb.Orders()); n != 3 {
		t.Fatalf("%d orders", n)
	}
}

func TestCorruptMiddleLine(t *testing.T) {
	dir := t.TempDir()
	creds := testCreds(t)
	sb, err := New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	createDirect(t, sb, "c-1")
	createDirect(t, sb, "c-2")
	sb.Close()
	path := filepath.Join(dir, OrdersFile)
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(path, []byte(lines[0]+"{garbage\n"+lines[1]), 0o600)
	_, err = New(Options{Dir: dir, Credentials: creds})
	if err == nil || !strings.Contains(err.Error(), OrdersFile) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want error naming file and line 2, got %v", err)
	}
}

// createDirect creates through ServeHTTP without a network.
func createDirect(t testing.TB, sb *Sandbox, no string) {
	t.Helper()
	c := sb.Credentials()
	req := signedRequest(t, c, "POST", "http://sandbox"+ordersPath, mustJSON(createBody(c, no)), sb.now(), nil)
	rec := httptest.NewRecorder()
	sb.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("create %s: %d %s", no, rec.Code, rec.Body)
	}
}

// Thousands of orders at a create every few ms: appends stay cheap.
func TestPersistenceScales(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	creds := testCreds(t)
	sb, err := New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	start := time.Now()
	for i := 0; i < n; i++ {
		no := fmt.Sprintf("scale-%d", i)
		// Through the store directly: RSA signing would dominate the timing.
		sb.mu.Lock()
		_, err := sb.commit(Order{OutOrderNo: no, QueryID: no, OrderID: no, State: StateCreated, CreatedAt: time.Now()})
		sb.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	perOrder := time.Since(start) / n
	sb.Close()
	if perOrder > 2*time.Millisecond {
		t.Fatalf("%v per persisted order", perOrder)
	}
	start = time.Now()
	sb, err = New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if got := len(sb.Orders()); got != n {
		t.Fatalf("%d orders after restart", got)
	}
	t.Logf("%v per order, restart with %d orders in %v", perOrder, n, time.Since(start))
}

func TestLoadOrCreateCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	c1, err := LoadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := LoadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !c1.MerchantPrivateKey.Equal(c2.MerchantPrivateKey) || !c1.PlatformPrivateKey.Equal(c2.PlatformPrivateKey) ||
		c1.MchID != c2.MchID || c1.AppID != c2.AppID || c1.ServiceID != c2.ServiceID || c1.APIv3Key != c2.APIv3Key ||
		c1.PublicKeyID != c2.PublicKeyID || c1.MerchantSerialNo != c2.MerchantSerialNo ||
		c1.PlatformCertificateSerial() != c2.PlatformCertificateSerial() {
		t.Fatal("second call did not reuse the credentials")
	}
	if len(c1.APIv3Key) != 32 || !strings.HasPrefix(c1.PublicKeyID, "PUB_KEY_ID_") || len(c1.PlatformCertificateSerial()) != 40 {
		t.Fatalf("%+v", c1)
	}
	for _, name := range []string{MerchantPrivateKeyFile, WechatPayPrivateKeyFile, CredentialsFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, err, st.Mode())
		}
	}
	// The files are loadable by the SDK's own helpers.
	if k, err := utils.LoadPublicKeyWithPath(filepath.Join(dir, WechatPayPublicKeyFile)); err != nil || !k.Equal(c1.WechatPayPublicKey()) {
		t.Fatal(err)
	}
	if _, err := utils.LoadPrivateKeyWithPath(filepath.Join(dir, MerchantPrivateKeyFile)); err != nil {
		t.Fatal(err)
	}
	if cert, err := utils.LoadCertificateWithPath(filepath.Join(dir, WechatPayCertificateFile)); err != nil ||
		utils.GetCertificateSerialNumber(*cert) != c1.PlatformCertificateSerial() {
		t.Fatal(err)
	}
	// A server built from them works with the SDK.
	srv := startServer(t, Options{Credentials: c2})
	sdkCreate(t, pubKeyClient(t, c1), srv, "creds-1")

	// Damaged files are named in the error.
	for _, name := range []string{MerchantPrivateKeyFile, WechatPayCertificateFile, CredentialsFile, WechatPayPublicKeyFile} {
		d := t.TempDir()
		if _, err := LoadOrCreateCredentials(d); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, name)
		data, _ := os.ReadFile(p)
		os.WriteFile(p, data[:len(data)/2], 0o600)
		_, err := LoadOrCreateCredentials(d)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s truncated: %v", name, err)
		}
	}
	d := t.TempDir()
	LoadOrCreateCredentials(d)
	os.Remove(filepath.Join(d, MerchantPublicKeyFile))
	if _, err := LoadOrCreateCredentials(d); err == nil || !strings.Contains(err.Error(), MerchantPublicKeyFile) {
		t.Errorf("missing file: %v", err)
	}
}

func TestNewRejectsBadCredentials(t *testing.T) {
	// No credentials means the process-wide default set, generated once.
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Credentials() == nil || a.Credentials() != b.Credentials() {
		t.Error("two sandboxes without credentials do not share the default set")
	}
	c := *testCreds(t)
	c.APIv3Key = "short"
	if _, err := New(Options{Credentials: &c}); err == nil {
		t.Fatal("short APIv3 key accepted")
	}
	other, _ := GenerateCredentials()
	c = *testCreds(t)
	c.PlatformCertificate = other.PlatformCertificate
	if _, err := New(Options{Credentials: &c}); err == nil {
		t.Fatal("mismatched certificate accepted")
	}
}
