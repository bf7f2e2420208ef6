package bench

// The enqueue and scale steps: offline sales through the plugin into its
// outbox, against fdatasync and the bare plugins.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// enqueueOnce is one FORCE_OFFLINE create through host -> plugin -> outbox.
func (b *bench) enqueueOnce(ctx context.Context, c *host.Client) (time.Duration, error) {
	start := time.Now()
	resp, err := c.CreateOrder(ctx, &v1.CreateOrderRequest{Order: b.newOrder(), OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE})
	if err == nil && resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		err = fmt.Errorf("disposition %v", resp.GetDisposition())
	}
	return time.Since(start), err
}

func (b *bench) enqueueSerial(ctx context.Context, c *host.Client, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		d, err := b.enqueueOnce(ctx, c)
		if err != nil {
			return nil, err
		}
		lat = append(lat, d)
	}
	return lat, nil
}

// recordSize is the size of the sealed record the plugin stores for one of
// the bench's queued orders (its create body as sent to WeChat Pay, in the
// order's record), for the baselines and the bare plugins.
func (b *bench) recordSize() int {
	n := b.newOrder()
	body, _ := json.Marshal(createRequest(b.base.AppID, b.base.ServiceID, n))
	since := clock.New(nil).Stamp()
	o := outbox.Order{OutOrderNo: n.GetOutOrderNo(), Seq: 1000, Version: 1, StoredAt: time.Now(), Amount: n.GetRiskAmount(),
		Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: body, State: outbox.OpPending, AddedAt: time.Now()}}, Since: &since}
	rec, _ := json.Marshal(o)
	return len(rec) + 29 // sealing: version, nonce, tag
}

// bareArgs start a bare plugin that pads its records to our record's size.
func (b *bench) bareArgs(more ...string) []string {
	return append([]string{BarePluginArg, recordSizeArg + strconv.Itoa(b.recordSize())}, more...)
}

