// Package bench is "smartretail bench", the CLI's and no one else's: it
// measures the plugin against floors measured the same way on the same
// machine (BENCHMARKS.md). The binary that runs it must also serve the
// plugin and, given BarePluginArg, the bare plugin (ServeBare).
//
// This file runs the steps and prints their rows; each step has its own
// file (enqueue.go, online.go, start.go), the floors theirs (bare.go,
// sync.go).
package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// benchRow is one line of "smartretail bench": a measurement, what it is
// compared with in the same run, and the target for the ratio.
type benchRow struct {
	Name          string  `json:"name"`
	Value         float64 `json:"value"`
	Unit          string  `json:"unit"`
	Baseline      string  `json:"baseline"`
	BaselineValue float64 `json:"baseline_value"`
	Ratio         float64 `json:"ratio"`
	Target        string  `json:"target"`
	OK            *bool   `json:"ok"`
	limit         float64 // the target's number
	atLeast       bool    // ratio >= limit (else <=)
	zero          bool    // the value must be 0 (a count of what must never happen)
}

// sizes of a run; --quick shrinks them to prove the command works.
type benchSizes struct {
	enqueue, parallel, callers, syncs, online, drain, drainLatencyMS, starts, rssQueued, scaleFill, scaleN int
}

var fullSizes = benchSizes{enqueue: 2000, parallel: 2000, callers: 16, syncs: 2000, online: 200, drain: 5000,
	drainLatencyMS: 20, starts: 10, rssQueued: 10000, scaleFill: 100000, scaleN: 500}
var quickSizes = benchSizes{enqueue: 100, parallel: 160, callers: 16, syncs: 200, online: 20, drain: 100,
	drainLatencyMS: 20, starts: 3, rssQueued: 500, scaleFill: 2000, scaleN: 50}

type bench struct {
	out     io.Writer
	stderr  io.Writer
	sizes   benchSizes
	dir     string
	plugin  string
	self    string
	srv     *sandbox.Server
	base    *config.Config
	seq     atomic.Int64
	rows    []benchRow
	jsonOut bool
	quick   bool
	// fleetSpec: the one fleet --fleet asked for (nil: the standard ones);
	// fleetTimes: how many times each fleet runs (--runs).
	fleetSpec  *fleetRun
	fleetTimes int
}

// exitUsage is the exit code for a command line that cannot be run (the
// CLI's).
const exitUsage = 2

// stepNames are the bench's steps, in the order they run (--only picks).
var stepNames = []string{"enqueue", "online", "drain", "start", "scale", "fleet"}

// flags are the bench's settings, as its command line gives them.
type flags struct {
	quick, json                          bool
	dir, plugin, only, fleet, cpuProfile string
	runs                                 int
}

// newFlags declares the bench's flags, for Run and for the CLI's own check.
func newFlags() (*flag.FlagSet, *flags) {
	f := &flags{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&f.quick, "quick", false, "small sizes: shows the command works, measures little")
	fs.BoolVar(&f.json, "json", false, "one JSON object per row instead of a table")
	fs.StringVar(&f.dir, "dir", "", "folder for outboxes and the fdatasync baseline (default: a new temporary folder)")
	fs.StringVar(&f.plugin, "plugin", os.Getenv("SMARTRETAIL_PLUGIN_PATH"), "smartretail-plugin binary (default: beside this CLI, then PATH, then the CLI itself)")
	fs.StringVar(&f.only, "only", "", "run only these, comma-separated: enqueue, online, drain, start, scale, fleet")
	fs.StringVar(&f.fleet, "fleet", "", "run this fleet instead of the four standard ones (issue 15's targets): NxM (N kiosks, M sales each), then any of ,rate=R ,burst=B ,restart ,concurrency=C ,max-rate=X (e.g. 10x50,burst=10); implies --only fleet, and --quick does not change it")
	fs.IntVar(&f.runs, "runs", 1, "run each fleet this many times: every run is judged, and the medians are added")
	fs.StringVar(&f.cpuProfile, "cpu-profile", "", "write this process's CPU profile (the host side) to this file; SMARTRETAIL_CPU_PROFILE does the same for the plugin")
	return fs, f
}

