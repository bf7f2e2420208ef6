package bench

// The start step: start-up time against the bare plugin, and memory.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// startOnce is host.Start until the first GetStatus answers.
func (b *bench) startOnce(ctx context.Context, path string, args ...string) (time.Duration, error) {
	s := time.Now()
	c, err := b.startHost(ctx, path, b.self, args...)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.GetStatus(ctx, &v1.GetStatusRequest{}); err != nil {
		return 0, err
	}
	return time.Since(s), nil
}

func (b *bench) start(ctx context.Context) error {
	url, err := refusedURL()
	if err != nil {
		return err
	}
	path, cfg, err := b.configFor("start", url)
	if err != nil {
		return err
	}
	// The same binary both times: the CLI, as the plugin and as the bare
	// plugin, whose start does nothing but go-plugin's own.
	var real, bare []time.Duration
	for i := 0; i < b.sizes.starts; i++ {
		d, err := b.startOnce(ctx, path)
		if err != nil {
			return err
		}
		n, err := b.startOnce(ctx, path, BarePluginArg)
		if err != nil {
			return err
		}
		real, bare = append(real, d), append(bare, n)
	}
	rm, nm := percentile(real, 50), percentile(bare, 50)
	b.add(benchRow{Name: "start_median", Value: ms(rm), Unit: "ms", Baseline: "bare_plugin_median", BaselineValue: ms(nm),
		Ratio: float64(rm) / float64(nm), limit: 1.5})

	// Resident memory (read from /proc, so Linux only), idle and with
	// rssQueued orders waiting; and the start a kiosk makes with those
	// orders waiting after an outage, every one of them read and checked.
	rss := func() (float64, error) {
		c, err := b.startHost(ctx, path, b.plugin)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		if _, err := c.GetStatus(ctx, &v1.GetStatusRequest{}); err != nil {
			return 0, err
		}
		return rssMiB(c.PID())
	}
	linux := runtime.GOOS == "linux"
	if linux {
		idle, err := rss()
		if err != nil {
			return err
		}
		b.add(benchRow{Name: "rss_idle", Value: idle, Unit: "MiB", Baseline: "target", BaselineValue: 40, Ratio: idle / 40, limit: 1})
	}
	if err := b.prefill(cfg, b.sizes.rssQueued); err != nil {
		return err
	}
	var queued []time.Duration
	for i := 0; i < b.sizes.starts; i++ {
		d, err := b.startOnce(ctx, path)
		if err != nil {
			return err
		}
		queued = append(queued, d)
	}
	qm := percentile(queued, 50)
	b.add(benchRow{Name: fmt.Sprintf("start_median_with_%d_queued", b.sizes.rssQueued), Value: ms(qm), Unit: "ms",
		Baseline: "start_median", BaselineValue: ms(rm), Ratio: float64(qm) / float64(rm)})
	if linux {
		full, err := rss()
		if err != nil {
			return err
		}
		b.add(benchRow{Name: fmt.Sprintf("rss_%d_queued", b.sizes.rssQueued), Value: full, Unit: "MiB", Baseline: "target",
			BaselineValue: 64, Ratio: full / 64, limit: 1})
	}
	return nil
}

// rssMiB reads a process's resident set from /proc.
func rssMiB(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
