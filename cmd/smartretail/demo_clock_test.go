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
)

// startDemo sets the demo up as `smartretail demo` does, the plugin being
// this test binary.
func startDemo(t *testing.T) (*demo, *bytes.Buffer) {
	t.Helper()
	out := new(bytes.Buffer)
	d := &demo{out: out}
	t.Cleanup(d.tearDown)
	if err := d.setUp(testkit.Context(t), "", false, io.Discard); err != nil {
		t.Fatalf("setUp: %v\n%s", err, out)
	}
	return d, out
}

// The clock and domain chapters pass, each step a check, and leave the
// sandbox as they found it: its clock right, both domains answering.
func TestDemoClockAndDomainChapters(t *testing.T) {
	d, out := startDemo(t)
	ctx := testkit.Context(t)
	d.clockOff(ctx)
	d.mainDomainDown(ctx)
	if d.fail != 0 || d.ok != 10 {
		t.Errorf("%d checks passed, %d failed, want 10 and 0:\n%s", d.ok, d.fail, out)
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
	orders := sb.Orders()
	if len(orders) != 2 {
		t.Fatalf("the sandbox has %d orders, want the chapters' 2", len(orders))
	}
	for _, o := range orders {
		if o.State != sandbox.StateFinished || o.CreateRequests != 1 {
			t.Errorf("%s: %s with %d create requests, want FINISHED with 1", o.OutOrderNo, o.State, o.CreateRequests)
		}
	}
}

// The chapters' checks fail when WeChat Pay cannot be reached at all, and
// the chapters still set the sandbox's clock right and bring the main
// domain back.
func TestDemoChaptersFailWhenNeitherDomainAnswers(t *testing.T) {
	d, out := startDemo(t)
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
}
