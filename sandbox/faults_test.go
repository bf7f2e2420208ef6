package sandbox

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

func TestFaultModes(t *testing.T) {
	// The sandbox logs when a client leaves during the latency: after that
	// the abandoned request's handler has returned, work done or not.
	wentAway := make(chan struct{}, 1)
	srv := startServer(t, Options{Logf: func(format string, args ...any) {
		t.Logf(format, args...)
		if strings.Contains(format, "client went away during latency") {
			select {
			case wentAway <- struct{}{}:
			default:
			}
		}
	}})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	sb := srv.Sandbox
	ctx := context.Background()
	create := func(no string) error {
		_, err := cl.Post(ctx, ordersURL(srv), createBody(c, no))
		return err
	}
	isConnErr := func(err error) bool {
		var ae *core.APIError
		return err != nil && !errors.As(err, &ae)
	}

	t.Run("offline", func(t *testing.T) {
		if err := sb.SetFaults(Faults{Mode: FaultOffline}); err != nil {
			t.Fatal(err)
		}
		if err := create("f-off"); !isConnErr(err) {
			t.Fatalf("want a connection error, got %v", err)
		}
		if _, ok := sb.Order("f-off"); ok {
			t.Fatal("offline did the work")
		}
		// The admin API is never faulted.
		if a := admin(t, srv, "GET", "/sandbox/orders", ""); a.Status != 200 {
			t.Fatal(a.Status)
		}
	})
	t.Run("drop_response", func(t *testing.T) {
		_ = sb.SetFaults(Faults{Mode: FaultDropResponse})
		if err := create("f-drop"); !isConnErr(err) {
			t.Fatalf("want a connection error, got %v", err)
		}
		o, ok := sb.Order("f-drop")
		if !ok || o.CreateRequests != 1 {
			t.Fatalf("drop_response must do the work: %+v", o)
		}
		// The client retries with the same parameters once the network is back.
		_ = sb.SetFaults(Faults{Mode: FaultNone})
		if err := create("f-drop"); err != nil {
			t.Fatal(err)
		}
		if o, _ := sb.Order("f-drop"); o.CreateRequests != 2 {
			t.Fatalf("create_requests %d", o.CreateRequests)
		}
	})
	t.Run("error", func(t *testing.T) {
		_ = sb.SetFaults(Faults{Mode: FaultError, Probability: 1})
		apiErr(t, create("f-err"), 500, "SYSTEM_ERROR")
		if _, ok := sb.Order("f-err"); ok {
			t.Fatal("error fault did the work")
		}
	})
	t.Run("rate_limit", func(t *testing.T) {
		_ = sb.SetFaults(Faults{Mode: FaultRateLimit})
		e := apiErr(t, create("f-rl"), 429, "FREQUENCY_LIMITED")
		if e.Header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q", e.Header.Get("Retry-After"))
		}
		if _, ok := sb.Order("f-rl"); ok {
			t.Fatal("rate_limit did the work")
		}
	})
	t.Run("latency", func(t *testing.T) {
		_ = sb.SetFaults(Faults{Mode: FaultNone, LatencyMS: 300})
		start := time.Now()
		if err := create("f-lat"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("answered after %v", d)
		}
		// A client that gives up during the delay causes no work.
		_ = sb.SetFaults(Faults{LatencyMS: 5000})
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err := cl.Post(tctx, ordersURL(srv), createBody(c, "f-lat2"))
		if err == nil || time.Since(start) > 2*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
		select {
		case <-wentAway:
		case <-time.After(10 * time.Second):
			t.Fatal("the sandbox never saw the client leave during the latency")
		}
		if _, ok := sb.Order("f-lat2"); ok {
			t.Fatal("abandoned request did the work")
		}
	})
	t.Run("probability", func(t *testing.T) {
		_ = sb.SetFaults(Faults{Mode: FaultError, Probability: 0.5})
		fails := 0
		for i := 0; i < 60; i++ {
			if _, err := cl.Get(ctx, queryURL(srv, "out_order_no", "f-drop")); err != nil {
				apiErr(t, err, 500, "SYSTEM_ERROR")
				fails++
			}
		}
		if fails == 0 || fails == 60 {
			t.Fatalf("%d of 60 failed at probability 0.5", fails)
		}
	})
	_ = sb.SetFaults(Faults{})
	if f := sb.Faults(); f.Mode != FaultNone {
		t.Fatalf("%+v", f)
	}
}