func (b *bench) enqueue(ctx context.Context) error {
	url, err := refusedURL()
	if err != nil {
		return err
	}
	path, _, err := b.configFor("enqueue", url)
	if err != nil {
		return err
	}
	c, err := b.startHost(ctx, path, b.plugin)
	if err != nil {
		return err
	}
	defer c.Close()
	// Bare plugins beside it: go-plugin and one bbolt commit, nothing else;
	// and go-plugin and one write + fdatasync into preallocated space, the
	// least a durable store behind go-plugin can do.
	bare, err := b.startHost(ctx, path, b.self, b.bareArgs()...)
	if err != nil {
		return err
	}
	defer bare.Close()
	oneSync, err := b.startHost(ctx, path, b.self, b.bareArgs(oneSyncArg)...)
	if err != nil {
		return err
	}
	defer oneSync.Close()
	// Let the forwarder find WeChat Pay unreachable first, so it is quiet.
	for _, h := range []*host.Client{c, bare, oneSync} {
		if _, err := b.enqueueOnce(ctx, h); err != nil {
			return err
		}
	}
	time.Sleep(200 * time.Millisecond)
	// The physical limit: a record of the same size appended and
	// fdatasynced, as the targets name it; and overwritten in preallocated
	// space, which a disk does faster (no size to record).
	appended, err := newSyncProbe(b.dir, b.recordSize(), false)
	if err != nil {
		return err
	}
	defer appended.close()
	prealloc, err := newSyncProbe(b.dir, b.recordSize(), true)
	if err != nil {
		return err
	}
	defer prealloc.close()

	// Everything takes turns in small runs, so that a disk or machine that
	// speeds up or slows down meanwhile weighs on all alike.
	var lat, bareLat, syncLat []time.Duration
	const turn = 50
	for len(lat) < b.sizes.enqueue {
		n := min(turn, b.sizes.enqueue-len(lat))
		l, err := b.enqueueSerial(ctx, c, n)
		if err != nil {
			return err
		}
		bl, err := b.enqueueSerial(ctx, bare, n)
		if err != nil {
			return fmt.Errorf("bare plugin: %w", err)
		}
		sl, err := b.enqueueSerial(ctx, oneSync, n)
		if err != nil {
			return fmt.Errorf("one-sync plugin: %w", err)
		}
		if err := appended.run(n); err != nil {
			return err
		}
		if err := prealloc.run(n); err != nil {
			return err
		}
		lat, bareLat, syncLat = append(lat, l...), append(bareLat, bl...), append(syncLat, sl...)
	}

	// 16 callers at once: the group commit, in rounds between the same syncs.
	const rounds = 4
	var parallelTook time.Duration
	parallelN := 0
	for r := 0; r < rounds; r++ {
		d, n, err := b.enqueueParallel(ctx, c, b.sizes.parallel/rounds, b.sizes.callers)
		if err != nil {
			return err
		}
		parallelTook, parallelN = parallelTook+d, parallelN+n
		if err := appended.run(b.sizes.syncs / rounds / 4); err != nil {
			return err
		}
	}

	syncRate := appended.rate()
	rate := float64(len(lat)) / sum(lat).Seconds()
	bareRate, oneSyncRate := float64(len(bareLat))/sum(bareLat).Seconds(), float64(len(syncLat))/sum(syncLat).Seconds()
	prate := float64(parallelN) / parallelTook.Seconds()
	b.add(benchRow{Name: "enqueue_median", Value: ms(percentile(lat, 50)), Unit: "ms"})
	b.add(benchRow{Name: "enqueue_p99", Value: ms(percentile(lat, 99)), Unit: "ms"})
	b.add(benchRow{Name: "enqueue_rate", Value: rate, Unit: "orders/s", Baseline: "fdatasync_rate", BaselineValue: syncRate,
		Ratio: rate / syncRate, limit: 0.4, atLeast: true})
	b.add(benchRow{Name: fmt.Sprintf("enqueue_rate_%d_callers", b.sizes.callers), Value: prate, Unit: "orders/s",
		Baseline: "fdatasync_rate", BaselineValue: syncRate, Ratio: prate / syncRate, limit: 1.0, atLeast: true})
	b.add(benchRow{Name: "fdatasync_rate", Value: syncRate, Unit: "syncs/s"})
	b.add(benchRow{Name: "fdatasync_rate_slowest_turn", Value: appended.slowest, Unit: "syncs/s"})
	b.add(benchRow{Name: "fdatasync_rate_fastest_turn", Value: appended.fastest, Unit: "syncs/s"})
	b.add(benchRow{Name: "fdatasync_rate_preallocated", Value: prealloc.rate(), Unit: "syncs/s", Baseline: "fdatasync_rate",
		BaselineValue: syncRate, Ratio: prealloc.rate() / syncRate})
	// The floors under one enqueue at a time: the bare plugins'.
	b.add(benchRow{Name: "enqueue_rate_bare_plugin", Value: bareRate, Unit: "orders/s", Baseline: "fdatasync_rate",
		BaselineValue: syncRate, Ratio: bareRate / syncRate})
	b.add(benchRow{Name: "enqueue_rate_vs_bare_plugin", Value: rate, Unit: "orders/s", Baseline: "enqueue_rate_bare_plugin",
		BaselineValue: bareRate, Ratio: rate / bareRate})
	b.add(benchRow{Name: "enqueue_rate_one_sync_plugin", Value: oneSyncRate, Unit: "orders/s", Baseline: "fdatasync_rate",
		BaselineValue: syncRate, Ratio: oneSyncRate / syncRate})
	// Their parts: a round trip host -> plugin that touches nothing, and
	// one bbolt commit of a record that size in the same folder.
	rt := make([]time.Duration, 0, 200)
	for i := 0; i < 200; i++ {
		s := time.Now()
		if _, err := bare.GetStatus(ctx, &v1.GetStatusRequest{}); err != nil {
			return err
		}
		rt = append(rt, time.Since(s))
	}
	b.add(benchRow{Name: "grpc_roundtrip_median", Value: ms(percentile(rt, 50)), Unit: "ms"})
	commit, err := b.boltCommitTime(b.sizes.syncs)
	if err != nil {
		return err
	}
	b.add(benchRow{Name: "bbolt_commit_rate", Value: float64(time.Second) / float64(commit), Unit: "commits/s",
		Baseline: "fdatasync_rate", BaselineValue: syncRate, Ratio: float64(time.Second) / float64(commit) / syncRate})
	return nil
}

