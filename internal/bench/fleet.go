package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// A fleet coming back from an outage: N kiosks (real plugins, through
// host.Start) queue M sales each while WeChat Pay cannot be reached, then
// the network comes back at one instant and they all drain into one
// merchant's rate limit (the sandbox's token bucket). What it reports is
// what a merchant feels: how long the fleet took against the ideal (the
// sales over the rate), how many requests each sale cost, the 429s, the
// busiest second, and whether any sale was lost, made twice, or failed.

// FleetOptions describe one run.
type FleetOptions struct {
	Kiosks, Orders int     // N kiosks, M sales each
	Rate           float64 // the merchant's limit, requests a second
	Burst          int     // the bucket's size (0: Rate)
	Concurrency    int     // each kiosk's forward_concurrency (0: the default)
	MaxRate        float64 // each kiosk's forward_max_rate (0: none)
	// Restart: every plugin is stopped while offline and started again at
	// the instant the network comes back (power and network back together).
	Restart bool
	Plugin  string    // the plugin binary
	Dir     string    // outboxes and configs go here
	Log     io.Writer // the plugins' errors, and progress (nil: none)
}

// FleetResult is what came of a run.
type FleetResult struct {
	Kiosks, Orders int // N and M
	Rate           float64
	Burst          int
	Restart        bool
	// Drain: from the network's return to the last sale created at WeChat
	// Pay; Ideal: N x M / Rate.
	Drain, Ideal time.Duration
	// Requests: every request WeChat Pay got after the return (creates,
	// queries, probes), RateLimited the 429s among them.
	Requests, RateLimited int64
	PeakPerSecond         int64
	// MostCreates is the most create requests one sale took.
	MostCreates int
	// Seconds are the requests of each second after the return (and their
	// 429s), from the sandbox's log.
	Seconds []sandbox.SecondOfLog
	// KioskFirst and KioskDrain are, for each kiosk, when its first and
	// its last sale was created: when it found the network back, and when
	// it was done.
	KioskFirst, KioskDrain []time.Duration
	// Lost: sales WeChat Pay never got; Duplicated: sales it made more
	// than one order of (none can be: out_order_no is the key, but the
	// count is made); Failed: sales on a kiosk's failed list.
	Lost, Duplicated, Failed int
}

// RequestsPerOrder is Requests over the fleet's sales.
func (r FleetResult) RequestsPerOrder() float64 {
	return float64(r.Requests) / float64(r.Kiosks*r.Orders)
}

// Ratio is Drain over Ideal.
func (r FleetResult) Ratio() float64 { return r.Drain.Seconds() / r.Ideal.Seconds() }

func (r FleetResult) String() string {
	restart := ""
	if r.Restart {
		restart = ", restarted at recovery"
	}
	return fmt.Sprintf("%d kiosks x %d sales, %g/s burst %d%s: drain %.1fs (ideal %.1fs, x%.2f), %.2f requests/sale, %d 429s, peak %d/s, most creates for a sale %d, lost %d, duplicated %d, failed %d%s",
		r.Kiosks, r.Orders, r.Rate, r.Burst, restart, r.Drain.Seconds(), r.Ideal.Seconds(), r.Ratio(), r.RequestsPerOrder(),
		r.RateLimited, r.PeakPerSecond, r.MostCreates, r.Lost, r.Duplicated, r.Failed, r.kiosks())
}

// kiosks says when the last kiosk got its first sale made, and when the
// kiosks were done; kiosks that got none made are counted apart.
func (r FleetResult) kiosks() string {
	var firsts, dones []time.Duration
	for i, f := range r.KioskFirst {
		if f != math.MaxInt64 && i < len(r.KioskDrain) {
			firsts, dones = append(firsts, f), append(dones, r.KioskDrain[i])
		}
	}
	if len(firsts) == 0 {
		return ""
	}
	none := ""
	if n := len(r.KioskFirst) - len(firsts); n > 0 {
		none = fmt.Sprintf(" (and %d of the kiosks got no sale made)", n)
	}
	return fmt.Sprintf("; the last kiosk to get a sale made got its first at %.1fs, kiosks were done from %.1fs to %.1fs%s",
		slices.Max(firsts).Seconds(), slices.Min(dones).Seconds(), slices.Max(dones).Seconds(), none)
}

