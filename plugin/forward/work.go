package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kioskpay/smartretail/plugin/outbox"
	"github.com/kioskpay/smartretail/plugin/wxpay"
)

// work sends one order's operations in order until it is done, fails, or
// must wait (no answer, rate limit, system error).
func (f *Forwarder) work(ctx context.Context, no string) {
	for ctx.Err() == nil {
		o, err := f.opts.Store.Get(no)
		if err != nil {
			f.opts.Log.Error("reading an order failed", "out_order_no", no, "error", err)
			f.pause(0) // a failing disk is not retried in a tight loop
			return
		}
		if o == nil || o.Failure != nil {
			return
		}
		i := o.Next()
		if i < 0 || f.expire(no) {
			return
		}
		var goOn bool
		if o.Ops[i].State == outbox.OpInFlight {
			goOn = f.reconcile(ctx, o, i)
		} else {
			goOn = f.send(ctx, o, i)
		}
		if !goOn {
			return
		}
	}
}

func (f *Forwarder) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.opts.CallTimeout)
}

// send marks operation i in flight (committed), sends it, and settles the
// outcome. It reports whether to go on with the order's next operation.
func (f *Forwarder) send(ctx context.Context, o *outbox.Order, i int) bool {
	op := o.Ops[i]
	body := op.Body
	if op.Kind == outbox.OpComplete {
		var ok bool
		if body, ok = f.withFinishTicket(ctx, o, i); !ok {
			return false
		}
	}
	// The stored body stays the host's own (a retry of the same request
	// must match it); a ticket fetched for this send is not kept.
	applied, err := f.modifyOp(o.OutOrderNo, i, op.Kind, func(o *outbox.Order, op *outbox.Op) []outbox.Event {
		op.State = outbox.OpInFlight
		op.Attempts++
		return nil
	})
	if err != nil {
		f.opts.Log.Error("marking an operation in flight failed", "out_order_no", o.OutOrderNo, "error", err)
		f.pause(0)
		return false
	}
	if !applied {
		return false // the order changed under us: nothing leaves unmarked
	}
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	var result any
	switch op.Kind {
	case outbox.OpCreate:
		var r wxpay.CreateRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return f.fail(o.OutOrderNo, i, op.Kind, "BAD_RECORD", "the queued create cannot be read: "+err.Error())
		}
		result, err = f.opts.WeChat.Create(cctx, r)
	case outbox.OpComplete:
		var r wxpay.CompleteRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return f.fail(o.OutOrderNo, i, op.Kind, "BAD_RECORD", "the queued complete cannot be read: "+err.Error())
		}
		r.OutOrderNo = o.OutOrderNo
		result, err = f.opts.WeChat.Complete(cctx, r)
	case outbox.OpCancel:
		var r wxpay.CancelRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return f.fail(o.OutOrderNo, i, op.Kind, "BAD_RECORD", "the queued cancel cannot be read: "+err.Error())
		}
		r.OutOrderNo = o.OutOrderNo
		result, err = f.opts.WeChat.Cancel(cctx, r)
	default:
		return f.fail(o.OutOrderNo, i, op.Kind, "BAD_RECORD", fmt.Sprintf("unknown operation %q", op.Kind))
	}
	if ctx.Err() != nil && err != nil {
		return false // shutting down: the op stays in flight and is reconciled next time
	}
	return f.settle(ctx, o.OutOrderNo, i, op.Kind, result, err)
}

// withFinishTicket returns the complete's body with finish_ticket filled
// from a query just before sending, as WeChat Pay may want it.
func (f *Forwarder) withFinishTicket(ctx context.Context, o *outbox.Order, i int) (json.RawMessage, bool) {
	var r wxpay.CompleteRequest
	if err := json.Unmarshal(o.Ops[i].Body, &r); err != nil {
		f.fail(o.OutOrderNo, i, outbox.OpComplete, "BAD_RECORD", "the queued complete cannot be read: "+err.Error())
		return nil, false
	}
	if r.FinishTicket != "" {
		return o.Ops[i].Body, true
	}
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	q, err := f.opts.WeChat.Query(cctx, wxpay.QueryRequest{OutOrderNo: o.OutOrderNo, AppID: r.AppID, ServiceID: r.ServiceID})
	if err != nil {
		if ctx.Err() == nil {
			f.queryFailed(o.OutOrderNo, i, outbox.OpComplete, err)
		}
		return nil, false
	}
	f.Observe(nil)
	r.FinishTicket = q.FinishTicket
	b, _ := json.Marshal(r)
	return b, true
}

