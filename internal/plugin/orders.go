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

// Reasons in shared.Error for a create that was not queued.
const (
	ReasonOffline                 = "OFFLINE"
	ReasonNeedsConfirmationOnline = "NEEDS_CONFIRMATION_ONLINE"
)

// CreateOrder sends a create to WeChat Pay, or keeps it in the outbox as
// the offline behaviour says. An empty out_order_no is minted here, stored
// with the order before anything is sent, and returned.
func (s *Service) CreateOrder(ctx context.Context, r *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	c.calls.RLock() // its outbox stays open until the answer is recorded
	defer c.calls.RUnlock()
	req := createToWx(r.GetOrder())
	if req.OutOrderNo == "" {
		req.OutOrderNo = NewOutOrderNo(s.now())
	}
	c.defaults(&req.AppID, &req.ServiceID)
	no := req.OutOrderNo
	if err := req.Validate(); err != nil {
		return nil, withOrder(fromWxpay(err, "order"), no)
	}
	body, _ := json.Marshal(req)

	// An order the outbox holds is never sent from here: the forwarder owns
	// it. The same request again is answered from the outbox.
	if o, err := c.store.Get(no); err != nil {
		return nil, withOrder(outboxError(err), no)
	} else if o != nil && o.Has(outbox.OpCreate) {
		return s.existingCreate(ctx, c, o, req, body)
	}

	behavior := r.GetOfflineBehavior()
	needsConfirm := req.NeedUserConfirm == nil || *req.NeedUserConfirm
	mayQueue := behavior != v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE && (!needsConfirm || c.cfg.OfflineAllowUserConfirm)
	notQueued := func(reached bool, cause error) error {
		reason, msg := ReasonOffline, "WeChat Pay cannot be reached and the order was not queued (REQUIRE_ONLINE)"
		if behavior != v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE {
			reason, msg = ReasonNeedsConfirmationOnline, "WeChat Pay cannot be reached; this order needs the customer's confirmation now, so it was not queued: ask the customer to pay another way or try again"
		}
		if reached {
			msg += "; the request may have reached WeChat Pay: the plugin reconciles it (watch for ORDER_SUBMITTED or ORDER_FAILED, or query it) and never sends it again"
		}
		e := &shared.Error{Class: shared.ClassNetwork, Message: msg, Reason: reason, ReachedServer: reached, OutOrderNo: no}
		if cause != nil {
			e.Message += ": " + cause.Error()
		}
		return e
	}

	if behavior == v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE {
		if !mayQueue {
			return nil, &shared.Error{Class: shared.ClassInvalid, Reason: ReasonNeedsConfirmationOnline, OutOrderNo: no,
				Message: "FORCE_OFFLINE: this order needs the customer's confirmation (need_user_confirm), which cannot wait offline; set offline_allow_user_confirm to allow it"}
		}
		return s.queueCreate(ctx, c, req, body, outbox.OpPending, 0, "")
	}
	if mayQueue && c.fwd.Offline() {
		// Known offline: queue at once rather than wait out a timeout.
		return s.queueCreate(ctx, c, req, body, outbox.OpPending, 0, "")
	}

	resp, err := c.client.Create(ctx, req)
	c.fwd.Observe(err)
	v := forward.AfterSend(outbox.OpCreate, err)
	if v.Action == forward.Applied {
		s.log.Debug("order created", "out_order_no", no, "order_id", resp.OrderID)
		return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: createdFromWx(resp)}, nil
	}
	s.logFailure("create", no, err)
	switch v.Action {
	case forward.Reconcile:
		// It may exist at WeChat Pay: never report it failed. Keep it in
		// flight in the outbox, so the forwarder reconciles it by query.
		if mayQueue {
			return s.queueCreate(ctx, c, req, body, outbox.OpInFlight, 1, err.Error())
		}
		if err := s.keepForReconciliation(c, req, body, err.Error()); err != nil {
			return nil, mayHaveArrived(withOrder(err, no), outbox.OpInFlight)
		}
		if wxpay.ClassOf(err) == wxpay.Auth {
			return nil, withOrder(fromWxpay(err, "order"), no) // a setup problem, said as such
		}
		return nil, notQueued(true, err)
	case forward.Resend:
		// It did not arrive, or WeChat Pay turned it away unprocessed.
		c.fwd.Defer(v.RetryAfter)
		if mayQueue {
			return s.queueCreate(ctx, c, req, body, outbox.OpPending, 0, err.Error())
		}
		if wxpay.ClassOf(err) == wxpay.RateLimited {
			return nil, withOrder(fromWxpay(err, "order"), no)
		}
		return nil, notQueued(false, err)
	default:
		return nil, withOrder(fromWxpay(err, "order"), no)
	}
}

