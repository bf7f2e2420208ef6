package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// CancelOrder revokes an order not yet completed, or queues the cancel
// behind the order's other operations.
func (s *Service) CancelOrder(ctx context.Context, r *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	call, err := c.api.cancel(r)
	if err != nil {
		return nil, err
	}
	disp, ref, storedAt, sent, err := s.operation(ctx, c, call)
	if err != nil {
		return nil, err
	}
	return &v1.CancelOrderResponse{Disposition: disp, Order: ref, StoredAt: storedAt, SentOperation: string(sent)}, nil
}

// CompleteOrder finishes (and charges) or cancels an accepted order, or
// queues the complete behind the order's other operations.
func (s *Service) CompleteOrder(ctx context.Context, r *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	call, err := c.api.complete(r)
	if err != nil {
		return nil, err
	}
	disp, ref, storedAt, _, err := s.operation(ctx, c, call)
	if err != nil {
		return nil, err
	}
	return &v1.CompleteOrderResponse{Disposition: disp, Order: ref, StoredAt: storedAt}, nil
}

// operation runs a cancel, complete or modify: behind the order's queued
// work if it has any, online otherwise, and into the outbox when WeChat
// Pay cannot be reached or the outcome is unknown.
//
// Online, the operation is committed to the outbox in flight before it
// leaves, as the forwarder does: a crash while it is out, or a lost
// answer, is reconciled by query, and a later request for the order is
// judged against what was asked before (the same operation again is
// answered from the outbox; another one is refused), since WeChat Pay's
// query does not show everything a request carried (a cancel's reason).
func (s *Service) operation(ctx context.Context, c *configured, call opCall) (v1.Disposition, *v1.OrderRef, *timestamppb.Timestamp, outbox.OpKind, error) {
	c.calls.RLock() // its outbox stays open until the answer is recorded
	defer c.calls.RUnlock()
	no, kind := call.no, call.kind
	queuedRef := &v1.OrderRef{Appid: call.ids.AppID, Mchid: c.cfg.MchID, OutOrderNo: no, ServiceId: call.ids.ServiceID}
	answer := func(a opAnswer) (v1.Disposition, *v1.OrderRef, *timestamppb.Timestamp, outbox.OpKind, error) {
		if a.disp == v1.Disposition_DISPOSITION_SUBMITTED {
			return a.disp, a.ref, nil, a.sent, nil
		}
		return a.disp, queuedRef, timestamppb.New(a.at), "", nil
	}
	held, err := s.hold(ctx, c, no)
	if err != nil {
		return 0, nil, nil, "", err
	}
	if held {
		defer c.fwd.Release(no)
	}
	a, err := s.putOp(c, call, held)
	if err != nil {
		return 0, nil, nil, "", err
	}
	if !a.online {
		return answer(a)
	}
	sent, err := s.send(ctx, c, c.api, call, c.fwd.Sale(a.order, kind))
	v, result := sent.verdict, sent.result
	c.fwd.Defer(v.RetryAfter) // the forwarder sends it next: not before WeChat Pay said
	now := s.now()
	settled, rerr := s.settleOnline(c, no, kind, func(o *outbox.Order, op *outbox.Op) (*outbox.Order, []outbox.Event) {
		switch v.Action {
		case forward.Applied:
			op.State, op.DoneAt, op.Result, op.LastError = outbox.OpDone, now, outbox.ResultOf(result), ""
			if sent.as != kind {
				op.SentAs = sent.as
			}
			return o, nil
		case forward.Resend, forward.Reconcile:
			// Pending when it surely did not arrive; in flight (reconciled
			// before any resend) when it may have, as what it went as.
			if v.Action == forward.Resend {
				op.State = outbox.OpPending
			} else if sent.as != kind && sent.as != "" {
				op.SentAs = sent.as
			}
			if err != nil {
				op.LastError = err.Error()
			}
			return o, []outbox.Event{{Type: outbox.EventOperationQueued, Op: kind}}
		}
		// Refused: it leaves the outbox, as the host is told it failed.
		o.Ops = o.Ops[:len(o.Ops)-1]
		if len(o.Ops) == 0 {
			return nil, nil
		}
		return o, nil
	})
	switch v.Action {
	case forward.Applied:
		if rerr != nil {
			// WeChat Pay applied it: say so. The record stays in flight and
			// the forwarder settles it by query.
			s.log.Warn("recording a sent operation failed", "out_order_no", no, "error", rerr)
		}
		return v1.Disposition_DISPOSITION_SUBMITTED, refOf(result, call, c.cfg.MchID), nil, sent.as, nil
	case forward.Resend, forward.Reconcile:
		if rerr != nil {
			return 0, nil, nil, "", mayHaveArrived(withOrder(outboxError(rerr), no), outbox.OpInFlight)
		}
		return answer(settled)
	}
	if rerr != nil {
		// Refused, but the outbox still holds it in flight: the forwarder
		// will reconcile it and may yet send it. Not a refusal, then.
		return 0, nil, nil, "", mayHaveArrived(withOrder(outboxError(fmt.Errorf("WeChat Pay refused the %s (%s), but the outbox could not record that: %w", kind, v.Message, rerr)), no), outbox.OpInFlight)
	}
	return 0, nil, nil, "", refusedError(no, v, err, a.prior)
}

