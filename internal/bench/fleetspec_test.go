package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A --fleet spec is read whole, the fleets get the issue's
// targets, and a wrong one says which part is wrong.
func TestAFleetSpecSaysWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		spec            string
		want            FleetOptions
		drain, requests float64
		name            string
	}{
		{"10x50", FleetOptions{Kiosks: 10, Orders: 50, Rate: 100, Burst: 100}, 1.1, 1.3, "fleet_10x50_burst_100"},
		{"100x50,burst=10", FleetOptions{Kiosks: 100, Orders: 50, Rate: 100, Burst: 10}, 1.2, 1.3, "fleet_100x50_burst_10"},
		{"100x50, restart", FleetOptions{Kiosks: 100, Orders: 50, Rate: 100, Burst: 100, Restart: true}, 0, 1.5, "fleet_100x50_burst_100_restarted"},
		{"20x50,rate=30.4,concurrency=2,max-rate=1.5", FleetOptions{Kiosks: 20, Orders: 50, Rate: 30.4, Burst: 30, Concurrency: 2, MaxRate: 1.5},
			0, 0, "fleet_20x50_burst_30_rate_30.4_concurrency_2_max_rate_1.5"},
		{" 3 X 10 , burst = 5 ,rate=0.4, max-rate=0.1", FleetOptions{Kiosks: 3, Orders: 10, Rate: 0.4, Burst: 5, MaxRate: 0.1}, 0, 0, "fleet_3x10_burst_5_rate_0.4_max_rate_0.1"},
		{"3x10,rate=0.4", FleetOptions{Kiosks: 3, Orders: 10, Rate: 0.4, Burst: 1}, 0, 0, "fleet_3x10_burst_1_rate_0.4"},
		{"3x10,rate=64,concurrency=64", FleetOptions{Kiosks: 3, Orders: 10, Rate: 64, Burst: 64, Concurrency: 64}, 0, 0, "fleet_3x10_burst_64_rate_64_concurrency_64"},
	} {
		run, err := parseFleetSpec(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if run.FleetOptions != tc.want || run.drainLimit != tc.drain || run.requestsLimit != tc.requests {
			t.Errorf("%q: %+v, targets %v/%v; want %+v, %v/%v", tc.spec, run.FleetOptions, run.drainLimit, run.requestsLimit, tc.want, tc.drain, tc.requests)
		}
		if got := fleetName(run.FleetOptions); got != tc.name {
			t.Errorf("%q: named %q, want %q", tc.spec, got, tc.name)
		}
	}
	for _, tc := range []struct{ spec, says string }{
		{"10", "kiosks x sales"},
		{"0x50", `kiosks "0"`},
		{"1001x5", `kiosks "1001"`},
		{"10x", `sales ""`},
		{"10x-3", `sales "-3"`},
		{"10x50,rate=0", `rate="0"`},
		{"10x50,rate=NaN", `rate="NaN"`},
		{"10x50,burst=2.5", `burst="2.5"`},
		{"10x50,burst", `burst=""`},
		{"10x50,concurrency=0", `concurrency="0"`},
		{"10x50,restart=yes", "restart takes no value"},
		{"10x50,bursts=10", `"bursts=10"`},
		{"10x2000000", `sales "2000000"`},
		{"10x50,burst=1e19", `burst="1e19"`},
		{"10x50,rate=2e6", `rate="2e6"`},
		{"10x50,rate=+Inf", `rate="+Inf"`},
		{"10x50,concurrency=65", `concurrency="65"`},
		{"10x50,max-rate=0.05", `max-rate="0.05"`},
		{"10x50,", "an empty part"},
		{"10x50,rate=10,rate=20", "rate given twice"},
	} {
		_, err := parseFleetSpec(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: error %v, want one saying %s", tc.spec, err, tc.says)
		}
	}
}