// queueCreate commits a new order to the outbox (fsync) before answering
// QUEUED, with its limits checked in the same transaction.
//
// The limits bound what the kiosk hands over without WeChat Pay's word,
// and a create in flight (no answer, or one that did not verify) has no
// such word either. One that would pass a limit is kept to be reconciled
// (it may exist at WeChat Pay), never sent again, and the host is told it
// was not queued, as for REQUIRE_ONLINE.
func (s *Service) queueCreate(ctx context.Context, c *configured, req wxpay.CreateRequest, body json.RawMessage, state outbox.OpState, attempts int, lastErr string) (*v1.CreateOrderResponse, error) {
	now := s.now()
	o := &outbox.Order{OutOrderNo: req.OutOrderNo, StoredAt: now, Amount: queuedAmount(req),
		Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: body, State: state, AddedAt: now, Attempts: attempts, LastError: lastErr}}}
	stored, existed, err := c.store.Enqueue(o, c.limits, outbox.Event{Type: outbox.EventOrderQueued, Op: outbox.OpCreate})
	var le *outbox.LimitError
	if state == outbox.OpInFlight && errors.As(err, &le) {
		if kerr := s.keepForReconciliation(c, req, body, lastErr); kerr != nil {
			return nil, mayHaveArrived(withOrder(kerr, req.OutOrderNo), state)
		}
		return nil, &shared.Error{Class: shared.ClassNetwork, Reason: le.Reason, ReachedServer: true, OutOrderNo: req.OutOrderNo,
			Message: "no trusted answer from WeChat Pay (" + lastErr + "), and queuing the order would pass an offline limit (" + le.Message +
				"): not queued; the request may have reached WeChat Pay: the plugin reconciles it (watch for ORDER_SUBMITTED or ORDER_FAILED, or query it) and never sends it again"}
	}
	if err != nil {
		return nil, mayHaveArrived(withOrder(outboxError(err), req.OutOrderNo), state)
	}
	if existed {
		if state == outbox.OpInFlight {
			s.markInFlight(c, req.OutOrderNo, lastErr)
		}
		return s.existingCreate(ctx, c, stored, req, body)
	}
	s.wake()
	s.log.Debug("order queued", "out_order_no", req.OutOrderNo, "in_flight", state == outbox.OpInFlight)
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_QUEUED,
		Order:    &v1.CreatedOrder{Appid: req.AppID, Mchid: c.cfg.MchID, OutOrderNo: req.OutOrderNo, ServiceId: req.ServiceID},
		StoredAt: timestamppb.New(stored.StoredAt)}, nil
}

// markInFlight records that a create the outbox holds as unsent may have
// reached WeChat Pay after all (a concurrent attempt), so that it is
// reconciled, not resent blind, and never said to be unsent.
func (s *Service) markInFlight(c *configured, no, lastErr string) {
	_, err := c.store.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		if o == nil || o.Ops[0].Kind != outbox.OpCreate || o.Ops[0].State != outbox.OpPending {
			return nil, nil, outbox.ErrNoChange
		}
		o.Ops[0].State, o.Ops[0].LastError = outbox.OpInFlight, lastErr
		o.Ops[0].Attempts++
		return o, nil, nil
	})
	if err != nil {
		s.log.Error("marking a create in flight failed", "out_order_no", no, "error", err)
	}
}

// keepForReconciliation records a create the host would not queue but that
// may have reached WeChat Pay: it is only ever queried, never resent.
func (s *Service) keepForReconciliation(c *configured, req wxpay.CreateRequest, body json.RawMessage, lastErr string) error {
	now := s.now()
	o := &outbox.Order{OutOrderNo: req.OutOrderNo, StoredAt: now, ReconcileOnly: true,
		Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: body, State: outbox.OpInFlight, AddedAt: now, Attempts: 1, LastError: lastErr}}}
	if _, _, err := c.store.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued, Op: outbox.OpCreate,
		Message: "outcome unknown: reconciling, never resent"}); err != nil {
		return outboxError(err)
	}
	s.wake()
	return nil
}

