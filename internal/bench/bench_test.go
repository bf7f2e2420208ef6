package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// TestMain lets the bench run here as in the CLI: this test binary, started
// by go-plugin, is the plugin or, given BarePluginArg, the bare plugin.
func TestMain(m *testing.M) {
	if plugin.IsPluginLaunch() {
		if len(os.Args) > 1 && os.Args[1] == BarePluginArg {
			ServeBare(os.Args[2:])
			return
		}
		plugin.Serve()
		return
	}
	os.Exit(m.Run())
}

// thisBinary is the plugin the bench starts: this test binary.
func thisBinary(context.Context, string) (string, error) { return os.Executable() }

// The bench's JSON rows keep the contract scripts read: every field in
// every row; every row named, unitted and valued; a ratio that is its value
// over its baseline's; ok present exactly when there is a target, and
// saying whether the ratio meets it; and every row there, the floors
// included. The numbers themselves are not judged: --quick sizes measure
// little, and timings never fail a test.
func TestBenchJSONRows(t *testing.T) {
	// Its own deadline, not the CLI tests' minute: under -race on a slow machine
	// the quick run takes half of that.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"--quick", "--json", "--dir", t.TempDir()}, &stdout, &stderr, thisBinary)
	out, errOut := stdout.String(), stderr.String()
	if code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	want := map[string]bool{}
	for _, name := range []string{
		"enqueue_median", "enqueue_p99", "enqueue_rate", "enqueue_rate_16_callers",
		"fdatasync_rate", "fdatasync_rate_slowest_turn", "fdatasync_rate_fastest_turn", "fdatasync_rate_preallocated",
		"enqueue_rate_bare_plugin", "enqueue_rate_vs_bare_plugin", "enqueue_rate_one_sync_plugin",
		"grpc_roundtrip_median", "bbolt_commit_rate",
		"online_create_median", "online_create_bare_plugin_median", "online_create_vs_bare_plugin",
		"drain_100_at_20ms", "bare_drain_100_at_20ms", "drain_vs_bare_drain", "bare_create_at_20ms_median",
		"start_median", "start_median_with_500_queued", "enqueue_median_with_2000_queued",
		"fleet_3x10_burst_5_rate_20_drain", "fleet_3x10_burst_5_rate_20_requests_per_sale", "fleet_3x10_burst_5_rate_20_429s",
		"fleet_3x10_burst_5_rate_20_peak", "fleet_3x10_burst_5_rate_20_most_creates_for_a_sale", "fleet_3x10_burst_5_rate_20_lost_duplicated_failed",
		"fleet_3x10_burst_5_rate_20_restarted_drain", "fleet_3x10_burst_5_rate_20_restarted_lost_duplicated_failed",
	} {
		want[name] = true
	}
	if runtime.GOOS == "linux" { // resident memory is read from /proc
		want["rss_idle"], want["rss_500_queued"] = true, true
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("not a JSON row: %q: %v", line, err)
		}
		for _, k := range []string{"name", "value", "unit", "baseline", "baseline_value", "ratio", "target", "ok"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("row %s has no %q", line, k)
			}
		}
		var r benchRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		delete(want, r.Name)
		// Counts (of requests, of sales) may be 0; measures are positive.
		count := r.Unit == "requests" || r.Unit == "sales"
		if r.Name == "" || r.Unit == "" || !(r.Value > 0 || count && r.Value == 0) {
			t.Errorf("row %s: needs a name, a unit and a positive value", line)
		}
		if r.Baseline != "" {
			if !(r.BaselineValue > 0) || math.Abs(r.Ratio-r.Value/r.BaselineValue) > 1e-6*r.Ratio {
				t.Errorf("row %s: ratio %g is not value/baseline_value = %g", r.Name, r.Ratio, r.Value/r.BaselineValue)
			}
		}
		switch {
		case r.Target == "" && r.OK != nil, r.Target != "" && r.OK == nil:
			t.Errorf("row %s: target %q with ok %v", r.Name, r.Target, r.OK)
		case strings.HasPrefix(r.Target, ">= "), strings.HasPrefix(r.Target, "<= "):
			var limit float64
			if err := json.Unmarshal([]byte(r.Target[3:]), &limit); err != nil {
				t.Fatalf("row %s: target %q: %v", r.Name, r.Target, err)
			}
			met := r.Ratio <= limit
			if r.Target[0] == '>' {
				met = r.Ratio >= limit
			}
			if *r.OK != met {
				t.Errorf("row %s: ratio %g, target %s, ok %v", r.Name, r.Ratio, r.Target, *r.OK)
			}
		case r.Target != "":
			t.Errorf("row %s: target %q is neither >= nor <=", r.Name, r.Target)
		}
	}
	for name := range want {
		t.Errorf("no row %s", name)
	}
}

// The baselines and the bare plugins write records the size of ours: the
// record the plugin really stores for one of the bench's orders.
func TestBenchRecordSizeIsOurs(t *testing.T) {
	path, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{base: cfg}
	// On a clock that does not move, the forwarder's first attempt waits
	// its start hold for ever: the record is read as the create stored it,
	// not as the forwarder changed it by sending it (the hold is short).
	svc := plugin.NewService(nil, plugin.WithClock(stillClock{time.Now()}))
	if _, err := svc.Configure(context.Background(), &v1.ConfigureRequest{Config: cfg.Proto()}); err != nil {
		t.Fatal(err)
	}
	order := b.newOrder()
	if _, err := svc.CreateOrder(context.Background(), &v1.CreateOrderRequest{Order: order,
		OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(cfg.OutboxPath, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored int
	if err := db.View(func(tx *bolt.Tx) error {
		stored = len(tx.Bucket([]byte("orders")).Get([]byte(order.GetOutOrderNo())))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Widths that vary between two records of the same order: two times
	// (up to ten characters of fraction each), the sequence number, and
	// the out_order_no twice: 27 bytes at most.
	if got := b.recordSize(); stored == 0 || got < stored-32 || got > stored+32 {
		t.Errorf("recordSize %d, the plugin stored %d bytes", got, stored)
	}
}

// stillClock is a clock.Source that does not move.
type stillClock struct{ at time.Time }

func (c stillClock) Now() time.Time         { return c.at }
func (c stillClock) Elapsed() time.Duration { return 0 }