// settle records what came of sending operation i.
func (f *Forwarder) settle(ctx context.Context, no string, i int, kind outbox.OpKind, result any, err error) bool {
	if err == nil {
		f.Observe(nil)
		return f.done(no, i, kind, result)
	}
	var we *wxpay.Error
	if !errors.As(err, &we) {
		f.opts.Log.Error("sending failed", "out_order_no", no, "op", kind, "error", err)
		return false
	}
	f.Observe(err)
	switch {
	case we.Class == wxpay.Network && !we.ReachedServer:
		f.note(no, i, kind, we.Error(), true) // it never arrived; Observe set the backoff
		return false
	case we.Class == wxpay.RateLimited:
		f.note(no, i, kind, we.Error(), true) // refused unprocessed: send again later
		f.pause(we.RetryAfter)
		return false
	case we.Ambiguous():
		// It may have been applied (no answer, a system error, an answer
		// that does not verify): keep it in flight, to be reconciled.
		f.note(no, i, kind, we.Error(), false)
		if we.Class != wxpay.Network {
			f.pause(0)
		}
		return false
	case we.Class == wxpay.Invalid && kind != outbox.OpCreate:
		// Refused: perhaps because an earlier attempt, whose answer was
		// lost, already applied it. WeChat Pay's order says; without its
		// word, wait and ask again rather than call it failed.
		q, qerr := f.queryQuietly(ctx, no, kind)
		switch {
		case qerr == nil:
			o, _ := f.opts.Store.Get(no)
			if o != nil && i < len(o.Ops) && AlreadyApplied(q, kind, o.Ops[i].Body) {
				return f.done(no, i, kind, q)
			}
		case wxpay.ClassOf(qerr) != wxpay.NotFound:
			f.Observe(qerr)
			f.note(no, i, kind, we.Error()+"; the query to check it got: "+qerr.Error(), false)
			f.pause(0)
			return false
		}
		return f.fail(no, i, kind, we.Code, we.Error())
	default:
		return f.fail(no, i, kind, we.Code, we.Error())
	}
}

// queryQuietly reads WeChat Pay's order for a decision.
func (f *Forwarder) queryQuietly(ctx context.Context, no string, kind outbox.OpKind) (*wxpay.Order, error) {
	o, err := f.opts.Store.Get(no)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, errors.New("the order left the outbox")
	}
	var body json.RawMessage
	for _, op := range o.Ops {
		if op.Kind == kind {
			body = op.Body
		}
	}
	app, svc := idsOf(body)
	ctx, cancel := f.callCtx(ctx)
	defer cancel()
	return f.opts.WeChat.Query(ctx, wxpay.QueryRequest{OutOrderNo: no, AppID: app, ServiceID: svc})
}

// queryFailed handles a failed query made on behalf of operation i. A
// query WeChat Pay refuses for good (the service or app is not the
// merchant's) says the operation, made with the same ids, would be refused
// too: the order fails with that code. Anything else waits.
func (f *Forwarder) queryFailed(no string, i int, kind outbox.OpKind, err error) bool {
	var we *wxpay.Error
	if !errors.As(err, &we) {
		return false
	}
	if !we.Retryable() && !we.Ambiguous() {
		f.Observe(err)
		return f.fail(no, i, kind, we.Code, "WeChat Pay refused the query for this order: "+we.Error())
	}
	f.Observe(err)
	if we.Class != wxpay.Network { // Observe set the backoff for that one
		f.pause(we.RetryAfter)
	}
	f.note(no, i, kind, "query before sending: "+we.Error(), false)
	return false
}

// pause holds every attempt back: Retry-After when WeChat Pay gave one,
// else the backoff.
func (f *Forwarder) pause(retryAfter time.Duration) {
	now := f.opts.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures++
	d := f.backoff(f.failures)
	if retryAfter > d {
		d = retryAfter
	}
	if t := now.Add(d); t.After(f.notBefore) {
		f.notBefore = t
	}
}