func TestSetFaultsRejects(t *testing.T) {
	sb, err := New(Options{Credentials: testCreds(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	for _, f := range []Faults{
		{Mode: "explode"}, {Mode: FaultError, Probability: -0.1}, {Mode: FaultError, Probability: 1.5},
		{Mode: FaultError, Probability: math.NaN()}, {LatencyMS: -1}, {LatencyMS: MaxLatencyMS + 1},
	} {
		if err := sb.SetFaults(f); err == nil {
			t.Errorf("accepted %+v", f)
		}
	}
	if f := sb.Faults(); f.Mode != FaultNone || f.LatencyMS != 0 {
		t.Fatalf("rejected settings applied: %+v", f)
	}
}

func TestAdminAPI(t *testing.T) {
	srv := startServer(t, Options{})
	cl := pubKeyClient(t, srv.Credentials)
	sdkCreate(t, cl, srv, "adm-1")
	sdkCreate(t, cl, srv, "adm-2")

	a := admin(t, srv, "GET", "/sandbox/orders", "")
	if a.Status != 200 || !strings.HasPrefix(string(a.Body), "[") || a.Header.Get("Request-Id") == "" ||
		a.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	for _, k := range []string{`"out_order_no":"adm-1"`, `"order_id"`, `"query_id"`, `"state":"CREATED"`, `"create_requests":1`, `"created_at"`} {
		if !strings.Contains(string(a.Body), k) {
			t.Errorf("orders list lacks %s", k)
		}
	}
	a = admin(t, srv, "POST", "/sandbox/orders/adm-1/accept", "")
	if a.Status != 200 || a.JSON["state"] != StateUserAccepted {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	a = admin(t, srv, "POST", "/sandbox/orders/adm-1/accept", "")
	if a.Status != 409 || a.JSON["code"] != "INVALID_STATE" {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	a = admin(t, srv, "POST", "/sandbox/orders/adm-1/pay", "")
	if a.Status != 409 || a.JSON["code"] != "INVALID_STATE" {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	a = admin(t, srv, "POST", "/sandbox/orders/adm-2/expire", "")
	if a.Status != 200 || a.JSON["state"] != StateExpired {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	for _, p := range []string{"/sandbox/orders/nope", "/sandbox/orders/nope/accept"} {
		m := "GET"
		if strings.HasSuffix(p, "accept") {
			m = "POST"
		}
		if a = admin(t, srv, m, p, ""); a.Status != 404 || a.JSON["code"] != "ORDER_NOT_EXIST" {
			t.Fatalf("%s: %d %s", p, a.Status, a.Body)
		}
	}
	if a = admin(t, srv, "GET", "/sandbox/orders/adm-1/accept", ""); a.Status != 405 {
		t.Fatal(a.Status)
	}
	if a = admin(t, srv, "POST", "/sandbox/orders/adm-1/refund", ""); a.Status != 404 {
		t.Fatal(a.Status)
	}
	if a = admin(t, srv, "DELETE", "/sandbox/faults", ""); a.Status != 405 {
		t.Fatal(a.Status)
	}
	if a = admin(t, srv, "GET", "/sandbox/orders/adm-2", ""); a.JSON["query_id"] == "" || a.JSON["state"] != StateExpired {
		t.Fatalf("%s", a.Body)
	}

	// Faults through the admin API.
	a = admin(t, srv, "PUT", "/sandbox/faults", `{"mode":"rate_limit","latency_ms":10}`)
	if a.Status != 200 || a.JSON["mode"] != "rate_limit" || a.JSON["probability"] != 1.0 || a.JSON["latency_ms"] != 10.0 {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if f := srv.Sandbox.Faults(); f.Mode != FaultRateLimit || f.LatencyMS != 10 {
		t.Fatalf("%+v", f)
	}
	_, err := cl.Get(context.Background(), queryURL(srv, "out_order_no", "adm-1"))
	apiErr(t, err, 429, "FREQUENCY_LIMITED")
	if a = admin(t, srv, "GET", "/sandbox/faults", ""); a.JSON["mode"] != "rate_limit" {
		t.Fatalf("%s", a.Body)
	}
	a = admin(t, srv, "PUT", "/sandbox/faults", `{"mode":"error","probability":0.25}`)
	if a.Status != 200 || a.JSON["probability"] != 0.25 || a.JSON["latency_ms"] != 0.0 {
		t.Fatalf("%d %s", a.Status, a.Body)
	}

	hostile := map[string]string{
		`{"mode":"none","extra":1}`:            "unknown field",
		`{"mode":5}`:                           "mode",
		`{"mode":"explode"}`:                   "explode",
		`{"mode":""}`:                          "mode",
		`{"mode":"error","probability":1.01}`:  "probability",
		`{"mode":"error","probability":-1}`:    "probability",
		`{"mode":"error","probability":"0.5"}`: "probability",
		`{"mode":"error","probability":1e999}`: "probability",
		`{"latency_ms":-5}`:                    "latency_ms",
		`{"latency_ms":60001}`:                 "latency_ms",
		`{"latency_ms":1.5}`:                   "latency_ms",
		`{"latency_ms":99999999999999999999}`:  "latency_ms",
		`{"mode":"none"} {}`:                   "trailing",
		`{"mode":"none"}x`:                     "trailing",
		`[]`:                                   "JSON object",
		`null`:                                 "JSON object",
		``:                                     "JSON object",
		`{"mode":`:                             "JSON",
		`{"mode":"none",` + strings.Repeat(" ", MaxAdminBodyBytes) + `}`: "exceeds",
	}
	for body, want := range hostile {
		a = admin(t, srv, "PUT", "/sandbox/faults", body)
		msg, _ := a.JSON["message"].(string)
		if a.Status != 400 || a.JSON["code"] != "PARAM_ERROR" || !strings.Contains(msg, want) {
			t.Errorf("body %.60q: %d %s (want message with %q)", body, a.Status, a.Body, want)
		}
	}
	if f := srv.Sandbox.Faults(); f.Mode != FaultError || f.Probability != 0.25 {
		t.Fatalf("hostile bodies changed faults: %+v", f)
	}
	a = admin(t, srv, "PUT", "/sandbox/faults", `{"mode":"error","probability":0}`)
	if a.Status != 200 || a.JSON["mode"] != FaultNone {
		t.Fatalf("probability 0 means never: %d %s", a.Status, a.Body)
	}
}