// sent is what came of sending an operation online.
type sent struct {
	verdict forward.Verdict
	result  any           // WeChat Pay's answer (or the order, when found applied)
	as      outbox.OpKind // what went to WeChat Pay (a cancel may go as a complete)
}

// send sends an operation online as the rule book says: a query of the
// order first says whether it can go, and how (a cancel of a smart-retail
// order the customer confirmed goes as a complete with finish_type 1; a
// complete goes with the order's finish_ticket); a refusal is checked
// against the order, since an earlier attempt whose answer was lost (a
// host retrying after a crash) may have applied it. err is the last
// answer's error, for the record.
func (s *Service) send(ctx context.Context, c *configured, api payscore, call opCall, sale forward.Sale) (sent, error) {
	query := wxpay.QueryRequest{OutOrderNo: call.no, AppID: call.ids.AppID, ServiceID: call.ids.ServiceID}
	q, qerr := api.Query(ctx, query)
	c.fwd.Observe(qerr)
	v := api.Before(call.kind, call.body, false, q, qerr)
	out := sent{verdict: v, result: q, as: v.Wire}
	err := qerr
	if v.Action == forward.Reconcile {
		out.verdict.Action = forward.Resend // no answer to the query: nothing was sent
	}
	if v.Action != forward.Send {
		return out, err
	}
	v.Body = api.Times(v.Wire, v.Body, q, sale)
	out.result, err = api.Call(ctx, call.no, v.Wire, v.Body)
	c.fwd.Observe(err)
	out.verdict = forward.AfterSend(call.kind, err)
	if out.verdict.Action == forward.Check {
		q, qerr := api.Query(ctx, query)
		c.fwd.Observe(qerr)
		if out.verdict = api.AfterCheck(call.kind, call.body, false, err, q, qerr); out.verdict.Action == forward.Applied {
			s.log.Info(string(call.kind)+" was already applied", "out_order_no", call.no)
			out.result = q
		}
	}
	if out.verdict.Action != forward.Applied && err != nil {
		s.logFailure(string(call.kind), call.no, err)
	}
	return out, err
}

// sendChecked sends an operation that is never queued (pay, sync), and
// answers with WeChat Pay's result or the reason it was not applied.
func (s *Service) sendChecked(ctx context.Context, c *configured, api payscore, call opCall) (any, error) {
	out, err := s.send(ctx, c, api, call, c.fwd.Sale(nil, call.kind))
	switch out.verdict.Action {
	case forward.Applied:
		return out.result, nil
	case forward.Resend:
		c.fwd.Defer(out.verdict.RetryAfter)
		if err == nil {
			err = errors.New("WeChat Pay could not be asked for the order first")
		}
		return nil, withOrder(fromWxpay(err, ""), call.no)
	case forward.Reconcile:
		e := fromWxpay(err, "")
		if se, ok := e.(*shared.Error); ok {
			se.ReachedServer = true
			se.Message += "; the " + string(call.kind) + " may have reached WeChat Pay: query the order to see"
		}
		return nil, withOrder(e, call.no)
	}
	return nil, refusedError(call.no, out.verdict, err, nil)
}

// refusedError is the host's answer for an operation the rule book
// refused: for the order's state (or its absence), found before sending,
// or WeChat Pay's refusal, with what the check found and what the outbox
// knows was applied (prior).
func refusedError(no string, v forward.Verdict, err error, prior *outbox.Op) error {
	var refused error
	switch {
	case err == nil || wxpay.ClassOf(err) == wxpay.NotFound:
		// Decided on the order's state (or its absence) before sending.
		refused = &shared.Error{Class: shared.ClassInvalid, Reason: v.Code, Message: v.Message}
		if v.Code == forward.CodeOrderNotExist {
			refused.(*shared.Error).Class = shared.ClassNotFound
		}
	default:
		refused = fromWxpay(err, "")
	}
	if se, ok := refused.(*shared.Error); ok {
		if v.Message != "" && (err == nil || v.Message != err.Error()) {
			se.Message = v.Message // what the check found: the order's state and amounts
		}
		if prior != nil {
			se.Message += "; the outbox's record: " + describeOp(*prior)
		}
	}
	return withOrder(refused, no)
}

