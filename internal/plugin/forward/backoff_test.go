package forward_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// fullDisk is an outbox whose writes fail, as on a full disk, once full
// is set; reads still work.
type fullDisk struct {
	*outbox.Store
	full   atomic.Bool
	writes atomic.Int64 // refused
}

var errNoSpace = errors.New("write outbox.db: no space left on device")

func (d *fullDisk) Modify(no string, fn func(*outbox.Order) (*outbox.Order, []outbox.Event, error)) (*outbox.Order, error) {
	if d.full.Load() {
		// As the Store does: decide on a read first; a change that is a
		// no-op costs no write.
		o, err := d.Store.Get(no)
		if err != nil {
			return nil, err
		}
		if _, _, err := fn(o); errors.Is(err, outbox.ErrNoChange) {
			return o, nil
		} else if err != nil {
			return nil, err
		}
		d.writes.Add(1)
		return nil, errNoSpace
	}
	return d.Store.Modify(no, fn)
}

func (d *fullDisk) AppendEvent(ev outbox.Event) error {
	if d.full.Load() {
		d.writes.Add(1)
		return errNoSpace
	}
	return d.Store.AppendEvent(ev)
}

// Issue 9, item 4: with the outbox's disk full and the network back, the
// forwarder looped without pausing when it could not record an outcome:
// 1,437 creates (and a query each) in 6 s for 5 orders. Every failure path
// backs off, and keeps backing off while the disk stays full (an
// independent review found WeChat Pay's answers reset it to the first step).
func TestAStoreThatCannotRecordBacksOff(t *testing.T) {
	sb := testkit.Start(t, sandbox.Options{})
	wx := sb.WeChat(t)
	store, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	// Five sales whose creates were sent and not answered: each will be
	// reconciled, found missing, and sent; none of it can be recorded.
	for _, no := range []string{"FULL-1", "FULL-2", "FULL-3", "FULL-4", "FULL-5"} {
		o := &outbox.Order{OutOrderNo: no, Amount: 100, Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: createBody(no, false), State: outbox.OpInFlight, Attempts: 1}}}
		if _, _, err := store.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
			t.Fatal(err)
		}
	}
	disk := &fullDisk{Store: store}
	disk.full.Store(true)
	fwd := forward.New(forward.Options{Store: disk, WeChat: wx, Concurrency: 4,
		BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, CallTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fwd.Run(ctx); close(done) }()
	time.Sleep(time.Second)
	first := sb.Calls.Load()
	time.Sleep(time.Second)
	second := sb.Calls.Load()
	time.Sleep(time.Second)
	third := sb.Calls.Load() - second
	cancel()
	<-done

	if disk.writes.Load() == 0 {
		t.Fatal("no write was refused: the test did not fill the disk")
	}
	// Backing off from 50 ms doubling to 1 s allows about five rounds in
	// the first second, of at most four orders, each a query and a create:
	// well under 100. Without it, hundreds.
	if first > 100 {
		t.Errorf("%d requests to WeChat Pay in one second with a full disk (%d writes refused)", first, disk.writes.Load())
	}
	// And it grows while the disk stays full, though every query is
	// answered (an answer must not reset the disk's count): two seconds
	// in, a round a second or so.
	if third > 40 {
		t.Errorf("%d requests in the third second with a full disk: the backoff does not grow", third)
	}
	for _, no := range []string{"FULL-1", "FULL-5"} {
		if so, ok := sb.Order(no); ok && so.CreateRequests > 10 {
			t.Errorf("%s created %d times", no, so.CreateRequests)
		}
	}
}
