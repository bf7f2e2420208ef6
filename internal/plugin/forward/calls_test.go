package forward_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// call is one call the forwarder made to WeChat Pay and what came of it.
type call struct {
	op         string // create, query, complete or cancel
	no         string // out_order_no
	start, end time.Time
	err        *wxpay.Error // nil: answered with success
	state      string       // a query's answer: the order's state
}

// String is the call as a failure message shows it: "create ok",
// "query USER_ACCEPTED", "complete: wxpay complete: network ...".
func (c call) String() string {
	switch {
	case c.err != nil:
		return c.op + ": " + c.err.Error()
	case c.state != "":
		return c.op + " " + c.state
	}
	return c.op + " ok"
}

// noAnswer says the call got no answer although the request may have
// been applied (a dropped response).
func (c call) noAnswer() bool {
	return c.err != nil && c.err.Class == wxpay.Network && c.err.ReachedServer
}

// answered says WeChat Pay answered the call ("not found" is an answer).
func (c call) answered() bool {
	return c.err == nil || c.err.Class == wxpay.NotFound
}

// calls is the WeChat Pay a forwarder calls in fault tests: the sandbox
// through a real client, with every call written down, so that a test
// can see its fault reach the forwarder instead of assuming it did.
type calls struct {
	forward.WeChatPay
	mu      sync.Mutex
	list    []call
	changed chan struct{} // closed and replaced at each call
}

func (r *calls) add(op, no string, start time.Time, state string, err error) {
	c := call{op: op, no: no, start: start, end: time.Now(), state: state}
	if err != nil && !errors.As(err, &c.err) {
		c.err = &wxpay.Error{Class: wxpay.Internal, Op: op, Err: err}
	}
	r.mu.Lock()
	r.list = append(r.list, c)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *calls) Create(ctx context.Context, req wxpay.CreateRequest) (*wxpay.CreateResponse, error) {
	start := time.Now()
	resp, err := r.WeChatPay.Create(ctx, req)
	r.add("create", req.OutOrderNo, start, "", err)
	return resp, err
}

func (r *calls) Query(ctx context.Context, req wxpay.QueryRequest) (*wxpay.Order, error) {
	start := time.Now()
	o, err := r.WeChatPay.Query(ctx, req)
	state := ""
	if err == nil {
		state = o.State
	}
	r.add("query", req.OutOrderNo, start, state, err)
	return o, err
}

func (r *calls) Cancel(ctx context.Context, req wxpay.CancelRequest) (*wxpay.OrderRef, error) {
	start := time.Now()
	ref, err := r.WeChatPay.Cancel(ctx, req)
	r.add("cancel", req.OutOrderNo, start, "", err)
	return ref, err
}

func (r *calls) Complete(ctx context.Context, req wxpay.CompleteRequest) (*wxpay.OrderRef, error) {
	start := time.Now()
	ref, err := r.WeChatPay.Complete(ctx, req)
	r.add("complete", req.OutOrderNo, start, "", err)
	return ref, err
}

// all returns the calls so far, oldest answer first.
func (r *calls) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.list...)
}

// byOrder returns each order's calls in the order they were made (one
// order is worked on by one goroutine at a time).
func (r *calls) byOrder() map[string][]call {
	m := map[string][]call{}
	for _, c := range r.all() {
		m[c.no] = append(m[c.no], c)
	}
	return m
}

// waitFor waits until cond holds over the calls so far.
func (r *calls) waitFor(t *testing.T, within time.Duration, what string, cond func([]call) bool) {
	t.Helper()
	timeout := time.After(within)
	for {
		r.mu.Lock()
		ok, changed := cond(r.list), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			cs := r.all()
			for _, c := range cs {
				t.Logf("%s %s at %s, %v", c.no, c, c.start.Format("15:04:05.000"), c.end.Sub(c.start).Round(time.Millisecond))
			}
			t.Fatalf("no %s within %v (%d calls made, above)", what, within, len(cs))
		}
	}
}

// recordCalls replaces e's forwarder with one configured alike whose
// calls to WeChat Pay go through a recorder.
func (e *env) recordCalls(t *testing.T, maxAge time.Duration) *calls {
	t.Helper()
	r := &calls{WeChatPay: e.wx, changed: make(chan struct{})}
	e.run(t, r, maxAge)
	return r
}
