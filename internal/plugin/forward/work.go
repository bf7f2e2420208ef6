package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

// work sends one order's operations in order until it is done, fails, or
// must wait (no answer, rate limit, system error, a store that cannot
// record).
func (f *Forwarder) work(ctx context.Context, no string) {
	for ctx.Err() == nil {
		o, err := f.opts.Store.Get(no)
		if err != nil {
			f.storeFailed("reading an order", no, err)
			return
		}
		if o == nil || o.Failure != nil {
			return
		}
		i := o.Next()
		if i < 0 {
			return
		}
		if o.Ops[i].Kind == outbox.OpCreate && o.Ops[i].State == outbox.OpPending {
			if _, exact, _ := f.opts.Clock.Since(o.AgeStamp()); !exact && !f.timeKnown(ctx) {
				return
			}
		}
		if f.expire(no) {
			return
		}
		api, ok := f.apiOf(o)
		if !ok {
			f.fail(no, i, o.Ops[i].Kind, "BAD_RECORD", fmt.Sprintf("the order was stored for WeChat Pay's %q API, which this plugin does not speak", o.API))
			return
		}
		var goOn bool
		if o.Ops[i].State == outbox.OpInFlight {
			goOn = f.reconcile(ctx, api, o, i)
		} else {
			goOn = f.send(ctx, api, o, i)
		}
		if !goOn {
			return
		}
	}
}

// timeKnown makes sure WeChat Pay's time is known before an order whose
// age needs it (queued by another run, or while the kiosk's clock was in
// doubt) can go: a really old one then expires rather than being sent. It
// asks WeChat Pay (a probe) when not known yet, and backs off when that
// brought no answer.
func (f *Forwarder) timeKnown(ctx context.Context) bool {
	if _, known := f.opts.Clock.Offset(); known {
		return true
	}
	f.probe(ctx)
	if _, known := f.opts.Clock.Offset(); known {
		return true
	}
	if ctx.Err() == nil {
		f.pause(0)
	}
	return false
}

func (f *Forwarder) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.opts.CallTimeout)
}

// send sends operation i: a cancel or complete after a query of its order
// decides how (see Before), then sendAs. It reports whether to go on with
// the order's next operation.
func (f *Forwarder) send(ctx context.Context, api API, o *outbox.Order, i int) bool {
	op := o.Ops[i]
	v := Verdict{Action: Send, Wire: op.Kind, Body: op.Body}
	if op.Kind != outbox.OpCreate {
		q, qerr := f.query(ctx, api, o.OutOrderNo, op.Body)
		if ctx.Err() != nil {
			return false
		}
		// Ever sent: a revoked order may be this cancel's doing.
		if v = api.Before(op.Kind, op.Body, op.Attempts > 0, q, qerr); v.Action != Send {
			var err error
			if qerr != nil {
				err = fmt.Errorf("query before sending: %w", qerr)
			}
			return f.settle(ctx, o.OutOrderNo, i, op.Kind, v, q, err)
		}
		v.Body = api.Times(v.Wire, v.Body, q, f.Sale(o, op.Kind))
	}
	return f.sendAs(ctx, api, o, i, v)
}

// sendAs marks operation i in flight (committed), sends it as v says, and
// settles the outcome. The stored body stays the host's own (a retry of
// the same request must match it); what went out is recorded beside it
// when it differs in kind (a cancel sent as a complete).
func (f *Forwarder) sendAs(ctx context.Context, api API, o *outbox.Order, i int, v Verdict) bool {
	op := o.Ops[i]
	expired := false
	turn, ok := f.pace.wait(ctx) // its turn first: it is marked in flight only as it leaves
	if !ok {
		return false
	}
	if !f.modifyOp(o.OutOrderNo, i, op.Kind, "marking an operation in flight", func(o *outbox.Order, op *outbox.Op) []outbox.Event {
		// Decided with the marking: a create that grew too old since it
		// was picked up is never sent.
		if evs, ok := f.expireIn(o); ok {
			expired = true
			return evs
		}
		op.State = outbox.OpInFlight
		op.Attempts++
		if v.Wire != op.Kind {
			op.SentAs = v.Wire
		}
		return nil
	}) || expired {
		return false // changed under us, expired, or not recorded: nothing leaves unmarked
	}
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	result, err := api.Call(cctx, o.OutOrderNo, v.Wire, v.Body)
	if ctx.Err() != nil && err != nil {
		return false // shutting down: the op stays in flight and is reconciled next time
	}
	f.pace.outcome(turn, err)
	if be, ok := err.(badRecordError); ok {
		return f.fail(o.OutOrderNo, i, op.Kind, "BAD_RECORD", be.Error())
	}
	f.Observe(err)
	av := AfterSend(op.Kind, err)
	if av.Action == Check {
		q, qerr := f.query(ctx, api, o.OutOrderNo, op.Body)
		if ctx.Err() != nil {
			return false
		}
		av = api.AfterCheck(op.Kind, op.Body, true, err, q, qerr)
		if av.Action == Applied {
			result = q
		}
		if av.Action == Reconcile {
			err = fmt.Errorf("%v; the query to check it got: %v", err, qerr)
		}
	}
	return f.settle(ctx, o.OutOrderNo, i, op.Kind, av, result, err)
}

