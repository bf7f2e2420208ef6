package sandbox

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The signature window is measured on the sandbox's clock, Options.Now plus
// the offset: a client on the real time is inside it up to 299 s off and
// refused from 300 s, either way, and SetClockOffset moves it while serving.
// The offsets stay 2 s clear of the boundary: a second may pass between
// signing and checking, and both are whole seconds.
func TestSignatureWindowFollowsTheClockOffset(t *testing.T) {
	srv := startServer(t, Options{ClockOffset: 298 * time.Second}) // 298: a second boundary may pass between signing and checking
	cl := pubKeyClient(t, srv.Credentials)
	sdkCreate(t, cl, srv, "off-plus-298")

	if err := srv.Sandbox.SetClockOffset(302 * time.Second); err != nil {
		t.Fatal(err)
	}
	_, err := cl.Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, "off-plus-302"))
	if e := apiErr(t, err, 401, "SIGN_ERROR"); !contains(e.Message, "timestamp") {
		t.Fatalf("message %q does not mention the timestamp", e.Message)
	}

	if err := srv.Sandbox.SetClockOffset(-298 * time.Second); err != nil {
		t.Fatal(err)
	}
	sdkCreate(t, cl, srv, "off-minus-298")
	if err := srv.Sandbox.SetClockOffset(-302 * time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, "off-minus-302"))
	apiErr(t, err, 401, "SIGN_ERROR")

	for _, no := range []string{"off-plus-302", "off-minus-302"} {
		if _, ok := srv.Sandbox.Order(no); ok {
			t.Errorf("the refused %s created an order", no)
		}
	}
	for _, no := range []string{"off-plus-298", "off-minus-298"} {
		if _, ok := srv.Sandbox.Order(no); !ok {
			t.Errorf("%s was not created", no)
		}
	}
}

// A client that signs on WeChat Pay's time (the sandbox's) is served with
// the sandbox a day ahead, and the answer's Wechatpay-Timestamp, Date and
// the order's times are on that clock, not the machine's.
func TestAnswersCarryTheSandboxClock(t *testing.T) {
	base := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	const offset = 24 * time.Hour
	srv := startServer(t, Options{Now: func() time.Time { return base }, ClockOffset: offset})
	c := srv.Credentials
	want := base.Add(offset)

	// Signed on the machine's clock: more than 5 minutes from the sandbox's.
	a := do(t, signedRequest(t, c, "POST", ordersURL(srv), mustJSON(createBody(c, "clk-wrong")), base, nil))
	if a.Status != 401 || !strings.Contains(string(a.Body), strconv.FormatInt(want.Unix(), 10)) {
		t.Fatalf("signed %v off: %d %s, want 401 naming the server time %d", offset, a.Status, a.Body, want.Unix())
	}
	if got := a.Header.Get("Date"); got != want.Format(http.TimeFormat) {
		t.Errorf("the unsigned 401's Date is %q, want %q", got, want.Format(http.TimeFormat))
	}

	a = do(t, signedRequest(t, c, "POST", ordersURL(srv), mustJSON(createBody(c, "clk-right")), want, nil))
	if a.Status != 200 {
		t.Fatalf("signed on the sandbox's time: %d %s", a.Status, a.Body)
	}
	if got := a.Header.Get("Wechatpay-Timestamp"); got != strconv.FormatInt(want.Unix(), 10) {
		t.Errorf("Wechatpay-Timestamp %s, want %d", got, want.Unix())
	}
	if got := a.Header.Get("Date"); got != want.Format(http.TimeFormat) {
		t.Errorf("Date %q, want %q", got, want.Format(http.TimeFormat))
	}
	o, ok := srv.Sandbox.Order("clk-right")
	if !ok || !o.CreatedAt.Equal(want) {
		t.Fatalf("order created at %v, want %v", o.CreatedAt, want)
	}
}

// Expiry reads the same clock: moving it an hour on expires a CREATED
// order as an hour passing does, and not a minute sooner.
func TestExpiryFollowsTheClockOffset(t *testing.T) {
	srv := startServer(t, Options{})
	sdkCreate(t, pubKeyClient(t, srv.Credentials), srv, "clk-exp")
	if err := srv.Sandbox.SetClockOffset(ExpireAfter - time.Minute); err != nil {
		t.Fatal(err)
	}
	if o, _ := srv.Sandbox.Order("clk-exp"); o.State != StateCreated {
		t.Fatalf("59 minutes on: %s, want %s", o.State, StateCreated)
	}
	if err := srv.Sandbox.SetClockOffset(ExpireAfter); err != nil {
		t.Fatal(err)
	}
	if o, _ := srv.Sandbox.Order("clk-exp"); o.State != StateExpired {
		t.Fatalf("an hour on: %s, want %s", o.State, StateExpired)
	}
}

