package plugin

import (
	"context"
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

// A create, from the host's request to its answer, in the order it
// happens: CreateOrder checks the request and picks one of three ways
// (answered from the outbox, queued at once, or sent), and each way ends
// in this file. WeChat Pay's answer is judged by the rule book
// (forward.AfterSend), the same the forwarder uses.

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
	no := r.GetOrder().GetOutOrderNo()
	if no == "" {
		no = NewOutOrderNo(s.now())
	}
	req, err := c.api.create(r.GetOrder(), no)
	if err != nil {
		return nil, err
	}
	p := createPlan{behavior: r.GetOfflineBehavior(), no: no}
	p.mayQueue = p.behavior != v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE && (!req.confirm || c.cfg.OfflineAllowUserConfirm)

	// 1. An order the outbox holds is never sent from here: the forwarder
	// owns it. The same request again is answered from the outbox.
	if o, err := c.store.Get(p.no); err != nil {
		return nil, withOrder(outboxError(err), p.no)
	} else if o != nil && o.Has(outbox.OpCreate) {
		return s.existingCreate(ctx, c, o, req)
	}

	// 2. Queued at once: asked for, or WeChat Pay known to be unreachable
	// (rather than wait out a timeout).
	if p.behavior == v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE {
		if !p.mayQueue {
			return nil, &shared.Error{Class: shared.ClassInvalid, Reason: ReasonNeedsConfirmationOnline, OutOrderNo: p.no,
				Message: "FORCE_OFFLINE: this order needs the customer's confirmation (need_user_confirm), which cannot wait offline; set offline_allow_user_confirm to allow it"}
		}
		return s.queueCreate(ctx, c, req, outbox.OpPending, 0, "")
	}
	if p.mayQueue && c.fwd.Offline() {
		return s.queueCreate(ctx, c, req, outbox.OpPending, 0, "")
	}

	// 3. Sent: the rule book says what WeChat Pay's answer means.
	resp, err := c.api.Call(ctx, no, outbox.OpCreate, req.body)
	c.fwd.Observe(err)
	v := forward.AfterSend(outbox.OpCreate, err)
	if v.Action == forward.Applied {
		created := c.created(req, resp)
		s.log.Debug("order created", "out_order_no", p.no, "order_id", created.OrderId)
		return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: created}, nil
	}
	s.logFailure("create", p.no, err)
	switch v.Action {
	case forward.Reconcile:
		// It may exist at WeChat Pay: never report it failed. Keep it in
		// flight in the outbox, so the forwarder reconciles it by query.
		if p.mayQueue {
			return s.queueCreate(ctx, c, req, outbox.OpInFlight, 1, err.Error())
		}
		if err := s.keepForReconciliation(c, req, err.Error()); err != nil {
			return nil, mayHaveArrived(withOrder(err, p.no), outbox.OpInFlight)
		}
		if wxpay.ClassOf(err) == wxpay.Auth {
			return nil, withOrder(fromWxpay(err, "order"), p.no) // a setup problem, said as such
		}
		return nil, p.notQueued(true, err)
	case forward.Resend:
		// It did not arrive, or WeChat Pay turned it away unprocessed.
		c.fwd.Defer(v.RetryAfter)
		if p.mayQueue {
			return s.queueCreate(ctx, c, req, outbox.OpPending, 0, err.Error())
		}
		if wxpay.ClassOf(err) == wxpay.RateLimited {
			return nil, withOrder(fromWxpay(err, "order"), p.no)
		}
		return nil, p.notQueued(false, err)
	default:
		return nil, withOrder(fromWxpay(err, "order"), p.no)
	}
}

// createPlan is what the host allowed for a create WeChat Pay may not take
// now.
type createPlan struct {
	behavior v1.OfflineBehavior
	no       string
	// mayQueue: the host allows queuing, and the order needs no customer
	// confirmation (or the config lets one wait).
	mayQueue bool
}

// notQueued is the answer for a create that could not be sent and was not
// queued; reached says it may have arrived all the same.
func (p createPlan) notQueued(reached bool, cause error) error {
	reason, msg := ReasonOffline, "WeChat Pay cannot be reached and the order was not queued (REQUIRE_ONLINE)"
	if p.behavior != v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE {
		reason, msg = ReasonNeedsConfirmationOnline, "WeChat Pay cannot be reached; this order needs the customer's confirmation now, so it was not queued: ask the customer to pay another way or try again"
	}
	if reached {
		msg += "; the request may have reached WeChat Pay: the plugin reconciles it (watch for ORDER_SUBMITTED or ORDER_FAILED, or query it) and never sends it again"
	}
	e := &shared.Error{Class: shared.ClassNetwork, Message: msg, Reason: reason, ReachedServer: reached, OutOrderNo: p.no}
	if cause != nil {
		e.Message += ": " + cause.Error()
	}
	return e
}

