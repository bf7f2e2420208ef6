package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
)

// The fleet spec of --fleet: one fleet to run instead of the four standard
// ones, "NxM" (N kiosks, M sales each) then, comma-separated, rate=R (the
// merchant's limit, requests a second; 100 unless said), burst=B (the
// bucket; the rate, rounded, unless said, as the sandbox has it), restart,
// concurrency=C (each kiosk's forward_concurrency), max-rate=X (each
// kiosk's forward_max_rate). The bounds are the sandbox's and the
// config's, checked here so that a wrong spec is refused before a single
// plugin starts.

// maxFleetKiosks bounds N: each kiosk is a plugin process on this machine;
// maxFleetSales bounds M, so that the sales' amounts and the ideal drain
// stay far from overflowing.
const (
	maxFleetKiosks = 1000
	maxFleetSales  = 1_000_000
)

// parseFleetSpec reads a --fleet spec; the error names the part that is
// wrong. The fleet gets the targets of the standard fleet it is, if it is
// one (issue 15's), and none but "nothing lost" otherwise.
func parseFleetSpec(spec string) (fleetRun, error) {
	var run fleetRun
	o := &run.FleetOptions
	bad := func(format string, args ...any) (fleetRun, error) {
		return run, fmt.Errorf("--fleet %q: %s", spec, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(spec, ",")
	n, m, ok := strings.Cut(strings.ToLower(strings.TrimSpace(parts[0])), "x")
	if !ok {
		return bad("begins with kiosks x sales, like 10x50")
	}
	var err error
	n, m = strings.TrimSpace(n), strings.TrimSpace(m)
	if o.Kiosks, err = strconv.Atoi(n); err != nil || o.Kiosks < 1 || o.Kiosks > maxFleetKiosks {
		return bad("kiosks %q: want a whole number from 1 to %d", n, maxFleetKiosks)
	}
	if o.Orders, err = strconv.Atoi(m); err != nil || o.Orders < 1 || o.Orders > maxFleetSales {
		return bad("sales %q: want a whole number from 1 to %d", m, maxFleetSales)
	}
	o.Rate = 100
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		key, val, hasVal := strings.Cut(p, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "" {
			return bad("an empty part: want rate=, burst=, restart, concurrency= or max-rate= between the commas")
		}
		if seen[key] {
			return bad("%s given twice", key)
		}
		seen[key] = true
		// number reads val as a number from lo to hi, whole if asked.
		number := func(lo, hi float64, whole bool) (float64, error) {
			f, err := strconv.ParseFloat(val, 64)
			if !hasVal || err != nil || !(f >= lo && f <= hi) || whole && f != math.Trunc(f) {
				kind := "a number"
				if whole {
					kind = "a whole number"
				}
				return 0, fmt.Errorf("--fleet %q: %s=%q: want %s from %g to %g", spec, key, val, kind, lo, hi)
			}
			return f, nil
		}
		switch key {
		case "rate":
			if o.Rate, err = number(0.1, sandbox.MaxRateLimit, false); err != nil {
				return run, err
			}
		case "burst":
			b, err := number(1, sandbox.MaxRateLimit, true)
			if err != nil {
				return run, err
			}
			o.Burst = int(b)
		case "concurrency":
			c, err := number(1, config.MaxForwardConcurrency, true)
			if err != nil {
				return run, err
			}
			o.Concurrency = int(c)
		case "max-rate":
			if o.MaxRate, err = number(config.MinForwardMaxRate, sandbox.MaxRateLimit, false); err != nil {
				return run, err
			}
		case "restart":
			if hasVal {
				return bad("restart takes no value")
			}
			o.Restart = true
		default:
			return bad("%q: want rate=, burst=, restart, concurrency= or max-rate=", strings.TrimSpace(p))
		}
	}
	if o.Burst == 0 {
		o.Burst = int(math.Max(1, math.Round(o.Rate))) // the sandbox's default
	}
	for _, f := range fleetRuns(false) {
		if f.FleetOptions == *o {
			run.drainLimit, run.requestsLimit = f.drainLimit, f.requestsLimit
		}
	}
	return run, nil
}

// fleetName names a fleet's rows: what it is made of, the defaults left out.
func fleetName(o FleetOptions) string {
	name := fmt.Sprintf("fleet_%dx%d_burst_%d", o.Kiosks, o.Orders, o.Burst)
	if o.Rate != 100 {
		name += fmt.Sprintf("_rate_%g", o.Rate)
	}
	if o.Concurrency > 0 {
		name += fmt.Sprintf("_concurrency_%d", o.Concurrency)
	}
	if o.MaxRate > 0 {
		name += fmt.Sprintf("_max_rate_%g", o.MaxRate)
	}
	if o.Restart {
		name += "_restarted"
	}
	return name
}