// Flags are the bench's flags, unparsed: the CLI checks a command line
// against them (and answers -h) before the bench sets anything up.
func Flags() *flag.FlagSet {
	fs, _ := newFlags()
	return fs
}

// Run runs "smartretail bench" with args (its flags) and returns its exit
// code. findPlugin resolves the --plugin flag to the plugin binary, as the
// CLI's other commands do.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, findPlugin func(ctx context.Context, flag string) (string, error)) int {
	fs, f := newFlags()
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	spec, err := f.check(fs)
	if err != nil {
		fmt.Fprintf(stderr, "smartretail bench: %v\n", err)
		return exitUsage
	}
	if f.cpuProfile != "" {
		prof, err := os.Create(f.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "smartretail bench: %v\n", err)
			return 1
		}
		defer prof.Close()
		if err := pprof.StartCPUProfile(prof); err != nil {
			fmt.Fprintf(stderr, "smartretail bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	b := &bench{out: stdout, stderr: stderr, sizes: fullSizes, jsonOut: f.json, quick: f.quick, fleetSpec: spec, fleetTimes: f.runs}
	if f.quick {
		b.sizes = quickSizes
	}
	if err := b.setUp(ctx, f.dir, f.plugin, findPlugin); err != nil {
		fmt.Fprintf(stderr, "smartretail bench: %v\n", err)
		return 1
	}
	defer b.tearDown(f.dir == "")
	steps := map[string]func(context.Context) error{
		"enqueue": b.enqueue, "online": b.onlineCreate, "drain": b.drain, "start": b.start, "scale": b.scale, "fleet": b.fleet,
	}
	failed := false
	for _, name := range stepNames {
		if !f.picks(name) {
			continue
		}
		fmt.Fprintf(stderr, "bench: %s...\n", name)
		if err := steps[name](ctx); err != nil {
			fmt.Fprintf(stderr, "smartretail bench: %s: %v\n", name, err)
			failed = true
		}
	}
	b.print()
	if failed {
		return 1
	}
	return 0
}

// check says whether parsed flags can run, and reads --fleet (nil: the
// standard fleets). A --fleet without --only runs only the fleet step:
// check sets --only to it.
func (f *flags) check(fs *flag.FlagSet) (*fleetRun, error) {
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected %q: every setting is a flag", fs.Arg(0))
	}
	if f.only != "" {
		for _, s := range strings.Split(f.only, ",") {
			if !slices.Contains(stepNames, s) {
				return nil, fmt.Errorf("--only %q: %q is not a step; the steps are %s", f.only, s, strings.Join(stepNames, ", "))
			}
		}
	}
	if f.runs < 1 {
		return nil, fmt.Errorf("--runs %d: want 1 or more", f.runs)
	}
	fleetSet := false
	fs.Visit(func(fl *flag.Flag) { fleetSet = fleetSet || fl.Name == "fleet" })
	if fleetSet && strings.TrimSpace(f.fleet) == "" {
		return nil, fmt.Errorf("--fleet is empty: give a fleet, like 10x50, or leave the flag out")
	}
	var run *fleetRun
	if fleetSet {
		r, err := parseFleetSpec(f.fleet)
		if err != nil {
			return nil, err
		}
		run = &r
		if f.only == "" {
			f.only = "fleet"
		}
	}
	if !f.picks("fleet") {
		switch {
		case run != nil:
			return nil, fmt.Errorf("--fleet runs the fleet step, which --only %q leaves out", f.only)
		case f.runs > 1:
			return nil, fmt.Errorf("--runs repeats the fleets, which --only %q leaves out", f.only)
		}
	}
	return run, nil
}

// picks says whether the bench runs step: every step, or those --only names.
func (f *flags) picks(step string) bool {
	return f.only == "" || slices.Contains(strings.Split(f.only, ","), step)
}

// CheckArgs says what is wrong with a bench command line that parses but
// cannot run (a --fleet it cannot read, --runs 0), without running
// anything: the CLI answers it as it answers every usage error.
func CheckArgs(args []string) error {
	fs, f := newFlags()
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := f.check(fs)
	return err
}