// badRecordError is a queued body that cannot be read.
type badRecordError struct{ err error }

func (e badRecordError) Error() string {
	return "the queued operation cannot be read: " + e.err.Error()
}

// Call sends one operation, its body as stored, to WeChat Pay.
func Call(ctx context.Context, wx WeChatPay, no string, kind outbox.OpKind, body json.RawMessage) (any, error) {
	switch kind {
	case outbox.OpCreate:
		var r wxpay.CreateRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, badRecordError{err}
		}
		return wx.Create(ctx, r)
	case outbox.OpComplete:
		var r wxpay.CompleteRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, badRecordError{err}
		}
		r.OutOrderNo = no
		return wx.Complete(ctx, r)
	case outbox.OpCancel:
		var r wxpay.CancelRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, badRecordError{err}
		}
		r.OutOrderNo = no
		return wx.Cancel(ctx, r)
	}
	return nil, badRecordError{fmt.Errorf("unknown operation %q", kind)}
}

// settle records a verdict on operation i. It reports whether to go on
// with the order's next operation.
func (f *Forwarder) settle(ctx context.Context, no string, i int, kind outbox.OpKind, v Verdict, result any, err error) bool {
	switch v.Action {
	case Applied:
		return f.done(no, i, kind, result)
	case Resend:
		f.note(no, i, kind, err.Error(), true)
		if wxpay.ClassOf(err) == wxpay.RateLimited {
			f.waitOut(no, v.RetryAfter)
			return false
		}
		if wxpay.ClassOf(err) != wxpay.Network { // Observe set the backoff for that one
			f.pause(v.RetryAfter)
		}
	case Reconcile:
		f.note(no, i, kind, fmt.Sprint(err), false)
		if wxpay.ClassOf(err) == wxpay.RateLimited {
			f.waitOut(no, v.RetryAfter)
			return false
		}
		if wxpay.ClassOf(err) != wxpay.Network {
			f.pause(v.RetryAfter)
		}
	case Refuse:
		return f.fail(no, i, kind, v.Code, v.Message)
	default:
		f.opts.Log.Error("no rule for this answer", "out_order_no", no, "op", kind, "action", v.Action)
		f.pause(0)
	}
	return false
}

// query reads WeChat Pay's order, with the ids of body, and tells the
// network state what came of it.
func (f *Forwarder) query(ctx context.Context, api API, no string, body json.RawMessage) (Shown, error) {
	app, svc := idsOf(body)
	turn, ok := f.pace.wait(ctx)
	if !ok {
		return nil, ctx.Err()
	}
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	q, err := api.Query(cctx, wxpay.QueryRequest{OutOrderNo: no, AppID: app, ServiceID: svc})
	if ctx.Err() == nil {
		f.Observe(err)
		f.pace.outcome(turn, err)
	}
	return q, err
}

// waitOut is a refusal for rate (429) of order no's request: that order
// waits out Retry-After (times a random 1 to 2, and no less than the
// backoff) while the kiosk's other orders go on at the pace, which the
// refusal slowed. Holding every order back for one refusal would leave
// the merchant's limit unused while it lasts, and bring a fleet back in
// waves.
func (f *Forwarder) waitOut(no string, retryAfter time.Duration) {
	now := f.opts.Clock.Elapsed()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.later[no] = now + f.failed(now, retryAfter)
}