// existingCreate answers a create for an out_order_no the outbox holds.
func (s *Service) existingCreate(ctx context.Context, c *configured, o *outbox.Order, req newCreate) (*v1.CreateOrderResponse, error) {
	if made := c.apiOf(o).Name(); made != c.api.Name() {
		return nil, otherAPIError(o.OutOrderNo, made, c.api.Name())
	}
	op := o.Ops[0]
	if op.Kind != outbox.OpCreate && op.State == outbox.OpDone {
		// The outbox holds a cancel or complete applied to the order, not
		// its create: the order exists at WeChat Pay (its create went
		// online). Nothing to queue: it was submitted. Its package is
		// WeChat Pay's to give, online.
		return c.submitted(req, o.OutOrderNo), nil
	}
	if op.Kind != outbox.OpCreate {
		// A cancel or complete waits in the outbox for an order it does
		// not hold the create of: a create queued now would go behind it.
		return nil, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: o.OutOrderNo, Reason: shared.ReasonOperationConflict,
			Message: fmt.Sprintf("order %s is known to the outbox by its %s, not by a create: it is not queued again; query it by out_order_no (online, the same create is answered by WeChat Pay)", o.OutOrderNo, describeOp(op))}
	}
	if !outbox.SameBody(op.Body, req.body) {
		return nil, &shared.Error{Class: shared.ClassInvalid, OutOrderNo: o.OutOrderNo,
			Message:    "out_order_no " + o.OutOrderNo + " is already in the outbox with different parameters",
			Violations: []shared.FieldViolation{{Field: "order.out_order_no", Description: "already used for another order; a retry must send the same request"}}}
	}
	switch o.State() {
	case outbox.StateFailed:
		return nil, failedError(o)
	case outbox.StateSubmitted:
		if known, ok := c.api.createdFrom(op.Result); ok {
			return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: known}, nil
		}
	}
	// The host asks again for an order the outbox will not send for it (one
	// it would not queue), or one known to exist whose create answer (the
	// package) was lost: send the same create online.
	if (o.ReconcileOnly && op.State == outbox.OpInFlight) || op.State == outbox.OpDone {
		return s.resendCreate(ctx, c, o, req)
	}
	return c.queued(req, o.OutOrderNo, o.StoredAt), nil
}

// resendCreate sends again a create the outbox holds, for its answer.
// WeChat Pay answers a repeated create with the same order, so this cannot
// make a second one.
func (s *Service) resendCreate(ctx context.Context, c *configured, o *outbox.Order, req newCreate) (*v1.CreateOrderResponse, error) {
	no := o.OutOrderNo
	held, err := s.hold(ctx, c, no)
	if err != nil {
		return nil, err
	}
	if !held {
		// The forwarder has the order in hand (settling it, a moment): wait
		// for it to let go, then answer from what it recorded, so that a
		// host's retry gets the package rather than an answer without it.
		if done := c.fwd.Forwarding(no); done != nil {
			select {
			case <-done:
				if cur, err := c.store.Get(no); err == nil && cur != nil && cur.Has(outbox.OpCreate) {
					return s.existingCreate(ctx, c, cur, req)
				}
			case <-ctx.Done():
			}
		}
		if o.Ops[0].State == outbox.OpDone {
			return c.submitted(req, no), nil
		}
		return c.queued(req, no, o.StoredAt), nil
	}
	defer c.fwd.Release(no)
	resp, err := c.api.Call(ctx, no, outbox.OpCreate, req.body)
	c.fwd.Observe(err)
	if err != nil {
		return nil, withOrder(fromWxpay(err, "order"), no)
	}
	created := c.created(req, resp)
	now := s.now()
	_, merr := c.store.Modify(no, func(cur *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		if cur == nil || cur.Ops[0].Kind != outbox.OpCreate {
			return nil, nil, outbox.ErrNoChange
		}
		wasDone := cur.Ops[0].State == outbox.OpDone
		cur.Ops[0].State, cur.Ops[0].Result = outbox.OpDone, outbox.ResultOf(resp)
		if wasDone {
			return cur, nil, nil // the answer filled in, nothing new happened
		}
		cur.Ops[0].DoneAt = now
		return cur, []outbox.Event{{Type: outbox.EventOrderSubmitted, Op: outbox.OpCreate, OrderID: created.OrderId, Package: created.Package}}, nil
	})
	if merr != nil {
		s.log.Error("recording a create answer failed", "out_order_no", no, "error", merr)
	}
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: created}, nil
}

