package sandbox

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// received is one notification as a merchant's server got it.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is a merchant's notification server; fail makes it answer 500
// to the first n requests.
type receiver struct {
	mu   sync.Mutex
	got  []received
	fail int
	srv  *httptest.Server
}

func newReceiver(t *testing.T, fail int) *receiver {
	rc := &receiver{fail: fail}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.Header.Clone(), b})
		failing := rc.fail > 0
		if failing {
			rc.fail--
		}
		rc.mu.Unlock()
		if failing {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code":"SUCCESS","message":"成功"}`))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// verifyAndDecrypt is what a merchant's server does with a notification:
// the signature over "timestamp\nnonce\nbody\n" checked with the platform
// public key, then the resource opened with the APIv3 key
// (AEAD_AES_256_GCM). It returns the envelope and the decrypted order.
func verifyAndDecrypt(t *testing.T, c *Credentials, h http.Header, body []byte) (env map[string]any, order map[string]any, err error) {
	t.Helper()
	msg := h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(body) + "\n"
	sig, err := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(c.WechatPayPublicKey(), crypto.SHA256, sum[:], sig); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, nil, err
	}
	res := env["resource"].(map[string]any)
	ct, err := base64.StdEncoding.DecodeString(res["ciphertext"].(string))
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher([]byte(c.APIv3Key))
	if err != nil {
		return nil, nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	plain, err := gcm.Open(nil, []byte(res["nonce"].(string)), ct, []byte(res["associated_data"].(string)))
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(plain, &order); err != nil {
		return nil, nil, err
	}
	return env, order, nil
}

// The customer's confirmation and the payment are posted to the order's
// notify_url, signed with the platform key and encrypted with the APIv3
// key, as WeChat Pay sends them (the fact sheet's section 5).
func TestNotificationsAreSignedAndEncrypted(t *testing.T) {
	rc := newReceiver(t, 0)
	var hooked sync.Map
	srv := startServer(t, Options{OnNotify: func(n Notification) { hooked.Store(n.ID, n) }})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox
	notifyURL := rc.srv.URL + "/payscore/notify"
	soCreate(t, cl, srv, with(soCreateBody(c, "nt-1"), map[string]any{"notify_url": notifyURL}))
	if err := sb.AcceptServiceOrder("nt-1"); err != nil {
		t.Fatal(err)
	}
	soOK(t, cl, srv, "nt-1", "complete", soCompleteBody(c))
	soOK(t, cl, srv, "nt-1", "pay", soIDsBody(c)) // the merchant's pay, deducted at once
	waitFor(t, "two notifications delivered and reported", func() bool {
		n := 0
		hooked.Range(func(_, v any) bool {
			if v.(Notification).Done {
				n++
			}
			return true
		})
		return n == 2
	})

	events := map[string]map[string]any{}
	for _, r := range rc.all() {
		if r.Header.Get("Wechatpay-Serial") != c.PublicKeyID || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Wechatpay-Signature-Type") != AuthScheme {
			t.Fatalf("headers: %v", r.Header)
		}
		env, order, err := verifyAndDecrypt(t, c, r.Header, r.Body)
		if err != nil {
			t.Fatalf("a merchant cannot verify or open it: %v: %s", err, r.Body)
		}
		res := env["resource"].(map[string]any)
		if env["resource_type"] != "encrypt-resource" || len(env["id"].(string)) != 36 ||
			res["algorithm"] != "AEAD_AES_256_GCM" || res["original_type"] != "payscore" || len(res["nonce"].(string)) != 12 {
			t.Fatalf("envelope: %s", r.Body)
		}
		if _, err := time.Parse(time.RFC3339, env["create_time"].(string)); err != nil {
			t.Fatalf("create_time: %v", err)
		}
		if order["out_order_no"] != "nt-1" || order["mchid"] != c.MchID || order["attach"] != "a" || order["openid"] == nil {
			t.Fatalf("order: %v", order)
		}
		if _, ok := order["notify_url"]; ok {
			t.Errorf("the order entity carries notify_url: %v", order)
		}
		events[env["event_type"].(string)] = order
		if env["summary"] != map[string]string{EventUserConfirm: "确认订单", EventUserPaid: "支付成功"}[env["event_type"].(string)] {
			t.Errorf("summary %v for %v", env["summary"], env["event_type"])
		}
	}
	if o := events[EventUserConfirm]; o == nil || o["state"] != ServiceOrderDoing || o["state_description"] != DescUserConfirm {
		t.Fatalf("USER_CONFIRM: %v", events)
	}
	o := events[EventUserPaid]
	if o == nil || o["state"] != ServiceOrderDone {
		t.Fatalf("USER_PAID: %v", events)
	}
	if col := o["collection"].(map[string]any); col["state"] != CollectionUserPaid || col["paid_amount"] != 900.0 {
		t.Fatalf("USER_PAID collection: %v", col)
	}

	// What was posted is what the Go API reports, delivered at the first try.
	ns := sb.Notifications()
	if len(ns) != 2 {
		t.Fatalf("%d notifications", len(ns))
	}
	for _, n := range ns {
		if !n.Delivered || !n.Done || n.Attempts != 1 || n.Status != 200 || n.URL != notifyURL || n.OutOrderNo != "nt-1" {
			t.Fatalf("notification: %+v", n)
		}
		var order map[string]any
		if err := json.Unmarshal(n.Plaintext, &order); err != nil || order["out_order_no"] != "nt-1" {
			t.Fatalf("plaintext %s: %v", n.Plaintext, err)
		}
		if h, ok := hooked.Load(n.ID); !ok || !h.(Notification).Delivered {
			t.Fatalf("OnNotify did not see %s delivered", n.ID)
		}
	}

	// The check is a real one: a tampered body, another key, another
	// APIv3 key all fail it.
	r := rc.all()[0]
	tampered := []byte(strings.Replace(string(r.Body), `"id":"`, `"id":"x`, 1))
	if _, _, err := verifyAndDecrypt(t, c, r.Header, tampered); err == nil {
		t.Fatal("a tampered body verified")
	}
	other, err := GenerateCredentials()
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := *c
	wrongKey.PlatformPrivateKey = other.PlatformPrivateKey
	if _, _, err := verifyAndDecrypt(t, &wrongKey, r.Header, r.Body); err == nil {
		t.Fatal("verified with another platform key")
	}
	wrongAPIv3 := *c
	wrongAPIv3.APIv3Key = other.APIv3Key
	if _, _, err := verifyAndDecrypt(t, &wrongAPIv3, r.Header, r.Body); err == nil {
		t.Fatal("decrypted with another APIv3 key")
	}
}

