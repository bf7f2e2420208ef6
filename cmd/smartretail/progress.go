package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// How queue drain paces itself: it looks at the status every drainPoll,
// asks the plugin to send (Drain) at once and then, while nothing moves,
// after 1 s, 2 s, 4 s, ... up to drainRetryMax, and says where it is at
// least every progressEvery.
var (
	drainPoll     = 200 * time.Millisecond
	drainRetryMin = time.Second
	drainRetryMax = 8 * time.Second
	progressEvery = 3 * time.Second
)

// drainProgress asks the plugin to send its queue and waits until nothing
// is pending (the status on stdout, exit 0) or timeout passes (a TIMEOUT
// error, reason DRAIN_TIMEOUT, exit 1). While it waits it prints a line
// on stderr at least every progressEvery, and whenever the count changes:
// elapsed time, pending and queued orders, failed, the network, when it
// asks again and the last error. Only for a person: when stderr is a
// terminal, or with -v (verbose); otherwise stderr holds only an error.
func drainProgress(ctx context.Context, c *host.Client, timeout time.Duration, verbose bool, stdout, stderr io.Writer) int {
	show := verbose || isTerminal(stderr)
	start := time.Now()
	deadline := start.Add(timeout)
	retry, nextDrain := drainRetryMin, start
	var shownAt time.Time
	last := int64(-1)
	for {
		now := time.Now()
		if !now.Before(nextDrain) {
			if _, err := c.Drain(ctx, &v1.DrainRequest{}); err != nil {
				return printError(stderr, interrupted(ctx, err))
			}
			nextDrain, retry = now.Add(retry), min(2*retry, drainRetryMax)
		}
		st, err := c.GetStatus(ctx, &v1.GetStatusRequest{})
		if err != nil {
			return printError(stderr, interrupted(ctx, err))
		}
		pending := st.GetPendingCount()
		if last >= 0 && pending < last {
			// Moving: keep asking often.
			retry = drainRetryMin
			if soon := now.Add(retry); soon.Before(nextDrain) {
				nextDrain = soon
			}
		}
		if show && (pending != last || pending == 0 || now.Sub(shownAt) >= progressEvery) {
			fmt.Fprintln(stderr, progressLine(now.Sub(start), st, nextDrain.Sub(now)))
			shownAt = now
		}
		last = pending
		if pending == 0 {
			return printJSON(stdout, stderr, st)
		}
		if now.After(deadline) {
			msg := fmt.Sprintf("queue drain: %d orders still pending after %v (%d failed, network %s", pending, timeout,
				st.GetFailedCount(), networkName(st))
			if le := st.GetLastError(); le != "" {
				msg += ", last error: " + le
			}
			return printError(stderr, &shared.Error{Class: classTimeout, Reason: reasonDrainTimeout,
				Message: msg + "); they stay queued and the plugin keeps sending them: see smartretail queue status and queue failed"})
		}
		select {
		case <-ctx.Done():
			return printError(stderr, interrupted(ctx, ctx.Err()))
		case <-time.After(drainPoll):
		}
	}
}

// progressLine is one line of drain's progress.
func progressLine(elapsed time.Duration, st *v1.GetStatusResponse, nextRetry time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "drain: %s elapsed, %d pending (%d queued creates), %d failed, network %s",
		elapsed.Round(time.Second), st.GetPendingCount(), st.GetQueuedCount(), st.GetFailedCount(), networkName(st))
	if st.GetPendingCount() > 0 {
		fmt.Fprintf(&b, ", next retry in %s", max(nextRetry, 0).Round(time.Second))
	}
	if le := st.GetLastError(); le != "" && st.GetPendingCount() > 0 {
		fmt.Fprintf(&b, ", last error: %s", le)
	}
	return b.String()
}

func networkName(st *v1.GetStatusResponse) string {
	return strings.TrimPrefix(st.GetNetworkStatus().String(), "NETWORK_STATUS_")
}