// existingCreate answers a create for an out_order_no the outbox holds.
func (s *Service) existingCreate(ctx context.Context, c *configured, o *outbox.Order, req wxpay.CreateRequest, body json.RawMessage) (*v1.CreateOrderResponse, error) {
	op := o.Ops[0]
	if op.Kind != outbox.OpCreate && op.State == outbox.OpDone {
		// The outbox holds a cancel or complete applied to the order, not
		// its create: the order exists at WeChat Pay (its create went
		// online). Nothing to queue: it was submitted. Its package is
		// WeChat Pay's to give, online.
		return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED,
			Order: &v1.CreatedOrder{Appid: req.AppID, Mchid: c.cfg.MchID, OutOrderNo: o.OutOrderNo, ServiceId: req.ServiceID}}, nil
	}
	if op.Kind != outbox.OpCreate {
		// A cancel or complete waits in the outbox for an order it does
		// not hold the create of: a create queued now would go behind it.
		return nil, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: o.OutOrderNo, Reason: shared.ReasonOperationConflict,
			Message: fmt.Sprintf("order %s is known to the outbox by its %s, not by a create: it is not queued again; query it by out_order_no (online, the same create is answered by WeChat Pay)", o.OutOrderNo, describeOp(op))}
	}
	if !outbox.SameBody(op.Body, body) {
		return nil, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: o.OutOrderNo,
			Message:    "out_order_no " + o.OutOrderNo + " is already in the outbox with different parameters",
			Violations: []shared.FieldViolation{{Field: "order.out_order_no", Description: "already used for another order; a retry must send the same request"}}}
	}
	var known wxpay.CreateResponse
	switch o.State() {
	case outbox.StateFailed:
		return nil, failedError(o)
	case outbox.StateSubmitted:
		if json.Unmarshal(op.Result, &known) == nil && known.OrderID != "" {
			return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: createdFromWx(&known)}, nil
		}
	}
	// The host asks again for an order the outbox will not send for it (one
	// it would not queue), or one known to exist whose create answer (the
	// package) was lost: send the same create online. WeChat Pay answers a
	// repeated create with the same order, so this cannot make a second one.
	if (o.ReconcileOnly && op.State == outbox.OpInFlight) || op.State == outbox.OpDone {
		held, err := hold(ctx, c, o.OutOrderNo)
		if err != nil {
			return nil, err
		}
		if !held {
			// The forwarder has the order in hand: the outbox's answer.
			if op.State == outbox.OpDone {
				return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED,
					Order: &v1.CreatedOrder{Appid: req.AppID, Mchid: c.cfg.MchID, OutOrderNo: o.OutOrderNo, ServiceId: req.ServiceID}}, nil
			}
			return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_QUEUED,
				Order:    &v1.CreatedOrder{Appid: req.AppID, Mchid: c.cfg.MchID, OutOrderNo: o.OutOrderNo, ServiceId: req.ServiceID},
				StoredAt: timestamppb.New(o.StoredAt)}, nil
		}
		defer c.fwd.Release(o.OutOrderNo)
		resp, err := c.client.Create(ctx, req)
		c.fwd.Observe(err)
		if err != nil {
			return nil, withOrder(fromWxpay(err, "order"), o.OutOrderNo)
		}
		now := s.now()
		_, merr := c.store.Modify(o.OutOrderNo, func(cur *outbox.Order) (*outbox.Order, []outbox.Event, error) {
			if cur == nil || cur.Ops[0].Kind != outbox.OpCreate {
				return nil, nil, outbox.ErrNoChange
			}
			wasDone := cur.Ops[0].State == outbox.OpDone
			cur.Ops[0].State, cur.Ops[0].Result = outbox.OpDone, outbox.ResultOf(resp)
			if wasDone {
				return cur, nil, nil // the answer filled in, nothing new happened
			}
			cur.Ops[0].DoneAt = now
			return cur, []outbox.Event{{Type: outbox.EventOrderSubmitted, Op: outbox.OpCreate, OrderID: resp.OrderID, Package: resp.Package}}, nil
		})
		if merr != nil {
			s.log.Error("recording a create answer failed", "out_order_no", o.OutOrderNo, "error", merr)
		}
		return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: createdFromWx(resp)}, nil
	}
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_QUEUED,
		Order:    &v1.CreatedOrder{Appid: req.AppID, Mchid: c.cfg.MchID, OutOrderNo: o.OutOrderNo, ServiceId: req.ServiceID},
		StoredAt: timestamppb.New(o.StoredAt)}, nil
}

// queuedAmount is what a waiting order can cost the customer at most:
// its risk amount, or its fees when it names no risk amount.
func queuedAmount(r wxpay.CreateRequest) int64 {
	if r.RiskAmount > 0 {
		return r.RiskAmount
	}
	var sum int64
	for _, f := range r.Fees {
		sum += f.FeeAmount
	}
	return sum
}

func (c *configured) defaults(appID, serviceID *string) {
	if *appID == "" {
		*appID = c.cfg.AppID
	}
	if *serviceID == "" {
		*serviceID = c.cfg.ServiceID
	}
}

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
	held, err := hold(ctx, c, no)
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
func hold(ctx context.Context, c *configured, no string) (held bool, err error) {
	for {
		held, wait := c.fwd.Hold(no)
		if wait == nil {
			return held, nil
		}
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
	if o != nil {
		resp.Queued = queuedFromOutbox(o)
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