// queueCreate commits a new order to the outbox (fsync) before answering
// QUEUED, with its limits checked in the same transaction.
//
// The limits bound what the kiosk hands over without WeChat Pay's word,
// and a create in flight (no answer, or one that did not verify) has no
// such word either. One that would pass a limit is kept to be reconciled
// (it may exist at WeChat Pay), never sent again, and the host is told it
// was not queued, as for REQUIRE_ONLINE.
func (s *Service) queueCreate(ctx context.Context, c *configured, req newCreate, state outbox.OpState, attempts int, lastErr string) (*v1.CreateOrderResponse, error) {
	now := s.now()
	o := &outbox.Order{OutOrderNo: req.no, StoredAt: now, Amount: req.amount, API: c.api.Name(),
		Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: req.body, State: state, AddedAt: now, Attempts: attempts, LastError: lastErr}}}
	stored, existed, err := c.store.Enqueue(o, c.limits, outbox.Event{Type: outbox.EventOrderQueued, Op: outbox.OpCreate})
	var le *outbox.LimitError
	if state == outbox.OpInFlight && errors.As(err, &le) {
		if kerr := s.keepForReconciliation(c, req, lastErr); kerr != nil {
			return nil, mayHaveArrived(withOrder(kerr, req.no), state)
		}
		return nil, &shared.Error{Class: shared.ClassNetwork, Reason: le.Reason, ReachedServer: true, OutOrderNo: req.no,
			Message: "no trusted answer from WeChat Pay (" + lastErr + "), and queuing the order would pass an offline limit (" + le.Message +
				"): not queued; the request may have reached WeChat Pay: the plugin reconciles it (watch for ORDER_SUBMITTED or ORDER_FAILED, or query it) and never sends it again"}
	}
	if err != nil {
		return nil, mayHaveArrived(withOrder(outboxError(err), req.no), state)
	}
	if existed {
		// A concurrent call stored it first: answered as a retry is.
		if state == outbox.OpInFlight {
			s.markInFlight(c, req.no, lastErr)
		}
		return s.existingCreate(ctx, c, stored, req)
	}
	s.wake()
	s.log.Debug("order queued", "out_order_no", req.no, "in_flight", state == outbox.OpInFlight)
	return c.queued(req, req.no, stored.StoredAt), nil
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
func (s *Service) keepForReconciliation(c *configured, req newCreate, lastErr string) error {
	now := s.now()
	o := &outbox.Order{OutOrderNo: req.no, StoredAt: now, ReconcileOnly: true, API: c.api.Name(),
		Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: req.body, State: outbox.OpInFlight, AddedAt: now, Attempts: 1, LastError: lastErr}}}
	if _, _, err := c.store.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued, Op: outbox.OpCreate,
		Message: "outcome unknown: reconciling, never resent"}); err != nil {
		return outboxError(err)
	}
	s.wake()
	return nil
}

// queued is the answer for a create the outbox holds unsent.
func (c *configured) queued(req newCreate, no string, storedAt time.Time) *v1.CreateOrderResponse {
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_QUEUED,
		Order:    &v1.CreatedOrder{Appid: req.appID, Mchid: c.cfg.MchID, OutOrderNo: no, ServiceId: req.serviceID},
		StoredAt: timestamppb.New(storedAt)}
}

// submitted is the answer for a create known to have reached WeChat Pay
// whose answer (order_id, package) the outbox does not hold.
func (c *configured) submitted(req newCreate, no string) *v1.CreateOrderResponse {
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED,
		Order: &v1.CreatedOrder{Appid: req.appID, Mchid: c.cfg.MchID, OutOrderNo: no, ServiceId: req.serviceID}}
}

// created is WeChat Pay's answer to a create, for the host: what the API
// answered, or at least the order's names when it cannot be read.
func (c *configured) created(req newCreate, result any) *v1.CreatedOrder {
	if o, ok := c.api.createdFrom(outbox.ResultOf(result)); ok {
		return o
	}
	return c.submitted(req, req.no).Order
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
