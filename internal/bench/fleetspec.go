package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The fleet spec of --fleet: one fleet to run instead of the four,
// "NxM" (N kiosks, M sales each) then, comma-separated, rate=R (the
// merchant's limit, requests a second; 100 unless said), burst=B (the
// bucket; the rate unless said), restart, concurrency=C (each kiosk's
// forward_concurrency), max-rate=X (each kiosk's forward_max_rate).

// maxFleetKiosks bounds N: each kiosk is a plugin process on this machine.
const maxFleetKiosks = 1000

// parseFleetSpec reads a --fleet spec; the error names the part that is
// wrong. The fleet gets the targets when it is one of the issue's
// fleets, and none otherwise.
func parseFleetSpec(spec string) (fleetRun, error) {
	parts := strings.Split(strings.TrimSpace(spec), ",")
	var run fleetRun
	o := &run.FleetOptions
	n, m, ok := strings.Cut(strings.TrimSpace(parts[0]), "x")
	if !ok {
		return run, fmt.Errorf("--fleet %q: begins with kiosks x sales, like 10x50", spec)
	}
	var err error
	if o.Kiosks, err = strconv.Atoi(n); err != nil || o.Kiosks < 1 || o.Kiosks > maxFleetKiosks {
		return run, fmt.Errorf("--fleet %q: kiosks %q: want a whole number from 1 to %d", spec, n, maxFleetKiosks)
	}
	if o.Orders, err = strconv.Atoi(m); err != nil || o.Orders < 1 {
		return run, fmt.Errorf("--fleet %q: sales %q: want a whole number of 1 or more", spec, m)
	}
	o.Rate = 100
	for _, p := range parts[1:] {
		key, val, hasVal := strings.Cut(strings.TrimSpace(p), "=")
		number := func(min float64) (float64, error) {
			f, err := strconv.ParseFloat(val, 64)
			if !hasVal || err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < min {
				return 0, fmt.Errorf("--fleet %q: %s=%q: want a number of %g or more", spec, key, val, min)
			}
			return f, nil
		}
		switch key {
		case "rate":
			if o.Rate, err = number(0.1); err != nil {
				return run, err
			}
		case "burst":
			b, err := number(1)
			if err != nil || b != math.Trunc(b) {
				return run, fmt.Errorf("--fleet %q: burst=%q: want a whole number of 1 or more", spec, val)
			}
			o.Burst = int(b)
		case "concurrency":
			c, err := number(1)
			if err != nil || c != math.Trunc(c) {
				return run, fmt.Errorf("--fleet %q: concurrency=%q: want a whole number of 1 or more", spec, val)
			}
			o.Concurrency = int(c)
		case "max-rate":
			if o.MaxRate, err = number(0.5); err != nil {
				return run, err
			}
		case "restart":
			if hasVal {
				return run, fmt.Errorf("--fleet %q: restart takes no value", spec)
			}
			o.Restart = true
		default:
			return run, fmt.Errorf("--fleet %q: %q: want rate=, burst=, restart, concurrency= or max-rate=", spec, p)
		}
	}
	if o.Burst == 0 {
		o.Burst = int(math.Ceil(o.Rate))
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