// refOf is the reference to the order an answer gives: a cancel's or
// pay's reference, or the order itself.
func refOf(result any, call opCall, mchID string) *v1.OrderRef {
	ref := &v1.OrderRef{Appid: call.ids.AppID, Mchid: mchID, OutOrderNo: call.no, ServiceId: call.ids.ServiceID}
	switch r := result.(type) {
	case *wxpay.OrderRef:
		if r != nil && r.OutOrderNo != "" {
			ref = refFromWx(r)
		}
	case *wxpay.Order:
		if r != nil {
			ref.Appid, ref.Mchid, ref.ServiceId = r.AppID, r.MchID, r.ServiceID
		}
	case *wxpay.ServiceOrder:
		if r != nil {
			ref.Appid, ref.Mchid, ref.ServiceId, ref.OrderId = r.AppID, r.MchID, r.ServiceID, r.OrderID
		}
	}
	return ref
}

// hold keeps the forwarder and other online calls off order no while this
// call sends one of its operations. Behind another online call for the
// order it waits for that call's outcome (a retry then gets it from the
// outbox); held is false when the forwarder has the order in hand, and the
// operation is then queued behind its work.
func (s *Service) hold(ctx context.Context, c *configured, no string) (held bool, err error) {
	for {
		held, wait := c.fwd.Hold(no)
		if wait == nil {
			return held, nil
		}
		s.log.Debug("waiting for another call for the order still being sent", "out_order_no", no)
		select {
		case <-wait:
		case <-ctx.Done():
			return false, &shared.Error{Class: shared.ClassTransient, OutOrderNo: no,
				Message: "another call for order " + no + " was still being sent when this one gave up: send it again to get that call's outcome"}
		}
	}
}

// settleOnline records what came of the online path's operation of kind
// (the order's last operation, in flight): change edits it, and returns
// the order (nil deletes it) and events.
func (s *Service) settleOnline(c *configured, no string, kind outbox.OpKind, change func(o *outbox.Order, op *outbox.Op) (*outbox.Order, []outbox.Event)) (opAnswer, error) {
	var a opAnswer
	_, err := c.store.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		if o == nil || len(o.Ops) == 0 {
			return nil, nil, outbox.ErrNoChange
		}
		op := &o.Ops[len(o.Ops)-1]
		if op.Kind != kind || op.State != outbox.OpInFlight {
			return nil, nil, outbox.ErrNoChange // settled meanwhile
		}
		a = opAnswer{disp: v1.Disposition_DISPOSITION_QUEUED, at: op.AddedAt}
		n, events := change(o, op)
		return n, events, nil
	})
	return a, err
}

// opAnswer is what putOp decided.
type opAnswer struct {
	online bool           // stored in flight: send it online now
	sent   outbox.OpKind  // for SUBMITTED: what went to WeChat Pay
	prior  *outbox.Op     // another cancel or complete the order had applied
	disp   v1.Disposition // QUEUED or SUBMITTED
	ref    *v1.OrderRef   // for SUBMITTED
	at     time.Time      // for QUEUED: when it was stored
	order  *outbox.Order  // the record as stored, when online: its sale's times
}

