package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kioskpay/smartretail/plugin/outbox"
	"github.com/kioskpay/smartretail/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// eventBatch bounds how many events one read of the log returns.
const eventBatch = 256

// WatchEvents sends the events after r.AfterSequence, then each new one as
// it is committed, until ctx ends. Events are read from the outbox's log,
// so a host that reconnects, or a plugin that restarted, misses none.
func (s *Service) WatchEvents(ctx context.Context, r *v1.WatchEventsRequest, send func(*v1.Event) error) error {
	c, err := s.working()
	if err != nil {
		return err
	}
	after := r.GetAfterSequence()
	st, err := c.store.Stats()
	if err != nil {
		return outboxError(err)
	}
	if after > st.LastEventSeq {
		// Numbers from another outbox (the config now names a new one, or
		// the file was replaced): this one's events all count as new.
		after = 0
	}
	if after > 0 && after+1 < st.FirstEventSeq {
		// Events the host has not seen were pruned: say so, never skip
		// them silently.
		lost := &v1.Event{Sequence: st.FirstEventSeq - 1, Type: v1.EventType_EVENT_TYPE_EVENTS_LOST, Time: timestamppb.Now(),
			Message: fmt.Sprintf("events %d to %d are no longer kept (older than the retention period): query the orders you need", after+1, st.FirstEventSeq-1)}
		if err := send(lost); err != nil {
			return err
		}
		after = st.FirstEventSeq - 1
	}
	for {
		changed := c.store.Changed() // before reading: no commit slips between
		evs, err := c.store.EventsAfter(after, eventBatch)
		if err != nil {
			if errors.Is(err, outbox.ErrClosed) {
				return &shared.Error{Class: shared.ClassNotConfigured, Message: "the plugin was reconfigured or is stopping: watch again"}
			}
			return outboxError(err)
		}
		for _, ev := range evs {
			if err := send(eventToProto(ev)); err != nil {
				return err
			}
			after = ev.Seq
		}
		if len(evs) == eventBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func eventToProto(ev outbox.Event) *v1.Event {
	types := map[string]v1.EventType{
		outbox.EventOrderQueued:          v1.EventType_EVENT_TYPE_ORDER_QUEUED,
		outbox.EventOrderSubmitted:       v1.EventType_EVENT_TYPE_ORDER_SUBMITTED,
		outbox.EventOrderFailed:          v1.EventType_EVENT_TYPE_ORDER_FAILED,
		outbox.EventOperationQueued:      v1.EventType_EVENT_TYPE_OPERATION_QUEUED,
		outbox.EventOperationSubmitted:   v1.EventType_EVENT_TYPE_OPERATION_SUBMITTED,
		outbox.EventNetworkStatusChanged: v1.EventType_EVENT_TYPE_NETWORK_STATUS_CHANGED,
		outbox.EventEventsLost:           v1.EventType_EVENT_TYPE_EVENTS_LOST,
	}
	return &v1.Event{
		Sequence:      ev.Seq,
		Type:          types[ev.Type],
		Time:          timestamppb.New(ev.Time),
		OutOrderNo:    ev.OutOrderNo,
		Operation:     string(ev.Op),
		OrderId:       ev.OrderID,
		Package:       ev.Package,
		Code:          ev.Code,
		Message:       ev.Message,
		NetworkStatus: networkStatus(ev.Network),
	}
}

func networkStatus(s string) v1.NetworkStatus {
	switch s {
	case "ONLINE":
		return v1.NetworkStatus_NETWORK_STATUS_ONLINE
	case "OFFLINE":
		return v1.NetworkStatus_NETWORK_STATUS_OFFLINE
	}
	return v1.NetworkStatus_NETWORK_STATUS_UNKNOWN
}

// queuedFromOutbox is the outbox's view of an order.
func queuedFromOutbox(o *outbox.Order) *v1.QueuedOrder {
	q := &v1.QueuedOrder{OutOrderNo: o.OutOrderNo, StoredAt: timestamppb.New(o.StoredAt), Amount: o.Amount}
	switch o.State() {
	case outbox.StateQueued:
		q.LocalState = v1.LocalState_LOCAL_STATE_QUEUED
	case outbox.StateSubmitting:
		q.LocalState = v1.LocalState_LOCAL_STATE_SUBMITTING
	case outbox.StateSubmitted:
		q.LocalState = v1.LocalState_LOCAL_STATE_SUBMITTED
	case outbox.StateFailed:
		q.LocalState = v1.LocalState_LOCAL_STATE_FAILED
		q.FailureCode, q.FailureMessage, q.FailedOperation = o.Failure.Code, o.Failure.Message, string(o.Failure.Op)
	}
	for _, op := range o.Ops {
		if op.State != outbox.OpDone {
			q.PendingOperations = append(q.PendingOperations, string(op.Kind))
		}
	}
	if i := o.Next(); i >= 0 {
		q.Attempts, q.LastError = int32(o.Ops[i].Attempts), o.Ops[i].LastError
	}
	return q
}

// orderFromQueued builds the Order message from a queued create, for a
// query that WeChat Pay cannot answer yet. State stays empty: WeChat Pay
// has given it none.
func (s *Service) orderFromQueued(c *configured, o *outbox.Order) *v1.Order {
	var r wxpay.CreateRequest
	if err := json.Unmarshal(o.Ops[0].Body, &r); err != nil {
		// Answer what the outbox knows, and say why the rest is missing.
		s.log.Error("queued create cannot be read: its fields are left out of the answer", "out_order_no", o.OutOrderNo, "error", err)
	}
	return &v1.Order{
		Appid: r.AppID, Mchid: c.cfg.MchID, OutOrderNo: o.OutOrderNo, ServiceId: r.ServiceID,
		ServiceStartTime: r.ServiceStartTime, ServiceEndTime: r.ServiceEndTime,
		ServiceStartLocation: r.ServiceStartLocation, ServiceEndLocation: r.ServiceEndLocation,
		ServiceIntroduction: r.ServiceIntroduction, Fees: feesFromWx(r.Fees),
		Discounts: discountsFromWx(r.Discounts), RiskAmount: r.RiskAmount, Attach: r.Attach,
	}
}

// ListQueue page sizes: what an empty page_size means, and the most a page
// holds.
const (
	defaultQueuePage = 100
	maxQueuePage     = 1000
)

// ListQueue lists a page of the orders waiting in the outbox, or of its
// failed list, in queue order. The page token is the queue position of the
// page's last order: positions never change, so paging repeats no order.
func (s *Service) ListQueue(_ context.Context, r *v1.ListQueueRequest) (*v1.ListQueueResponse, error) {
	c, err := s.current()
	if err != nil {
		return nil, err
	}
	size := int(r.GetPageSize())
	switch {
	case size < 0:
		return nil, &shared.Error{Class: shared.ClassInvalid, Message: "request refused",
			Violations: []shared.FieldViolation{{Field: "page_size", Description: fmt.Sprintf("must be 0 (meaning %d) or more, got %d", defaultQueuePage, size)}}}
	case size == 0:
		size = defaultQueuePage
	case size > maxQueuePage:
		size = maxQueuePage
	}
	var after uint64
	if t := r.GetPageToken(); t != "" {
		if after, err = strconv.ParseUint(t, 10, 64); err != nil || after == 0 {
			return nil, &shared.Error{Class: shared.ClassInvalid, Message: "request refused",
				Violations: []shared.FieldViolation{{Field: "page_token", Description: "is not a next_page_token ListQueue gave: pass it unchanged, or empty for the first page"}}}
		}
	}
	st := outbox.StateQueued
	if r.GetFailed() {
		st = outbox.StateFailed
	}
	orders, more, err := c.store.List(st, after, size)
	if err != nil {
		return nil, outboxError(err)
	}
	resp := &v1.ListQueueResponse{}
	for _, o := range orders {
		resp.Orders = append(resp.Orders, queuedFromOutbox(o))
	}
	if more {
		resp.NextPageToken = strconv.FormatUint(orders[len(orders)-1].Seq, 10)
	}
	return resp, nil
}

// RetryFailed puts a failed order's failed operation back in the queue.
func (s *Service) RetryFailed(_ context.Context, r *v1.RetryFailedRequest) (*v1.RetryFailedResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	o, err := c.store.Modify(r.GetOutOrderNo(), func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		if o == nil || o.Failure == nil {
			return o, nil, errNotFailed
		}
		i := o.Next()
		kind := o.Failure.Op
		o.Failure = nil
		o.RetriedAt = s.now() // its time to expire starts again
		if i >= 0 {
			// One that was ever sent may be at WeChat Pay: reconcile it
			// first (in flight), never resend it blind.
			o.Ops[i].State = outbox.OpPending
			if o.Ops[i].Attempts > 0 {
				o.Ops[i].State = outbox.OpInFlight
			}
		}
		ev := outbox.Event{Type: outbox.EventOperationQueued, Op: kind, Message: "retried"}
		if kind == outbox.OpCreate {
			ev.Type = outbox.EventOrderQueued
		}
		return o, []outbox.Event{ev}, nil
	})
	if errors.Is(err, errNotFailed) {
		return nil, &shared.Error{Class: shared.ClassNotFound, OutOrderNo: r.GetOutOrderNo(),
			Message: "no failed order " + r.GetOutOrderNo() + " in the outbox"}
	}
	if err != nil {
		return nil, outboxError(err)
	}
	c.fwd.Drain()
	s.log.Info("failed order retried", "out_order_no", o.OutOrderNo)
	return &v1.RetryFailedResponse{Order: queuedFromOutbox(o)}, nil
}

var errNotFailed = errors.New("not on the failed list")

// DropFailed deletes a failed order from the outbox. Only failed orders
// can be dropped: a waiting order may already be at WeChat Pay.
func (s *Service) DropFailed(_ context.Context, r *v1.DropFailedRequest) (*v1.DropFailedResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	_, err = c.store.Modify(r.GetOutOrderNo(), func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
		if o == nil || o.Failure == nil {
			return o, nil, errNotFailed
		}
		return nil, nil, nil
	})
	if errors.Is(err, errNotFailed) {
		return nil, &shared.Error{Class: shared.ClassNotFound, OutOrderNo: r.GetOutOrderNo(),
			Message: "no failed order " + r.GetOutOrderNo() + " in the outbox (only failed orders can be dropped)"}
	}
	if err != nil {
		return nil, outboxError(err)
	}
	s.log.Warn("failed order dropped", "out_order_no", r.GetOutOrderNo())
	return &v1.DropFailedResponse{}, nil
}

// Drain asks the forwarder to send now.
func (s *Service) Drain(context.Context, *v1.DrainRequest) (*v1.DrainResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	c.fwd.Drain()
	st, err := c.store.Stats()
	if err != nil {
		return nil, outboxError(err)
	}
	return &v1.DrainResponse{PendingCount: int64(st.WorkCount)}, nil
}

// CompactOutbox rewrites the outbox file.
func (s *Service) CompactOutbox(context.Context, *v1.CompactOutboxRequest) (*v1.CompactOutboxResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	before, after, err := c.store.Compact()
	if err != nil {
		return nil, outboxError(err)
	}
	s.log.Info("outbox compacted", "before", before, "after", after)
	return &v1.CompactOutboxResponse{SizeBefore: before, SizeAfter: after}, nil
}

// isKeyFileError says whether an outbox open failed over its key file.
func isKeyFileError(err error, keyFile string) bool {
	var pe *os.PathError
	return (errors.As(err, &pe) && pe.Path == keyFile) || strings.Contains(err.Error(), "outbox key "+keyFile)
}