// --fleet runs that fleet alone, --runs times: every run has its rows,
// judged as one run is, and the medians and the count of runs that missed
// a target follow. A command line that cannot run says why and exits 2.
func TestTheBenchRunsOneFleetAsOftenAsAsked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"--json", "--dir", t.TempDir(), "--fleet", "2x4,rate=20,burst=4", "--runs", "2"}, &stdout, &stderr, thisBinary)
	if code != 0 {
		t.Fatalf("bench exited %d\nstderr:\n%s", code, stderr.String())
	}
	rows := map[string]benchRow{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r benchRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON row: %q: %v", line, err)
		}
		rows[r.Name] = r
	}
	const name = "fleet_2x4_burst_4_rate_20"
	for _, want := range []string{name + "_run1_drain", name + "_run2_drain", name + "_run1_lost_duplicated_failed",
		name + "_run2_lost_duplicated_failed", name + "_drain_ratio_median", name + "_requests_per_sale_median", name + "_runs_missing_a_target"} {
		if _, ok := rows[want]; !ok {
			t.Errorf("no row %s", want)
		}
	}
	for n, r := range rows {
		if !strings.HasPrefix(n, name) {
			t.Errorf("row %s: only the fleet asked for should run", n)
		}
		if strings.HasSuffix(n, "_lost_duplicated_failed") && r.Value != 0 {
			t.Errorf("row %s: %v sales lost, duplicated or failed", n, r.Value)
		}
	}
	r1, r2, med := rows[name+"_run1_drain"].Ratio, rows[name+"_run2_drain"].Ratio, rows[name+"_drain_ratio_median"].Value
	if !(med > 0) || med != (r1+r2)/2 {
		t.Errorf("drain median %v, want the mean of the two runs' %v and %v", med, r1, r2)
	}
	missed := 0
	for _, run := range []string{"_run1_", "_run2_"} {
		var of []benchRow
		for n, r := range rows {
			if strings.HasPrefix(n, name+run) {
				of = append(of, r)
			}
		}
		if missedATarget(of) {
			missed++
		}
	}
	if got := rows[name+"_runs_missing_a_target"].Value; got != float64(missed) {
		t.Errorf("runs missing a target: %v, want %d (the runs' own rows)", got, missed)
	}
	if !strings.Contains(stderr.String(), name+": 2 of 2 runs: drain / ideal") {
		t.Errorf("stderr has no summary of the runs:\n%s", stderr.String())
	}

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--runs", "0"}, "--runs 0"},
		{[]string{"--fleet", "10"}, "--fleet"},
		{[]string{"--only", "drain", "--fleet", "2x4"}, `--only "drain" leaves out`},
		{[]string{"fleet"}, `unexpected "fleet"`},
		{[]string{"--fleet="}, "--fleet is empty"},
		{[]string{"--only", "drain,bogus"}, `"bogus" is not a step`},
		{[]string{"--only", "drain", "--runs", "2"}, `--runs repeats the fleets, which --only "drain" leaves out`},
	} {
		var out, errOut bytes.Buffer
		if code := Run(ctx, tc.args, &out, &errOut, thisBinary); code != exitUsage || !strings.Contains(errOut.String(), tc.says) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut.String(), exitUsage, tc.says)
		}
	}
}

// A run missed a target when any of its rows has a target it did not meet:
// "nothing lost" as much as the drain's line.
func TestARunMissesATargetByAnyOfItsRows(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		rows []benchRow
		want bool
	}{
		{nil, false},
		{[]benchRow{{Name: "drain"}, {Name: "lost", OK: &yes}}, false},
		{[]benchRow{{Name: "drain", OK: &yes}, {Name: "lost", OK: &no}}, true},
		{[]benchRow{{Name: "drain", OK: &no}, {Name: "peak"}}, true},
	} {
		if got := missedATarget(tc.rows); got != tc.want {
			t.Errorf("%+v: missed %v, want %v", tc.rows, got, tc.want)
		}
	}
}
