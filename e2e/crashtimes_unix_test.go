//go:build unix

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// clockStream is the crash test's random stream for how far WeChat Pay's
// clock moves while the network is down (apart from the others, so that
// it leaves an old seed's faults and kill instants as they were).
const clockStream = 1<<40 + 3

// chinaTime is WeChat Pay's zone: a host's real times are China Standard
// Time, UTC+8, in yyyyMMddHHmmss.
var chinaTime = time.FixedZone("CST", 8*60*60)

const wechatLayout = "20060102150405"

// hostTime is t as a kiosk writes a real time for WeChat Pay.
func hostTime(t time.Time) string { return t.In(chinaTime).Format(wechatLayout) }

func parseHostTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(wechatLayout, s, chinaTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a yyyyMMddHHmmss time: %w", s, err)
	}
	return t, nil
}

// outageClock moves the sandbox's clock (WeChat Pay's) forward while the
// network is down, so that a sale queued then reaches WeChat Pay minutes
// after it was made without the test waiting those minutes, and remembers
// each offset and from when it held.
type outageClock struct {
	sb   *sandbox.Sandbox
	rng  *rand.Rand
	from []time.Time     // on the machine's clock; the first is zero (from the start)
	offs []time.Duration // the sandbox's clock offset from each from on
}

func newOutageClock(sb *sandbox.Sandbox, seed uint64) *outageClock {
	return &outageClock{sb: sb, rng: rand.New(rand.NewPCG(seed, clockStream)),
		from: []time.Time{{}}, offs: []time.Duration{sb.ClockOffset()}}
}

// forward moves WeChat Pay's clock 2 to 4 minutes on, and returns by how
// much. Past 5 minutes in all the plugin's signatures are refused at
// first, until it learns WeChat Pay's time from the refusal (issue 12).
func (c *outageClock) forward(t *testing.T) time.Duration {
	t.Helper()
	d := time.Duration(120+c.rng.IntN(121)) * time.Second
	off := c.offs[len(c.offs)-1] + d
	if err := c.sb.SetClockOffset(off); err != nil {
		t.Fatal(err)
	}
	// Noted after the move: a moment before it may only be given the
	// offsets from the one before on.
	c.from, c.offs = append(c.from, time.Now()), append(c.offs, off)
	return d
}

// since is the offsets WeChat Pay's clock had from moment on: the one in
// force then and every later one. A complete asked for then reaches
// WeChat Pay under one of them.
func (c *outageClock) since(moment time.Time) []time.Duration {
	i := len(c.from) - 1
	for i > 0 && c.from[i].After(moment) {
		i--
	}
	return c.offs[i:]
}

func (c *outageClock) total() time.Duration { return c.offs[len(c.offs)-1] }

// outage is the crash test's last phase before the network comes back for
// good: a plugin that has heard WeChat Pay's time queues sales while the
// network is down, is killed with them in its outbox, and WeChat Pay's
// clock moves on minutes before any of them reaches it. Their creates
// then start them (OnAccept) minutes after the sales' own start, which
// their completes must tell. The rounds do the same when their faults
// take the network down, but whether a round's plugin heard WeChat Pay's
// time first is chance; this phase makes sure some sales wait so.
func outage(t *testing.T, env *sandboxEnv, opts host.Options, clk *outageClock, sales []*sale, round int) (_ []*sale, killed bool) {
	t.Helper()
	sb := env.srv.Sandbox
	if err := sb.SetFaults(sandbox.Faults{Mode: "none"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := startKiosk(ctx, opts)
	if err != nil {
		t.Fatalf("the outage: %v", err)
	}
	defer k.close()
	const n = 10
	var mine []*sale
	for i := range n {
		mine = append(mine, &sale{no: fmt.Sprintf("CR%02d-%03d", round, i), cancel: i%5 == 4})
	}
	// The first sale's create goes online: its answer tells the plugin
	// WeChat Pay's time, which the other sales' stamps then carry.
	for !mine[0].created && ctx.Err() == nil {
		step(ctx, k, mine[0], false)
	}
	if mine[0].told != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Errorf("the outage: with the network up, the first sale's create was answered %v, want SUBMITTED (the plugin must have heard WeChat Pay's time)", mine[0].told)
	}
	if err := sb.SetFaults(sandbox.Faults{Mode: "offline"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range mine {
		for !s.complete && ctx.Err() == nil {
			step(ctx, k, s, false)
		}
	}
	c, err := k.client(ctx)
	if err != nil {
		t.Fatalf("the outage: %v", err)
	}
	st, err := c.GetStatus(ctx, &v1.GetStatusRequest{})
	if err != nil {
		t.Fatalf("the outage: %v", err)
	}
	if pid := c.PID(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		killed = true
	}
	// No plugin of the kiosk's runs while the clock moves: the next one
	// starts after, with the network back.
	k.close()
	d := clk.forward(t)
	t.Logf("the outage: %d sales queued (%d orders pending), the plugin killed, WeChat Pay's clock moved %v on (%v in all)", n, st.GetPendingCount(), d, clk.total())
	return append(sales, mine...), killed
}

// saleTimes is what the crash test found of the real times of the sales
// it sold.
type saleTimes struct {
	checked, differ int
}

// checkSaleTimes checks the times WeChat Pay keeps for a sold sale: its
// real end is the host's, moved onto WeChat Pay's clock by an offset that
// clock had from the host's complete on (within 2 s: the plugin's estimate
// of it, in whole seconds), not after the complete reached WeChat Pay and
// not before the sale's real start. It says whether the sale's start is a
// minute or more before its order was created at WeChat Pay (the moment
// OnAccept names): a sale that waited in the outbox through an outage.
func checkSaleTimes(t *testing.T, s *sale, o wechatOrder, clk *outageClock) (differ bool) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Errorf("sale %s (host end %s, WeChat Pay keeps %s .. %s, created %s, completed %s): %s", s.no, s.end, o.start, o.end,
			hostTime(o.created), hostTime(o.updated), fmt.Sprintf(format, args...))
	}
	hostEnd, err := parseHostTime(s.end)
	if err != nil {
		fail("the host's end: %v", err)
		return false
	}
	end, err := parseHostTime(o.end)
	if err != nil {
		fail("the real end: %v", err)
		return false
	}
	start, err := parseHostTime(o.start)
	if err != nil {
		fail("the real start: %v", err)
		return false
	}
	offs := clk.since(s.ended)
	moved := end.Sub(hostEnd)
	near := false
	for _, off := range offs {
		if (moved - off).Abs() <= 2*time.Second {
			near = true
		}
	}
	if !near {
		fail("the end is the host's moved by %v, want one of WeChat Pay's clock offsets since the host completed it, %v (within 2 s)", moved, offs)
	}
	if end.After(o.updated) {
		fail("the end is after the complete reached WeChat Pay")
	}
	if end.Before(start) {
		fail("the end is before the start")
	}
	return !start.After(o.created.Add(-time.Minute))
}