// reconcile settles an operation whose outcome is unknown by asking WeChat
// Pay for the order before anything is sent again.
func (f *Forwarder) reconcile(ctx context.Context, o *outbox.Order, i int) bool {
	op := o.Ops[i]
	app, svc := idsOf(op.Body)
	cctx, cancel := f.callCtx(ctx)
	q, err := f.opts.WeChat.Query(cctx, wxpay.QueryRequest{OutOrderNo: o.OutOrderNo, AppID: app, ServiceID: svc})
	cancel()
	if ctx.Err() != nil {
		return false
	}
	notFound := wxpay.ClassOf(err) == wxpay.NotFound
	if err != nil && !notFound {
		return f.queryFailed(o.OutOrderNo, i, op.Kind, err)
	}
	f.Observe(nil)
	switch op.Kind {
	case outbox.OpCreate:
		switch {
		case notFound && o.ReconcileOnly:
			return f.notCreated(o.OutOrderNo)
		case notFound && f.opts.Now().Sub(o.AgeFrom()) > f.opts.MaxAge:
			return f.fail(o.OutOrderNo, i, op.Kind, CodeExpiredOffline, fmt.Sprintf("WeChat Pay has no such order, and it is older than %v: not sent again", f.opts.MaxAge))
		case notFound:
			return f.send(ctx, o, i) // it never arrived: sending it now is its first arrival
		}
		if o.ReconcileOnly {
			return f.done(o.OutOrderNo, i, op.Kind, q) // it exists; never sent again
		}
		// It exists. The same create again is answered with the same order
		// (out_order_no is the idempotency key) and gives back its package.
		var r wxpay.CreateRequest
		if json.Unmarshal(op.Body, &r) == nil {
			cctx, cancel := f.callCtx(ctx)
			resp, err := f.opts.WeChat.Create(cctx, r)
			cancel()
			if err == nil {
				return f.done(o.OutOrderNo, i, op.Kind, resp)
			}
			if ctx.Err() != nil {
				return false
			}
		}
		return f.done(o.OutOrderNo, i, op.Kind, q)
	case outbox.OpComplete:
		switch {
		case notFound:
			return f.fail(o.OutOrderNo, i, op.Kind, "ORDER_NOT_EXIST", "WeChat Pay has no such order to complete")
		case q.State == wxpay.StateFinished || q.State == wxpay.StateUserPaid:
			return f.done(o.OutOrderNo, i, op.Kind, q)
		case q.State == wxpay.StateUserAccepted:
			return f.send(ctx, o, i)
		default:
			return f.fail(o.OutOrderNo, i, op.Kind, "ORDER_STATE_"+q.State, "the order is "+q.State+" at WeChat Pay: it cannot be completed")
		}
	case outbox.OpCancel:
		switch {
		case notFound:
			return f.fail(o.OutOrderNo, i, op.Kind, "ORDER_NOT_EXIST", "WeChat Pay has no such order to cancel")
		case q.State == wxpay.StateRevoked:
			return f.done(o.OutOrderNo, i, op.Kind, q)
		case q.State == wxpay.StateCreated || q.State == wxpay.StateUserAccepted:
			return f.send(ctx, o, i)
		default:
			return f.fail(o.OutOrderNo, i, op.Kind, "ORDER_STATE_"+q.State, "the order is "+q.State+" at WeChat Pay: it cannot be cancelled")
		}
	}
	return f.fail(o.OutOrderNo, i, op.Kind, "BAD_RECORD", fmt.Sprintf("unknown operation %q", op.Kind))
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
// this forwarder holds; events come from fn.
func (f *Forwarder) modifyOp(no string, i int, kind outbox.OpKind, fn func(o *outbox.Order, op *outbox.Op) []outbox.Event) (applied bool, err error) {
	_, err = f.opts.Store.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		applied = false
		if o == nil || i >= len(o.Ops) || o.Ops[i].Kind != kind || o.Ops[i].State == outbox.OpDone || o.Failure != nil {
			return nil, nil, outbox.ErrNoChange // changed under us (dropped, retried): leave it
		}
		applied = true
		return o, fn(o, &o.Ops[i]), nil
	})
	return applied && err == nil, err
}

func (f *Forwarder) done(no string, i int, kind outbox.OpKind, result any) bool {
	now := f.opts.Now()
	_, err := f.modifyOp(no, i, kind, func(o *outbox.Order, op *outbox.Op) []outbox.Event {
		op.State, op.DoneAt, op.Result, op.LastError = outbox.OpDone, now, resultJSON(result), ""
		ev := outbox.Event{Type: outbox.EventOperationSubmitted, Op: kind}
		if kind == outbox.OpCreate {
			ev.Type = outbox.EventOrderSubmitted
			if r, ok := result.(*wxpay.CreateResponse); ok {
				ev.OrderID, ev.Package = r.OrderID, r.Package
			}
		}
		if r, ok := result.(*wxpay.OrderRef); ok {
			ev.OrderID = r.OrderID
		}
		return []outbox.Event{ev}
	})
	if err != nil {
		f.opts.Log.Error("recording a sent operation failed", "out_order_no", no, "op", kind, "error", err)
		return false
	}
	f.opts.Log.Debug("queued operation submitted", "out_order_no", no, "op", kind)
	return true
}

// note records an attempt's error; back to pending only when it surely
// did not arrive.
func (f *Forwarder) note(no string, i int, kind outbox.OpKind, errText string, notArrived bool) {
	_, err := f.modifyOp(no, i, kind, func(o *outbox.Order, op *outbox.Op) []outbox.Event {
		op.LastError = errText
		if notArrived {
			op.State = outbox.OpPending
		}
		return nil
	})
	if err != nil {
		f.opts.Log.Error("recording an attempt failed", "out_order_no", no, "error", err)
	}
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
		f.opts.Log.Error("settling a reconcile-only order failed", "out_order_no", no, "error", err)
	}
	return false
}

// fail moves the order to the failed list with WeChat Pay's code.
func (f *Forwarder) fail(no string, i int, kind outbox.OpKind, code, msg string) bool {
	now := f.opts.Now()
	_, err := f.modifyOp(no, i, kind, func(o *outbox.Order, op *outbox.Op) []outbox.Event {
		op.State, op.LastError = outbox.OpFailed, msg
		o.Failure = &outbox.Failure{Code: code, Message: msg, Op: kind, At: now}
		return []outbox.Event{{Type: outbox.EventOrderFailed, Op: kind, Code: code, Message: msg}}
	})
	if err != nil {
		f.opts.Log.Error("recording a failure failed", "out_order_no", no, "error", err)
	}
	f.opts.Log.Warn("queued operation failed", "out_order_no", no, "op", kind, "code", code)
	return false
}