// failed counts a failure and says how long to wait after it (f.mu held):
// Retry-After when WeChat Pay gave one (times a random 1 to 2, so that
// kiosks refused together do not come back together), and no less than
// the backoff. Failures that come while the wait of the last one runs are
// one burst (the requests that were out together): they count once.
func (f *Forwarder) failed(now, retryAfter time.Duration) time.Duration {
	if f.failures == 0 || now >= f.burstEnds {
		f.failures++
	}
	d := f.backoff(f.failures)
	if retryAfter > 0 {
		d = max(d, retryAfter+time.Duration(rand.Int64N(int64(retryAfter)+1)))
	}
	f.burstEnds = max(f.burstEnds, now+d)
	return d
}

// waiting says whether order no waits out a refusal at now.
func (f *Forwarder) waiting(no string, now time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.later[no]
	return ok && t > now
}

// pause holds every attempt back after a failure, as failed says.
func (f *Forwarder) pause(retryAfter time.Duration) {
	now := f.opts.Clock.Elapsed()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holdFor(now, f.failed(now, retryAfter))
}

// storeFailed logs a failed read or write of the outbox and holds every
// attempt back: a failing disk (full, read-only) is not retried in a tight
// loop, and nothing is sent that could not be recorded. Its backoff grows
// with each failure in a row, whatever WeChat Pay answers meanwhile (an
// answer resets the network's count, not the disk's).
func (f *Forwarder) storeFailed(what, no string, err error) {
	f.opts.Log.Error(what+" failed", "out_order_no", no, "error", err)
	now := f.opts.Clock.Elapsed()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.storeFailures++
	if t := now + f.backoff(f.storeFailures); t > f.notBefore {
		f.notBefore = t
	}
}

// reconcile settles an operation whose outcome is unknown by asking WeChat
// Pay for the order before anything is sent again.
func (f *Forwarder) reconcile(ctx context.Context, api API, o *outbox.Order, i int) bool {
	op := o.Ops[i]
	q, err := f.query(ctx, api, o.OutOrderNo, op.Body)
	if ctx.Err() != nil {
		return false
	}
	age, _, how := f.opts.Clock.Since(o.AgeStamp())
	v := api.AfterQuery(op.Kind, op.Body, o.ReconcileOnly, age > f.opts.MaxAge, q, err)
	if v.Code == CodeExpiredOffline {
		v.Message += fmt.Sprintf(": it waited %v (measured %s)", age.Round(time.Second), how)
	}
	switch {
	case v.Action == Send:
		v.Body = api.Times(v.Wire, v.Body, q, f.Sale(o, op.Kind))
		return f.sendAs(ctx, api, o, i, v)
	case v.Action == Refuse && v.Code == CodeNotCreated:
		return f.notCreated(o.OutOrderNo)
	case v.Action == Applied && op.Kind == outbox.OpCreate && !o.ReconcileOnly:
		// It exists. The same create again is answered with the same order
		// (out_order_no is the idempotency key) and gives back its package.
		turn, ok := f.pace.wait(ctx)
		if !ok {
			return false
		}
		cctx, cancel := f.callCtx(ctx)
		resp, cerr := api.Call(cctx, o.OutOrderNo, op.Kind, op.Body)
		cancel()
		if ctx.Err() == nil {
			f.Observe(cerr)
			f.pace.outcome(turn, cerr)
		}
		if cerr == nil {
			return f.done(o.OutOrderNo, i, op.Kind, resp)
		}
		if ctx.Err() != nil {
			return false
		}
		return f.done(o.OutOrderNo, i, op.Kind, q)
	case v.Action == Reconcile:
		err = fmt.Errorf("query to reconcile: %w", err)
	}
	return f.settle(ctx, o.OutOrderNo, i, op.Kind, v, q, err)
}

// apiOf is the API order o was stored for: "" is smart retail (records
// from before there were two).
func (f *Forwarder) apiOf(o *outbox.Order) (API, bool) {
	name := o.API
	if name == "" {
		name = APISmartRetail
	}
	for _, a := range append([]API{f.opts.API}, f.opts.Also...) {
		if a.Name() == name {
			return a, true
		}
	}
	return nil, false
}

// idsOf reads appid and service_id from a queued body, for queries.
func idsOf(body json.RawMessage) (appID, serviceID string) {
	var ids struct {
		AppID     string `json:"appid"`
		ServiceID string `json:"service_id"`
	}
	_ = json.Unmarshal(body, &ids)
	return ids.AppID, ids.ServiceID
}

