package plugin

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The outbox's administration: what an operator asks of the queue.

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
		since := s.clock.Stamp()
		o.Since = &since
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

// CompactOutbox rewrites the outbox file. A caller that gives up stops
// the compaction; the outbox stays as it was.
func (s *Service) CompactOutbox(ctx context.Context, _ *v1.CompactOutboxRequest) (*v1.CompactOutboxResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	before, after, err := c.store.CompactContext(ctx)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// The context's error (gRPC's Canceled or DeadlineExceeded), whose
		// text says the compaction stopped and the outbox is as it was.
		s.log.Info("outbox compaction stopped: its caller gave up", "error", err)
		return nil, err
	}
	if err != nil {
		return nil, outboxError(err)
	}
	s.log.Info("outbox compacted", "before", before, "after", after)
	return &v1.CompactOutboxResponse{SizeBefore: before, SizeAfter: after}, nil
}