// Pay Score's deduction (the Go API's pay) posts USER_PAID too; a
// 免确认 create posts no USER_CONFIRM (nobody confirmed), sync no
// USER_PAID (nothing was deducted), failed deductions nothing.
func TestWhichMovesNotify(t *testing.T) {
	rc := newReceiver(t, 0)
	srv := startServer(t, Options{})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox
	body := func(no string, set map[string]any) map[string]any {
		set["notify_url"] = rc.srv.URL
		return with(soCreateBody(c, no), set)
	}
	soCreate(t, cl, srv, body("wn-1", map[string]any{"need_user_confirm": false, "openid": "oU"}))
	soOK(t, cl, srv, "wn-1", "complete", soCompleteBody(c))
	soOK(t, cl, srv, "wn-1", "sync", soSyncBody(c, "20250101"))

	soCreate(t, cl, srv, body("wn-2", map[string]any{"need_user_confirm": false, "openid": "oU"}))
	soOK(t, cl, srv, "wn-2", "complete", soCompleteBody(c))
	_ = sb.FailServiceOrderDeductions("wn-2", true)
	soOK(t, cl, srv, "wn-2", "pay", soIDsBody(c))
	_ = sb.FailServiceOrderDeductions("wn-2", false)
	if err := sb.PayServiceOrder("wn-2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a notification", func() bool { return len(rc.all()) >= 1 })
	ns := sb.Notifications()
	if len(ns) != 1 || ns[0].OutOrderNo != "wn-2" || ns[0].EventType != EventUserPaid {
		t.Fatalf("notifications: %+v", ns)
	}
	_, order, err := verifyAndDecrypt(t, c, rc.all()[0].Header, rc.all()[0].Body)
	if err != nil || order["state"] != ServiceOrderDone {
		t.Fatalf("%v %v", err, order)
	}
}

