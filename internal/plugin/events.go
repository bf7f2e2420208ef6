package plugin

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
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