func TestClockOffsetBounds(t *testing.T) {
	for _, d := range []time.Duration{MaxClockOffset + time.Second, -MaxClockOffset - time.Second} {
		if _, err := New(Options{Credentials: testCreds(t), ClockOffset: d}); err == nil || !contains(err.Error(), "clock offset") {
			t.Errorf("New with ClockOffset %v: %v, want an error naming the clock offset", d, err)
		}
	}
	sb, err := New(Options{Credentials: testCreds(t), ClockOffset: -MaxClockOffset})
	if err != nil {
		t.Fatalf("New with ClockOffset -MaxClockOffset: %v", err)
	}
	defer sb.Close()
	if err := sb.SetClockOffset(MaxClockOffset + 1); err == nil {
		t.Fatal("SetClockOffset beyond MaxClockOffset accepted")
	}
	if got := sb.ClockOffset(); got != -MaxClockOffset {
		t.Fatalf("a refused offset changed the clock: %v", got)
	}
	// A kiosk that booted in 1970 is within reach.
	if err := sb.SetClockOffset(time.Since(time.Unix(0, 0))); err != nil {
		t.Fatal(err)
	}
}

func TestAdminClock(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := startServer(t, Options{Now: func() time.Time { return base }})
	check := func(a rawAnswer, offset time.Duration) {
		t.Helper()
		if a.Status != 200 || a.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if a.JSON["offset"] != offset.String() || a.JSON["now"] != base.Add(offset).Format(time.RFC3339) || len(a.JSON) != 2 {
			t.Fatalf("answer %s, want offset %s and now %s", a.Body, offset, base.Add(offset).Format(time.RFC3339))
		}
		if got := srv.Sandbox.ClockOffset(); got != offset {
			t.Fatalf("ClockOffset() %v, want %v", got, offset)
		}
	}
	check(admin(t, srv, "GET", "/sandbox/clock", ""), 0)
	check(admin(t, srv, "PUT", "/sandbox/clock", `{"offset":"-24h"}`), -24*time.Hour)
	check(admin(t, srv, "GET", "/sandbox/clock/", ""), -24*time.Hour)
	check(admin(t, srv, "PUT", "/sandbox/clock", ` {"offset":"1h30m"} `), 90*time.Minute)

	hostile := map[string]string{
		``:                          "JSON object",
		`null`:                      "JSON object",
		`"-24h"`:                    "JSON object",
		`[]`:                        "JSON object",
		`{}`:                        "offset is required",
		`{"offset":null}`:           "offset is required",
		`{"offset":-86400}`:         "wrong type",
		`{"offset":true}`:           "wrong type",
		`{"offset":""}`:             "not a Go duration",
		`{"offset":"yesterday"}`:    "not a Go duration",
		`{"offset":"24"}`:           "not a Go duration",
		`{"offset":"9999999999h"}`:  "not a Go duration",
		`{"offset":"876001h"}`:      "beyond",
		`{"offset":"-876001h"}`:     "beyond",
		`{"offset":"1h","extra":1}`: "unknown field",
		`{"offset":"1h"} {}`:        "trailing",
		`{"offset":`:                "JSON",
		`{"offset":"` + strings.Repeat("9", 100) + `"}`:                  "(100 bytes)",
		`{"offset":"1h",` + strings.Repeat(" ", MaxAdminBodyBytes) + `}`: "exceeds",
	}
	for body, want := range hostile {
		a := admin(t, srv, "PUT", "/sandbox/clock", body)
		msg, _ := a.JSON["message"].(string)
		if a.Status != 400 || a.JSON["code"] != "PARAM_ERROR" || !strings.Contains(msg, want) {
			t.Errorf("body %.60q: %d %s (want 400 PARAM_ERROR with %q)", body, a.Status, a.Body, want)
		}
	}
	check(admin(t, srv, "GET", "/sandbox/clock", ""), 90*time.Minute) // the bad bodies changed nothing

	if a := admin(t, srv, "POST", "/sandbox/clock", `{"offset":"1h"}`); a.Status != 405 || a.Header.Get("Allow") != "GET, PUT" {
		t.Fatalf("POST: %d %s", a.Status, a.Body)
	}
}
