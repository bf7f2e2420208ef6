package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

// The merchant's rate limit is a token bucket over both domains: a burst
// passes, the excess is answered 429 FREQUENCY_LIMITED, signed (the SDK
// verifies it) with Retry-After, and nothing is done for it; the bucket
// refills at the rate. The request log counts every request, each second,
// and the create requests per out_order_no.
func TestTheMerchantsRateLimit(t *testing.T) {
	// A clock that moves only when told: the bucket refills on it.
	clk := newFrozenClock()
	srv := startServer(t, Options{Now: clk.Now})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox
	if err := srv.ListenBackup("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	backupURL := srv.BackupURL
	if err := sb.SetRateLimit(RateLimit{Rate: 2, Burst: 3, RetryAfterSeconds: 2}); err != nil {
		t.Fatal(err)
	}
	create := func(base, no string) error {
		_, err := cl.Post(context.Background(), base+"/v3/payscore/smartretail-orders", createBody(c, no))
		return err
	}
	limited := func(err error) bool {
		var ae *core.APIError
		return errors.As(err, &ae) && ae.StatusCode == 429 && ae.Code == "FREQUENCY_LIMITED" && ae.Header.Get("Retry-After") == "2"
	}
	// The clock stands still: three tokens, on either domain, then none.
	for i, base := range []string{srv.URL, backupURL, srv.URL} {
		if err := create(base, "RL-"+string(rune('A'+i))); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	for _, base := range []string{srv.URL, backupURL} {
		if err := create(base, "RL-X"); !limited(err) {
			t.Fatalf("over the burst on %s: %v", base, err)
		}
	}
	if _, ok := sb.Order("RL-X"); ok {
		t.Error("a refused create made its order")
	}
	clk.Add(500 * time.Millisecond) // one token at 2 a second
	if err := create(srv.URL, "RL-X"); err != nil {
		t.Fatalf("after half a second: %v", err)
	}
	if err := create(srv.URL, "RL-Y"); !limited(err) {
		t.Fatalf("the token was spent: %v", err)
	}
	log := sb.RequestLog()
	if log.Requests != 7 || log.RateLimited != 3 || log.Creates["RL-X"] != 3 || log.Creates["RL-A"] != 1 || log.PeakPerSecond < 4 {
		t.Errorf("request log: %+v", log)
	}
	var perSecond int64
	for _, s := range log.Seconds {
		perSecond += s.Requests
	}
	if perSecond != 7 {
		t.Errorf("seconds add up to %d requests, want 7", perSecond)
	}

	// The admin API sets and reads it, refusing a bad body by name.
	if a := admin(t, srv, "PUT", "/sandbox/ratelimit", `{"rate":0}`); a.Status != 200 {
		t.Fatalf("lifting the limit: %d %s", a.Status, a.Body)
	}
	if err := create(srv.URL, "RL-Y"); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	for body, says := range map[string]string{
		`{"rate":-1}`:                "rate -1",
		`{"rate":10,"bust":5}`:       "allowed are rate, burst",
		`{"rate":"10"}`:              "field rate has the wrong type",
		`[]`:                         "must be a JSON object",
		`{"retry_after_seconds":-3}`: "retry_after_seconds -3",
	} {
		if a := admin(t, srv, "PUT", "/sandbox/ratelimit", body); a.Status != 400 || !contains(string(a.Body), says) {
			t.Errorf("PUT %s: %d %s, want 400 saying %q", body, a.Status, a.Body, says)
		}
	}
	if a := admin(t, srv, "DELETE", "/sandbox/requests", ""); a.Status != 200 || sb.RequestLog().Requests != 0 {
		t.Errorf("reset: %d %s", a.Status, a.Body)
	}
}