// putOp decides and stores, in one transaction, what becomes of a cancel or
// complete for the order's record, so that concurrent calls cannot both add
// one:
//   - the same request already there: its state (SUBMITTED or QUEUED), nothing added;
//   - another cancel or complete there: refused, one order takes one;
//   - a failed order: its failure;
//   - otherwise the operation is added: pending (QUEUED) behind work the
//     order has waiting, when the network is known to be down, or when
//     the online path may not send it (mayGoOnline false); else in flight,
//     and the answer is to send it online now.
func (s *Service) putOp(c *configured, call opCall, mayGoOnline bool) (opAnswer, error) {
	now := s.now()
	no, kind, body := call.no, call.kind, call.body
	ending := kind == outbox.OpCancel || kind == outbox.OpComplete
	var a opAnswer
	_, err := c.store.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		a = opAnswer{}
		if o != nil {
			if o.Failure != nil {
				return nil, nil, failedError(o)
			}
			if made := c.apiOf(o).Name(); made != c.api.Name() {
				return nil, nil, otherAPIError(no, made, c.api.Name())
			}
			for _, op := range o.Ops {
				switch {
				case op.Kind == kind && outbox.SameBody(op.Body, body) && op.State == outbox.OpDone:
					var ref wxpay.OrderRef
					_ = json.Unmarshal(op.Result, &ref)
					a.disp, a.ref, a.sent = v1.Disposition_DISPOSITION_SUBMITTED, refFromWx(&ref), op.Kind
					if op.SentAs != "" {
						a.sent = op.SentAs
					}
					return nil, nil, outbox.ErrNoChange
				case op.Kind == kind && outbox.SameBody(op.Body, body):
					a.disp, a.at = v1.Disposition_DISPOSITION_QUEUED, op.AddedAt
					return nil, nil, outbox.ErrNoChange
				case !ending:
					// A modify goes after the complete it changes; WeChat
					// Pay's order decides whether it can.
				case (op.Kind == outbox.OpCancel || op.Kind == outbox.OpComplete) && op.State == outbox.OpDone:
					// Another one was applied: WeChat Pay will refuse this
					// one, and its answer (with the order's state) is what
					// the host gets, with what the outbox knows was applied.
					prior := op
					a.prior = &prior
				case op.Kind == outbox.OpCancel || op.Kind == outbox.OpComplete:
					return nil, nil, conflictError(no, op, kind)
				}
			}
		}
		if o != nil && kind == outbox.OpComplete && o.Has(outbox.OpCreate) {
			// WeChat Pay would refuse it when sent, after the customer has left.
			if err := c.api.aboveRisk(no, o.Ops[0].Body, body); err != nil {
				return nil, nil, err
			}
		}
		waiting := o != nil && o.Next() >= 0
		if o == nil {
			o = &outbox.Order{OutOrderNo: no, StoredAt: now, API: c.api.Name()}
		}
		asked := s.clock.Stamp()
		op := outbox.Op{Kind: kind, Body: body, State: outbox.OpPending, AddedAt: now, Asked: &asked}
		online := mayGoOnline && !waiting && !c.fwd.Offline()
		if a.prior != nil && !online {
			// WeChat Pay must refuse it: do not queue a refusal to come.
			return nil, nil, conflictError(no, *a.prior, kind)
		}
		if online {
			op.State, op.Attempts = outbox.OpInFlight, 1
			o.Ops = append(o.Ops, op)
			a.online, a.order = true, o
			return o, nil, nil
		}
		o.Ops = append(o.Ops, op)
		a.disp, a.at = v1.Disposition_DISPOSITION_QUEUED, now
		return o, []outbox.Event{{Type: outbox.EventOperationQueued, Op: kind}}, nil
	})
	var se *shared.Error
	switch {
	case errors.As(err, &se):
		return a, err
	case err != nil:
		return a, withOrder(outboxError(err), no)
	}
	if !a.online && a.disp == v1.Disposition_DISPOSITION_QUEUED {
		s.wake()
		s.log.Debug(string(kind)+" queued", "out_order_no", no)
	}
	return a, nil
}

// QueryOrder answers from the outbox for an order whose create has not
// reached WeChat Pay yet, and from WeChat Pay otherwise.
func (s *Service) QueryOrder(ctx context.Context, r *v1.QueryOrderRequest) (*v1.QueryOrderResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	var o *outbox.Order
	if r.GetOutOrderNo() != "" {
		if o, err = c.store.Get(r.GetOutOrderNo()); err != nil {
			return nil, outboxError(err)
		}
	}
	api := c.apiOf(o) // an order is asked of the API it was made on
	if o != nil && o.Has(outbox.OpCreate) && o.Ops[0].State != outbox.OpDone {
		return &v1.QueryOrderResponse{Order: s.orderFromQueued(c, api, o), Queued: queuedFromOutbox(o)}, nil
	}
	got, err := api.Query(ctx, queryToWx(r))
	if !refusedBeforeSending(err) { // that says nothing of the network
		c.fwd.Observe(err)
	}
	if err != nil {
		return nil, fromWxpay(err, "")
	}
	resp := &v1.QueryOrderResponse{Order: api.order(got)}
	resp.Order.QueryId = r.GetQueryId()
	if o == nil && resp.Order.OutOrderNo != "" { // asked by query_id: the outbox knows it by out_order_no
		if o, err = c.store.Get(resp.Order.OutOrderNo); err != nil {
			return nil, outboxError(err)
		}
	}
	if o != nil {
		resp.Queued = queuedFromOutbox(o)
		if id := createdOrderID(o); id != "" {
			resp.Order.OrderId = id
		}
	}
	return resp, nil
}

// logFailure logs a failed call: a refused request is the host's to handle
// and only worth a debug line; anything else is a warning.
func (s *Service) logFailure(op, outOrderNo string, err error) {
	if wxpay.ClassOf(err) == wxpay.Invalid {
		s.log.Debug(op+" refused", "out_order_no", outOrderNo, "error", err)
		return
	}
	s.log.Warn(op+" failed", "out_order_no", outOrderNo, "error", err)
}