func (b *bench) setUp(ctx context.Context, dir, pluginFlag string, findPlugin func(context.Context, string) (string, error)) error {
	var err error
	if dir == "" {
		if b.dir, err = os.MkdirTemp("", "smartretail-bench-"); err != nil {
			return err
		}
	} else {
		b.dir = dir
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if b.plugin, err = findPlugin(ctx, pluginFlag); err != nil {
		return err
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.srv, err = sandbox.NewServer(sandbox.Options{}); err != nil {
		return err
	}
	path, err := b.srv.WriteConfig(b.dir)
	if err != nil {
		return err
	}
	if b.base, err = config.Load(path); err != nil {
		return err
	}
	b.base.OfflineMaxOrders, b.base.OfflineMaxOrderAmount, b.base.OfflineMaxTotalAmount = 1<<40, 1<<40, 1<<50
	return nil
}

func (b *bench) tearDown(removeDir bool) {
	if b.srv != nil {
		b.srv.Close()
	}
	if removeDir {
		os.RemoveAll(b.dir)
	}
}

// configFor writes a config with its own outbox, pointing at url.
func (b *bench) configFor(name, url string) (string, *config.Config, error) {
	c := *b.base
	c.APIBaseURL = url
	c.OutboxPath = filepath.Join(b.dir, name+".db")
	c.OutboxKeyFile = filepath.Join(b.dir, "outbox.key")
	path := filepath.Join(b.dir, name+".json")
	return path, &c, c.Write(path)
}

// refusedURL is an address nothing listens on: WeChat Pay unreachable.
func refusedURL() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr, nil
}

func (b *bench) startHost(ctx context.Context, cfgPath, pluginPath string, args ...string) (*host.Client, error) {
	return host.Start(ctx, host.Options{PluginPath: pluginPath, PluginArgs: args, ConfigPath: cfgPath,
		Logger: hclog.New(&hclog.LoggerOptions{Output: b.stderr, Level: hclog.Error})})
}

func (b *bench) newOrder() *v1.NewOrder {
	f := false
	return &v1.NewOrder{OutOrderNo: fmt.Sprintf("BN%d-%d", time.Now().Unix()%100000, b.seq.Add(1)), ServiceStartTime: "OnAccept",
		ServiceStartLocation: "K-17", ServiceIntroduction: "智慧零售柜", RiskAmount: 20000, NeedUserConfirm: &f, Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		Fees: []*v1.Fee{{FeeName: "矿泉水", FeeCount: 1, FeeAmount: 300}}}
}

func (b *bench) add(r benchRow) {
	if r.zero {
		ok := r.Value <= 0
		r.Ratio, r.Target, r.OK = r.Value, "<= 0", &ok
	}
	if r.limit > 0 {
		ok := r.Ratio <= r.limit
		r.Target = fmt.Sprintf("<= %g", r.limit)
		if r.atLeast {
			ok = r.Ratio >= r.limit
			r.Target = fmt.Sprintf(">= %g", r.limit)
		}
		r.OK = &ok
	}
	b.rows = append(b.rows, r)
}

func (b *bench) print() {
	if b.jsonOut {
		enc := json.NewEncoder(b.out)
		enc.SetEscapeHTML(false) // ">= 0.4", not "\u003e= 0.4"
		for _, r := range b.rows {
			_ = enc.Encode(r)
		}
		return
	}
	width := 34
	for _, r := range b.rows {
		width = max(width, len(r.Name))
	}
	fmt.Fprintf(b.out, "%-*s %12s %-9s %-32s %12s %7s %-7s %s\n", width, "name", "value", "unit", "baseline", "baseline", "ratio", "target", "ok")
	for _, r := range b.rows {
		base, ratio, ok := "", "", ""
		if r.Baseline != "" {
			base, ratio = fmt.Sprintf("%12.3f", r.BaselineValue), fmt.Sprintf("%7.3f", r.Ratio)
		}
		if r.OK != nil {
			ok = map[bool]string{true: "yes", false: "NO"}[*r.OK]
		}
		fmt.Fprintf(b.out, "%-*s %12.3f %-9s %-32s %12s %7s %-7s %s\n", width, r.Name, r.Value, r.Unit, r.Baseline, base, ratio, r.Target, ok)
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