// modifyOp changes operation i of an order if it is still the operation
// this forwarder holds; events come from fn. It reports whether the change
// was recorded; a store that failed is logged and backs every attempt off.
func (f *Forwarder) modifyOp(no string, i int, kind outbox.OpKind, what string, fn func(o *outbox.Order, op *outbox.Op) []outbox.Event) bool {
	applied := false
	_, err := f.opts.Store.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		applied = false
		if o == nil || i >= len(o.Ops) || o.Ops[i].Kind != kind || o.Ops[i].State == outbox.OpDone || o.Failure != nil {
			return nil, nil, outbox.ErrNoChange // changed under us (dropped, retried): leave it
		}
		applied = true
		return o, fn(o, &o.Ops[i]), nil
	})
	if err != nil {
		f.storeFailed(what, no, err)
		return false
	}
	f.mu.Lock()
	f.storeFailures = 0
	f.mu.Unlock()
	return applied
}

func (f *Forwarder) done(no string, i int, kind outbox.OpKind, result any) bool {
	now := f.opts.Clock.Now()
	ok := f.modifyOp(no, i, kind, "recording a sent operation", func(o *outbox.Order, op *outbox.Op) []outbox.Event {
		op.State, op.DoneAt, op.Result, op.LastError = outbox.OpDone, now, outbox.ResultOf(result), ""
		ev := outbox.Event{Type: outbox.EventOperationSubmitted, Op: kind}
		if kind == outbox.OpCreate {
			ev.Type = outbox.EventOrderSubmitted
			if r, ok := result.(*wxpay.CreateResponse); ok {
				ev.OrderID, ev.Package = r.OrderID, r.Package
			}
			if r, ok := result.(*wxpay.ServiceOrder); ok {
				ev.OrderID, ev.Package = r.OrderID, r.Package
			}
		}
		switch r := result.(type) {
		case *wxpay.OrderRef:
			ev.OrderID = r.OrderID
		case *wxpay.ServiceOrder:
			ev.OrderID = r.OrderID
		}
		if q, ok := result.(*wxpay.Order); ok && kind == outbox.OpCancel && q.FinishType == wxpay.FinishTypeCancel {
			op.SentAs = outbox.OpComplete // found ended by a complete: what went out
		}
		if kind == outbox.OpCancel && op.SentAs == outbox.OpComplete {
			ev.Message = "the customer had confirmed the order: it was ended by a complete with finish_type 1, nothing charged"
		}
		return []outbox.Event{ev}
	})
	if ok {
		f.opts.Log.Debug("queued operation submitted", "out_order_no", no, "op", kind)
	}
	return ok
}

// note records an attempt's error; back to pending only when it surely
// did not arrive.
func (f *Forwarder) note(no string, i int, kind outbox.OpKind, errText string, notArrived bool) {
	f.modifyOp(no, i, kind, "recording an attempt", func(o *outbox.Order, op *outbox.Op) []outbox.Event {
		op.LastError = errText
		if notArrived {
			op.State = outbox.OpPending
		}
		return nil
	})
}

// notCreated settles a reconcile-only order WeChat Pay does not have: the
// host was told it was not queued, so there is nothing to retry. It leaves
// the outbox, with an ORDER_FAILED event saying so.
func (f *Forwarder) notCreated(no string) bool {
	_, err := f.opts.Store.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		if o == nil || !o.ReconcileOnly {
			return nil, nil, outbox.ErrNoChange
		}
		return nil, []outbox.Event{{Type: outbox.EventOrderFailed, Op: outbox.OpCreate, Code: CodeNotCreated,
			Message: "WeChat Pay has no such order: it was not created (the host was told it was not queued)"}}, nil
	})
	if err != nil {
		f.storeFailed("settling a reconcile-only order", no, err)
	}
	return false
}

// fail moves the order to the failed list with WeChat Pay's code.
func (f *Forwarder) fail(no string, i int, kind outbox.OpKind, code, msg string) bool {
	now := f.opts.Clock.Now()
	if f.modifyOp(no, i, kind, "recording a failure", func(o *outbox.Order, op *outbox.Op) []outbox.Event {
		op.State, op.LastError = outbox.OpFailed, msg
		o.Failure = &outbox.Failure{Code: code, Message: msg, Op: kind, At: now}
		return []outbox.Event{{Type: outbox.EventOrderFailed, Op: kind, Code: code, Message: msg}}
	}) {
		f.opts.Log.Warn("queued operation failed", "out_order_no", no, "op", kind, "code", code)
	}
	return false
}
