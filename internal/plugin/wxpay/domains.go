package wxpay

import (
	"context"
	"sync"
	"time"
)

// WeChat Pay publishes a backup API domain (api2.mch.weixin.qq.com) for
// when the main one cannot be reached; its Java SDK fails over to it, the
// Go SDK does not. A request that got no answer at all from one domain
// (refused, reset, no DNS, timed out: never one that got an answer, of any
// kind) goes once to the other; the domain that answered is used from
// then on, and after BackToMainAfter on the backup the main one is tried
// first again. Sending the same request again is what a retry does: a
// create keeps its out_order_no (WeChat Pay answers an identical create
// with the same order), and the callers reconcile an outcome left unknown.

// BackToMainAfter is how long requests stay on the backup domain before
// the main one is tried first again.
const BackToMainAfter = 5 * time.Minute

type domains struct {
	main, backup string

	mu       sync.Mutex
	onBackup bool
	since    time.Duration // monotonic reading when the backup took over
}

// pick is the domain to try first.
func (d *domains) pick(now time.Duration) (base string, backup bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.onBackup && now-d.since >= BackToMainAfter {
		d.onBackup = false // quiet long enough: the main one again
	}
	if d.onBackup {
		return d.backup, true
	}
	return d.main, false
}

// answered records which domain answered; it reports whether that changed
// the domain in use.
func (d *domains) answered(backup bool, now time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.onBackup == backup {
		return false
	}
	d.onBackup, d.since = backup, now
	return true
}

// InUse is the base URL requests go to now.
func (c *Client) InUse() string {
	base, _ := c.domains.pick(c.clock.Elapsed())
	return base
}

// sendFailingOver sends to the domain in use, and once to the other when
// that one gave no answer at all. With a backup, the first attempt gets
// half the time left, so that the second has some.
func (c *Client) sendFailingOver(ctx context.Context, op, method, pathAndQuery string, body, out any) error {
	base, backup := c.domains.pick(c.clock.Elapsed())
	if c.domains.backup == "" {
		return c.send(ctx, base, op, method, pathAndQuery, body, out)
	}
	first := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		first, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
		defer cancel()
	}
	err := c.send(first, base, op, method, pathAndQuery, body, out)
	if !unanswered(err) || ctx.Err() != nil {
		c.noteAnswered(backup, err)
		return err
	}
	other := c.domains.main
	if !backup {
		other = c.domains.backup
	}
	err2 := c.send(ctx, other, op, method, pathAndQuery, body, out)
	if !unanswered(err2) {
		c.noteAnswered(!backup, err2)
		return err2
	}
	// Neither answered. What the first may have done stays in the answer:
	// either may have reached WeChat Pay.
	if e, ok := err.(*Error); ok && e.ReachedServer {
		if e2, ok := err2.(*Error); ok {
			e2.ReachedServer = true
		}
	}
	return err2
}

func (c *Client) noteAnswered(backup bool, err error) {
	if unanswered(err) {
		return
	}
	if c.domains.answered(backup, c.clock.Elapsed()) && c.onDomain != nil {
		base, _ := c.domains.pick(c.clock.Elapsed())
		c.onDomain(base)
	}
}

// unanswered: no answer came at all (a network error).
func unanswered(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Class == Network
}