// A receiver that fails is tried again after each delay; one that keeps
// failing is given up after the last.
func TestNotificationRetries(t *testing.T) {
	flaky := newReceiver(t, 2)
	down := newReceiver(t, 1000)
	var mu sync.Mutex
	var attempts []Notification
	srv := startServer(t, Options{
		NotifyRetryDelays: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		OnNotify: func(n Notification) {
			mu.Lock()
			attempts = append(attempts, n)
			mu.Unlock()
		},
	})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	soCreate(t, cl, srv, with(soCreateBody(c, "rt-1"), map[string]any{"notify_url": flaky.srv.URL}))
	soCreate(t, cl, srv, with(soCreateBody(c, "rt-2"), map[string]any{"notify_url": down.srv.URL}))
	_ = srv.Sandbox.AcceptServiceOrder("rt-1")
	_ = srv.Sandbox.AcceptServiceOrder("rt-2")
	waitFor(t, "both done and reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		done := 0
		for _, n := range attempts {
			if n.Done {
				done++
			}
		}
		return done == 2
	})
	for _, n := range srv.Sandbox.Notifications() {
		switch n.OutOrderNo {
		case "rt-1":
			if !n.Delivered || n.Attempts != 3 || n.Err != "" {
				t.Fatalf("flaky receiver: %+v", n)
			}
		case "rt-2":
			if n.Delivered || n.Attempts != 4 || n.Status != 500 || !strings.Contains(n.Err, "500") {
				t.Fatalf("receiver down: %+v", n)
			}
		}
	}
	if got := len(flaky.all()); got != 3 {
		t.Fatalf("flaky receiver got %d", got)
	}
	if got := len(down.all()); got != 4 {
		t.Fatalf("down receiver got %d", got)
	}
	// Each retry is the same notification (id and body), signed afresh.
	f := flaky.all()
	if string(f[0].Body) != string(f[2].Body) || f[0].Header.Get("Wechatpay-Nonce") == f[2].Header.Get("Wechatpay-Nonce") {
		t.Fatal("a retry is not the same body signed afresh")
	}
	for _, r := range f {
		if _, _, err := verifyAndDecrypt(t, c, r.Header, r.Body); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 7 {
		t.Fatalf("OnNotify called %d times, want one per attempt (3 + 4)", len(attempts))
	}
}

// The default client posts to loopback only: another host is not tried
// (no lookup), and the notification says why. Close ends pending retries.
func TestNotificationsStayOnTheMachine(t *testing.T) {
	srv := startServer(t, Options{NotifyRetryDelays: []time.Duration{time.Hour}})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	soCreate(t, cl, srv, soCreateBody(c, "lo-1")) // https://merchant.example.com/...
	_ = srv.Sandbox.AcceptServiceOrder("lo-1")
	waitFor(t, "the refusal", func() bool { ns := srv.Sandbox.Notifications(); return len(ns) == 1 && ns[0].Done })
	n := srv.Sandbox.Notifications()[0]
	if n.Delivered || n.Attempts != 0 || !strings.Contains(n.Err, "loopback") {
		t.Fatalf("off-machine notification: %+v", n)
	}

	// A receiver that fails, then an hour's wait: Close does not wait it out.
	down := newReceiver(t, 1000)
	soCreate(t, cl, srv, with(soCreateBody(c, "lo-2"), map[string]any{"notify_url": down.srv.URL}))
	_ = srv.Sandbox.AcceptServiceOrder("lo-2")
	waitFor(t, "the first attempt", func() bool { return len(down.all()) == 1 })
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	ns := srv.Sandbox.Notifications()
	if last := ns[len(ns)-1]; !last.Done || last.Delivered || !strings.Contains(last.Err, "closed") {
		t.Fatalf("after Close: %+v", last)
	}
}

// Options.NotifyClient reaches what the default does not: here a TLS
// receiver whose certificate only its own client trusts.
func TestNotifyClientOption(t *testing.T) {
	var got sync.WaitGroup
	got.Add(1)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		got.Done()
	}))
	defer ts.Close()
	srv := startServer(t, Options{NotifyClient: ts.Client()})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	soCreate(t, cl, srv, with(soCreateBody(c, "tls-1"), map[string]any{"notify_url": ts.URL + "/n"}))
	_ = srv.Sandbox.AcceptServiceOrder("tls-1")
	got.Wait()
	waitFor(t, "delivered", func() bool { ns := srv.Sandbox.Notifications(); return len(ns) == 1 && ns[0].Delivered })
}