// Fleet runs one fleet simulation.
func Fleet(ctx context.Context, o FleetOptions) (FleetResult, error) {
	res := FleetResult{Kiosks: o.Kiosks, Orders: o.Orders, Rate: o.Rate, Burst: o.Burst, Restart: o.Restart,
		Ideal: time.Duration(float64(o.Kiosks*o.Orders) / o.Rate * float64(time.Second))}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	srv, err := sandbox.NewServer(sandbox.Options{})
	if err != nil {
		return res, err
	}
	defer srv.Close()
	base, err := srv.WriteConfig(o.Dir)
	if err != nil {
		return res, err
	}
	cfg, err := config.Load(base)
	if err != nil {
		return res, err
	}
	cfg.OfflineMaxOrders = int64(o.Orders) + 1
	cfg.ForwardConcurrency = int64(o.Concurrency)
	cfg.ForwardMaxRate = o.MaxRate
	cfg.OfflineMaxTotalAmount = int64(o.Orders+1) * 20000
	if err := cfg.Validate(); err != nil { // before a single plugin starts
		return res, fmt.Errorf("the kiosks' config: %w", err)
	}
	paths := make([]string, o.Kiosks)
	for i := range paths {
		c := *cfg
		c.OutboxPath = filepath.Join(o.Dir, fmt.Sprintf("kiosk%03d.db", i))
		c.AdminSocket = ""
		paths[i] = filepath.Join(o.Dir, fmt.Sprintf("kiosk%03d.json", i))
		if err := c.Write(paths[i]); err != nil {
			return res, err
		}
	}
	start := func(i int) (*host.Client, error) {
		return host.Start(ctx, host.Options{PluginPath: o.Plugin, ConfigPath: paths[i],
			Logger: hclog.New(&hclog.LoggerOptions{Output: logw, Level: hclog.Error, Name: fmt.Sprintf("kiosk%03d", i)})})
	}
	kiosks := make([]*host.Client, o.Kiosks)
	defer func() {
		for _, k := range kiosks {
			if k != nil {
				k.Close()
			}
		}
	}()
	// Offline: every kiosk up, then every sale queued.
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}); err != nil {
		return res, err
	}
	if err := eachKiosk(o.Kiosks, func(i int) (err error) {
		kiosks[i], err = start(i)
		return err
	}); err != nil {
		return res, fmt.Errorf("starting the fleet: %w", err)
	}
	fmt.Fprintf(logw, "fleet: %d kiosks started; queuing %d sales each\n", o.Kiosks, o.Orders)
	if err := eachKiosk(o.Kiosks, func(i int) error {
		for j := 0; j < o.Orders; j++ {
			f := false
			order := &v1.NewOrder{OutOrderNo: fmt.Sprintf("F%03d-%04d", i, j), ServiceStartTime: "OnAccept",
				ServiceStartLocation: "K-17", ServiceIntroduction: "智慧零售柜", RiskAmount: 20000, NeedUserConfirm: &f,
				Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
			r, err := kiosks[i].CreateOrder(ctx, &v1.CreateOrderRequest{Order: order, OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE})
			if err != nil {
				return err
			}
			if r.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
				return fmt.Errorf("sale %s was %v, not queued", order.OutOrderNo, r.GetDisposition())
			}
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("queuing: %w", err)
	}
	if o.Restart {
		for i, k := range kiosks {
			k.Close()
			kiosks[i] = nil
		}
	}
	if err := srv.Sandbox.SetRateLimit(sandbox.RateLimit{Rate: o.Rate, Burst: o.Burst}); err != nil {
		return res, err
	}
	res.Burst = srv.Sandbox.RateLimit().Burst

	// The network comes back.
	fmt.Fprintf(logw, "fleet: the network comes back\n")
	srv.Sandbox.ResetRequestLog()
	back := time.Now()
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone}); err != nil {
		return res, err
	}
	if o.Restart {
		if err := eachKiosk(o.Kiosks, func(i int) (err error) {
			kiosks[i], err = start(i)
			return err
		}); err != nil {
			return res, fmt.Errorf("restarting the fleet: %w", err)
		}
	}
	want := o.Kiosks * o.Orders
	limit := 10*res.Ideal + time.Minute
	for {
		if n := len(srv.Sandbox.Orders()); n >= want {
			break
		}
		if time.Since(back) > limit {
			break // what is missing is counted lost
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Each kiosk settles its records (the last answers written), then the
	// figures are read.
	var failedMu sync.Mutex
	if err := eachKiosk(o.Kiosks, func(i int) error {
		for time.Since(back) < limit {
			st, err := kiosks[i].GetStatus(ctx, &v1.GetStatusRequest{})
			if err != nil {
				return err
			}
			if st.GetPendingCount() == 0 {
				failedMu.Lock()
				res.Failed += int(st.GetFailedCount())
				failedMu.Unlock()
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}); err != nil {
		return res, err
	}
	log := srv.Sandbox.RequestLog()
	res.Requests, res.RateLimited, res.PeakPerSecond, res.Seconds = log.Requests, log.RateLimited, log.PeakPerSecond, log.Seconds
	for _, n := range log.Creates {
		res.MostCreates = max(res.MostCreates, n)
	}
	seen := map[string]bool{}
	var last time.Time
	res.KioskDrain = make([]time.Duration, o.Kiosks)
	res.KioskFirst = make([]time.Duration, o.Kiosks)
	for i := range res.KioskFirst {
		res.KioskFirst[i] = math.MaxInt64
	}
	for _, so := range srv.Sandbox.Orders() {
		var k, j int
		if _, err := fmt.Sscanf(so.OutOrderNo, "F%03d-%04d", &k, &j); err == nil && k < o.Kiosks {
			res.KioskDrain[k] = max(res.KioskDrain[k], so.CreatedAt.Sub(back))
			res.KioskFirst[k] = min(res.KioskFirst[k], so.CreatedAt.Sub(back))
		}
		if seen[so.OutOrderNo] {
			res.Duplicated++
		}
		seen[so.OutOrderNo] = true
		if so.CreatedAt.After(last) {
			last = so.CreatedAt
		}
	}
	res.Lost = want - len(seen)
	res.Drain = drainTime(back, last, time.Now())
	return res, nil
}

// drainTime is the drain from the network's return (back) to the last sale
// made (last), or to now when none was: the whole wait, not a drain back to
// the year 1.
func drainTime(back, last, now time.Time) time.Duration {
	if last.IsZero() {
		return now.Sub(back)
	}
	return last.Sub(back)
}

// eachKiosk runs fn for kiosks 0..n-1 at once, and returns the first error.
func eachKiosk(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var first firstError
	sem := make(chan struct{}, 16) // starting 100 processes at once helps nobody
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				first.set(fmt.Errorf("kiosk %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	return first.get()
}

// fleetDir makes a folder for one run under dir.
func fleetDir(dir, name string) (string, error) {
	d := filepath.Join(dir, name)
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, os.MkdirAll(d, 0o700)
}

// fleetRun is one fleet of the bench, and its targets (0: none).
type fleetRun struct {
	FleetOptions
	drainLimit, requestsLimit float64
}

func fleetRuns(quick bool) []fleetRun {
	if quick {
		return []fleetRun{
			{FleetOptions: FleetOptions{Kiosks: 3, Orders: 10, Rate: 20, Burst: 5}, requestsLimit: 1.5},
			{FleetOptions: FleetOptions{Kiosks: 3, Orders: 10, Rate: 20, Burst: 5, Restart: true}, requestsLimit: 1.5},
		}
	}
	// Issue 15's targets, on a merchant limit of 100 requests a second.
	return []fleetRun{
		{FleetOptions: FleetOptions{Kiosks: 100, Orders: 50, Rate: 100, Burst: 100}, drainLimit: 1.15, requestsLimit: 1.3},
		{FleetOptions: FleetOptions{Kiosks: 100, Orders: 50, Rate: 100, Burst: 10}, drainLimit: 1.2, requestsLimit: 1.3},
		{FleetOptions: FleetOptions{Kiosks: 100, Orders: 50, Rate: 100, Burst: 100, Restart: true}, requestsLimit: 1.5},
		{FleetOptions: FleetOptions{Kiosks: 10, Orders: 50, Rate: 100, Burst: 100}, drainLimit: 1.1, requestsLimit: 1.3},
	}
}

// fleet runs the fleets and adds their rows.
func (b *bench) fleet(ctx context.Context) error {
	runs := fleetRuns(b.quick)
	if b.fleetSpec != nil {
		runs = []fleetRun{*b.fleetSpec}
	}
	for _, run := range runs {
		if err := b.fleetRepeated(ctx, run); err != nil {
			return err
		}
	}
	return nil
}

// fleetRepeated runs one fleet b.fleetTimes times. Each run has its rows,
// judged against the fleet's targets as a single run is; with more than
// one, a line on stderr and three rows more say how the runs spread and
// how many missed a target (nothing lost, duplicated or failed is a target
// of every fleet).
func (b *bench) fleetRepeated(ctx context.Context, run fleetRun) error {
	name := fleetName(run.FleetOptions)
	times := max(1, b.fleetTimes)
	var ratios, perSale []float64
	missed := 0
	summary := func() {
		if times == 1 || len(ratios) == 0 {
			return
		}
		fmt.Fprintf(b.stderr, "bench: %s: %d of %d runs: drain / ideal %.2f-%.2f, median %.2f; requests a sale %.2f-%.2f, median %.2f; %d missed a target\n",
			name, len(ratios), times, slices.Min(ratios), slices.Max(ratios), median(ratios), slices.Min(perSale), slices.Max(perSale), median(perSale), missed)
		b.add(benchRow{Name: name + "_drain_ratio_median", Value: median(ratios), Unit: "x ideal"})
		b.add(benchRow{Name: name + "_requests_per_sale_median", Value: median(perSale), Unit: "requests"})
		b.add(benchRow{Name: name + "_runs_missing_a_target", Value: float64(missed), Unit: "runs"})
	}
	defer summary() // the runs that finished, even when a later one failed
	for i := 1; i <= times; i++ {
		rowName := name
		if times > 1 {
			rowName = fmt.Sprintf("%s_run%d", name, i)
		}
		first := len(b.rows)
		r, err := b.fleetOnce(ctx, run, rowName)
		if err != nil {
			return err
		}
		ratios, perSale = append(ratios, r.Ratio()), append(perSale, r.RequestsPerOrder())
		if missedATarget(b.rows[first:]) {
			missed++
		}
	}
	return nil
}

// missedATarget says whether any of rows has a target it did not meet.
func missedATarget(rows []benchRow) bool {
	return slices.ContainsFunc(rows, func(r benchRow) bool { return r.OK != nil && !*r.OK })
}

// fleetOnce runs the fleet once and adds its rows, named rowName_...
func (b *bench) fleetOnce(ctx context.Context, run fleetRun, rowName string) (FleetResult, error) {
	o := run.FleetOptions
	dir, err := fleetDir(b.dir, rowName)
	if err != nil {
		return FleetResult{}, err
	}
	o.Plugin, o.Dir, o.Log = b.plugin, dir, b.stderr
	r, err := Fleet(ctx, o)
	if err != nil {
		return r, fmt.Errorf("%s: %w", rowName, err)
	}
	fmt.Fprintf(b.stderr, "bench: %s: %v\n", rowName, r)
	b.add(benchRow{Name: rowName + "_drain", Value: r.Drain.Seconds(), Unit: "s", Baseline: "sales / rate limit",
		BaselineValue: r.Ideal.Seconds(), Ratio: r.Ratio(), limit: run.drainLimit})
	b.add(benchRow{Name: rowName + "_requests_per_sale", Value: r.RequestsPerOrder(), Unit: "requests", Baseline: "one request a sale",
		BaselineValue: 1, Ratio: r.RequestsPerOrder(), limit: run.requestsLimit})
	b.add(benchRow{Name: rowName + "_429s", Value: float64(r.RateLimited), Unit: "requests"})
	b.add(benchRow{Name: rowName + "_peak", Value: float64(r.PeakPerSecond), Unit: "requests/s", Baseline: "rate limit",
		BaselineValue: o.Rate, Ratio: float64(r.PeakPerSecond) / o.Rate})
	b.add(benchRow{Name: rowName + "_most_creates_for_a_sale", Value: float64(r.MostCreates), Unit: "requests"})
	b.add(benchRow{Name: rowName + "_lost_duplicated_failed", Value: float64(r.Lost + r.Duplicated + r.Failed), Unit: "sales", zero: true})
	return r, nil
}

// median of xs (not empty), without reordering them.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
