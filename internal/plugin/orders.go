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
	req := cancelToWx(r)
	c.defaults(&req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return nil, withOrder(fromWxpay(err, ""), req.OutOrderNo)
	}
	body, _ := json.Marshal(req)
	disp, ref, storedAt, sent, err := s.operation(ctx, c, req.OutOrderNo, outbox.OpCancel, body, wxpay.OrderRef{AppID: req.AppID, ServiceID: req.ServiceID})
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
	req := completeToWx(r)
	c.defaults(&req.AppID, &req.ServiceID)
	if err := req.Validate(); err != nil {
		return nil, withOrder(fromWxpay(err, ""), req.OutOrderNo)
	}
	body, _ := json.Marshal(req)
	disp, ref, storedAt, _, err := s.operation(ctx, c, req.OutOrderNo, outbox.OpComplete, body, wxpay.OrderRef{AppID: req.AppID, ServiceID: req.ServiceID})
	if err != nil {
		return nil, err
	}
	return &v1.CompleteOrderResponse{Disposition: disp, Order: ref, StoredAt: storedAt}, nil
}

// operation runs a cancel or complete: behind the order's queued work if it
// has any, online otherwise, and into the outbox when WeChat Pay cannot be
// reached or the outcome is unknown.
//
// Online, the operation is committed to the outbox in flight before it
// leaves, as the forwarder does: a crash while it is out, or a lost
// answer, is reconciled by query, and a later request for the order is
// judged against what was asked before (the same operation again is
// answered from the outbox; another one is refused), since WeChat Pay's
// query does not show everything a request carried (a cancel's reason).
func (s *Service) operation(ctx context.Context, c *configured, no string, kind outbox.OpKind, body json.RawMessage,
	ids wxpay.OrderRef) (v1.Disposition, *v1.OrderRef, *timestamppb.Timestamp, outbox.OpKind, error) {
	c.calls.RLock() // its outbox stays open until the answer is recorded
	defer c.calls.RUnlock()
	queuedRef := &v1.OrderRef{Appid: ids.AppID, Mchid: c.cfg.MchID, OutOrderNo: no, ServiceId: ids.ServiceID}
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
	a, err := s.putOp(c, no, kind, body, held)
	if err != nil {
		return 0, nil, nil, "", err
	}
	if !a.online {
		return answer(a)
	}
	// Ask for the order first: it says whether the operation can go, and
	// how (a cancel of an order the customer confirmed goes as a complete
	// with finish_type 1; a complete goes with the order's finish_ticket).
	query := wxpay.QueryRequest{OutOrderNo: no, AppID: ids.AppID, ServiceID: ids.ServiceID}
	q, qerr := c.client.Query(ctx, query)
	c.fwd.Observe(qerr)
	v := forward.Before(kind, body, false, q, qerr)
	var result any = q
	err = qerr
	sent := v.Wire
	if v.Action == forward.Reconcile {
		v.Action = forward.Resend // no answer to the query: nothing was sent
	}
	if v.Action == forward.Send {
		result, err = forward.Call(ctx, c.client, no, v.Wire, v.Body)
		c.fwd.Observe(err)
		v = forward.AfterSend(kind, err)
		if v.Action == forward.Check {
			// Refused: perhaps because an earlier attempt whose answer was
			// lost (a host retrying after a crash) already applied it.
			// WeChat Pay's order says, if it shows the same amounts.
			q, qerr := c.client.Query(ctx, query)
			c.fwd.Observe(qerr)
			if v = forward.AfterCheck(kind, body, false, err, q, qerr); v.Action == forward.Applied {
				s.log.Info(string(kind)+" was already applied", "out_order_no", no)
				result = q
			}
		}
	}
	if v.Action != forward.Applied && err != nil {
		s.logFailure(string(kind), no, err)
	}
	c.fwd.Defer(v.RetryAfter) // the forwarder sends it next: not before WeChat Pay said
	now := s.now()
	var ref *v1.OrderRef
	settled, rerr := s.settleOnline(c, no, kind, func(o *outbox.Order, op *outbox.Op) (*outbox.Order, []outbox.Event) {
		switch v.Action {
		case forward.Applied:
			op.State, op.DoneAt, op.Result, op.LastError = outbox.OpDone, now, outbox.ResultOf(result), ""
			if sent != kind {
				op.SentAs = sent
			}
			return o, nil
		case forward.Resend, forward.Reconcile:
			// Pending when it surely did not arrive; in flight (reconciled
			// before any resend) when it may have, as what it went as.
			if v.Action == forward.Resend {
				op.State = outbox.OpPending
			} else if sent != kind && sent != "" {
				op.SentAs = sent
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
		if r, ok := result.(*wxpay.OrderRef); ok {
			ref = refFromWx(r)
		} else if q, ok := result.(*wxpay.Order); ok {
			ref = &v1.OrderRef{Appid: q.AppID, Mchid: q.MchID, OutOrderNo: no, ServiceId: q.ServiceID}
		}
		return v1.Disposition_DISPOSITION_SUBMITTED, ref, nil, sent, nil
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
		if a.prior != nil {
			se.Message += "; the outbox's record: " + describeOp(*a.prior)
		}
	}
	return 0, nil, nil, "", withOrder(refused, no)
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
func (s *Service) putOp(c *configured, no string, kind outbox.OpKind, body json.RawMessage, mayGoOnline bool) (opAnswer, error) {
	now := s.now()
	var a opAnswer
	_, err := c.store.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		a = opAnswer{}
		if o != nil {
			if o.Failure != nil {
				return nil, nil, failedError(o)
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
		if err := aboveQueuedRisk(o, kind, body); err != nil {
			return nil, nil, err
		}
		waiting := o != nil && o.Next() >= 0
		if o == nil {
			o = &outbox.Order{OutOrderNo: no, StoredAt: now}
		}
		op := outbox.Op{Kind: kind, Body: body, State: outbox.OpPending, AddedAt: now}
		online := mayGoOnline && !waiting && !c.fwd.Offline()
		if a.prior != nil && !online {
			// WeChat Pay must refuse it: do not queue a refusal to come.
			return nil, nil, conflictError(no, *a.prior, kind)
		}
		if online {
			op.State, op.Attempts = outbox.OpInFlight, 1
			o.Ops = append(o.Ops, op)
			a.online = true
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

// aboveQueuedRisk refuses a charging complete above the risk_amount of the
// order's create the outbox holds: WeChat Pay would refuse it when sent,
// after the customer has left.
func aboveQueuedRisk(o *outbox.Order, kind outbox.OpKind, body json.RawMessage) error {
	if o == nil || kind != outbox.OpComplete || !o.Has(outbox.OpCreate) {
		return nil
	}
	var c wxpay.CreateRequest
	var r wxpay.CompleteRequest
	if json.Unmarshal(o.Ops[0].Body, &c) != nil || json.Unmarshal(body, &r) != nil || r.FinishType != wxpay.FinishTypeFinish || c.RiskAmount <= 0 || r.Charge() <= c.RiskAmount {
		return nil
	}
	return &shared.Error{Class: shared.ClassInvalid, OutOrderNo: o.OutOrderNo, Reason: shared.ReasonTotalAboveRisk,
		Message: fmt.Sprintf("the complete charges %d fen, more than the order's risk_amount of %d fen: WeChat Pay refuses it", r.Charge(), c.RiskAmount)}
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
	if o != nil && o.Has(outbox.OpCreate) && o.Ops[0].State != outbox.OpDone {
		return &v1.QueryOrderResponse{Order: s.orderFromQueued(c, o), Queued: queuedFromOutbox(o)}, nil
	}
	req := queryToWx(r)
	got, err := c.client.Query(ctx, req)
	if !refusedBeforeSending(err) { // that says nothing of the network
		c.fwd.Observe(err)
	}
	if err != nil {
		return nil, fromWxpay(err, "")
	}
	resp := &v1.QueryOrderResponse{Order: orderFromWx(got)}
	resp.Order.QueryId = r.GetQueryId()
	if o == nil && got.OutOrderNo != "" { // asked by query_id: the outbox knows it by out_order_no
		if o, err = c.store.Get(got.OutOrderNo); err != nil {
			return nil, outboxError(err)
		}
	}
	if o != nil {
		resp.Queued = queuedFromOutbox(o)
		resp.Order.OrderId = createdOrderID(o)
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
