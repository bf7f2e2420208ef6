package main

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
)

// demoAPIs are the Pay Score APIs the demo runs on (--api).
var demoAPIs = []string{config.APISmartRetail, config.APIServiceOrder}

// startDemo sets the demo up as `smartretail demo --api api` does, the
// plugin being this test binary.
func startDemo(t *testing.T, api string) (*demo, *bytes.Buffer) {
	t.Helper()
	out := new(bytes.Buffer)
	d := &demo{out: out, api: api}
	t.Cleanup(d.tearDown)
	if err := d.setUp(testkit.Context(t), "", false, io.Discard); err != nil {
		t.Fatalf("setUp: %v\n%s", err, out)
	}
	return d, out
}

// The clock and domain chapters pass on both APIs, each step a check, and
// leave the sandbox as they found it: its clock right, both domains
// answering.
func TestDemoClockAndDomainChapters(t *testing.T) {
	for _, api := range demoAPIs {
		t.Run(api, func(t *testing.T) { testDemoClockAndDomainChapters(t, api) })
	}
}

func testDemoClockAndDomainChapters(t *testing.T, api string) {
	d, out := startDemo(t, api)
	ctx := testkit.Context(t)
	d.clockOff(ctx)
	d.mainDomainDown(ctx)
	// Service orders add the sale's notification, verified on WeChat Pay's time.
	checks := map[string]int{config.APISmartRetail: 10, config.APIServiceOrder: 11}[api]
	if d.fail != 0 || d.ok != checks {
		t.Errorf("%d checks passed, %d failed, want %d and 0:\n%s", d.ok, d.fail, checks, out)
	}
	// The offset is learnt to within a second (timestamps are whole seconds).
	if !regexp.MustCompile(`a CLOCK_SKEW event: the kiosk's clock is (9m59|10m0|10m1)s from`).MatchString(out.String()) {
		t.Errorf("output lacks a CLOCK_SKEW event of about 10m:\n%s", out)
	}
	for _, s := range []string{"status: clock_offset ", "back within",
		"api_base_url_in_use " + d.srv.BackupURL + ", the backup", "an API_DOMAIN_CHANGED event"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	sb := d.srv.Sandbox
	if sb.ClockOffset() != 0 || sb.Faults().Mode != sandbox.FaultNone || sb.Backup().Faults().Mode != sandbox.FaultNone {
		t.Errorf("left the sandbox with clock offset %v, main faults %q, backup faults %q",
			sb.ClockOffset(), sb.Faults().Mode, sb.Backup().Faults().Mode)
	}
	// Each sale completed, not yet paid, on the API's own orders.
	type order struct {
		no, state string
		creates   int
	}
	var orders []order
	wantState := sandbox.StateFinished
	if api == config.APIServiceOrder {
		wantState = sandbox.ServiceOrderDoing + "+" + sandbox.DescMchComplete
		for _, o := range sb.ServiceOrders() {
			orders = append(orders, order{o.OutOrderNo, o.State + "+" + o.StateDescription, o.CreateRequests})
		}
		if n := len(sb.Orders()); n != 0 {
			t.Errorf("the sandbox has %d smart-retail orders, want none", n)
		}
	} else {
		for _, o := range sb.Orders() {
			orders = append(orders, order{o.OutOrderNo, o.State, o.CreateRequests})
		}
		if n := len(sb.ServiceOrders()); n != 0 {
			t.Errorf("the sandbox has %d service orders, want none", n)
		}
	}
	if len(orders) != 2 {
		t.Fatalf("the sandbox has %d orders, want the chapters' 2", len(orders))
	}
	for _, o := range orders {
		if o.state != wantState || o.creates != 1 {
			t.Errorf("%s: %s with %d create requests, want %s with 1", o.no, o.state, o.creates, wantState)
		}
	}
}

// The chapters' checks fail when WeChat Pay cannot be reached at all, and
// the chapters still set the sandbox's clock right and bring the main
// domain back.
func TestDemoChaptersFailWhenNeitherDomainAnswers(t *testing.T) {
	for _, api := range demoAPIs {
		t.Run(api, func(t *testing.T) { testDemoChaptersFailWhenNeitherDomainAnswers(t, api) })
	}
}

func testDemoChaptersFailWhenNeitherDomainAnswers(t *testing.T, api string) {
	d, out := startDemo(t, api)
	sb := d.srv.Sandbox
	if err := errors.Join(sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}),
		sb.Backup().SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})); err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t)
	d.clockOff(ctx)
	if d.fail != 1 || !strings.Contains(out.String(), "FAIL  a sale goes through: created, confirmed, completed (3.50 CNY)") {
		t.Errorf("clock chapter: %d checks failed, want the sale's alone:\n%s", d.fail, out)
	}
	d.mainDomainDown(ctx)
	if d.fail != 2 || !strings.Contains(out.String(), "FAIL  a sale goes through: created, confirmed, completed (4.00 CNY)") {
		t.Errorf("domain chapter: %d checks failed in all, want the two sales':\n%s", d.fail, out)
	}
	if sb.ClockOffset() != 0 || sb.Faults().Mode != sandbox.FaultNone {
		t.Errorf("left the sandbox with clock offset %v, main faults %q", sb.ClockOffset(), sb.Faults().Mode)
	}
	// The unpaid chapter, which differs most between the APIs, fails at
	// its first step too.
	if err := sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		t.Fatal(err)
	}
	d.unpaid(ctx)
	if d.fail != 3 || !strings.Contains(out.String(), "FAIL  a sale goes through: created, confirmed, completed (5.00 CNY)") {
		t.Errorf("unpaid chapter: %d checks failed in all, want the three sales':\n%s", d.fail, out)
	}
}