// enqueueParallel has callers send about n FORCE_OFFLINE creates between
// them, all at once, and returns how long they took and how many they sent.
func (b *bench) enqueueParallel(ctx context.Context, c *host.Client, n, callers int) (time.Duration, int, error) {
	var wg sync.WaitGroup
	var first firstError
	per := max(1, n/callers)
	start := time.Now()
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				if _, err := b.enqueueOnce(ctx, c); err != nil {
					first.set(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), per * callers, first.get()
}

// boltCommitTime is the mean time of one bbolt commit of a record the
// size of a queued order, in the bench folder, with the outbox's options.
func (b *bench) boltCommitTime(n int) (time.Duration, error) {
	db, err := bolt.Open(filepath.Join(b.dir, "bolt-floor.db"), 0o600, outbox.BoltOptions(time.Second))
	if err != nil {
		return 0, err
	}
	defer os.Remove(filepath.Join(b.dir, "bolt-floor.db"))
	defer db.Close()
	val := make([]byte, b.recordSize())
	var ds []time.Duration
	for i := 0; i < n; i++ {
		s := time.Now()
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put([]byte(strconv.Itoa(i)), val)
		})
		if err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(s))
	}
	return mean(ds), nil
}

func mean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(max(len(ds), 1))
}

func (b *bench) scale(ctx context.Context) error {
	url, err := refusedURL()
	if err != nil {
		return err
	}
	// Two plugins, one on an empty outbox and one on an outbox of
	// scaleFill queued orders, taking turns like the enqueue step's.
	start := func(name string, fill int) (*host.Client, error) {
		path, cfg, err := b.configFor(name, url)
		if err != nil {
			return nil, err
		}
		if fill > 0 {
			if err := b.prefill(cfg, fill); err != nil {
				return nil, err
			}
		}
		c, err := b.startHost(ctx, path, b.plugin)
		if err != nil {
			return nil, err
		}
		if _, err := b.enqueueOnce(ctx, c); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	empty, err := start("scale-empty", 0)
	if err != nil {
		return err
	}
	defer empty.Close()
	full, err := start("scale-full", b.sizes.scaleFill)
	if err != nil {
		return err
	}
	defer full.Close()
	time.Sleep(2 * time.Second) // the forwarders find WeChat Pay unreachable and go quiet; start-up garbage is collected
	var emptyLat, fullLat []time.Duration
	const turn = 50
	for len(fullLat) < b.sizes.scaleN {
		n := min(turn, b.sizes.scaleN-len(fullLat))
		e, err := b.enqueueSerial(ctx, empty, n)
		if err != nil {
			return err
		}
		f, err := b.enqueueSerial(ctx, full, n)
		if err != nil {
			return err
		}
		emptyLat, fullLat = append(emptyLat, e...), append(fullLat, f...)
	}
	em, fm := percentile(emptyLat, 50), percentile(fullLat, 50)
	b.add(benchRow{Name: fmt.Sprintf("enqueue_median_with_%d_queued", b.sizes.scaleFill), Value: ms(fm), Unit: "ms",
		Baseline: "enqueue_median_empty_outbox", BaselineValue: ms(em), Ratio: float64(fm) / float64(em), limit: 1.3})
	return nil
}
