package forward_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
)

// slowLog is an outbox whose event writes wait for release (a slow fsync).
type slowLog struct {
	*outbox.Store
	release chan struct{}
}

func (s *slowLog) AppendEvent(ev outbox.Event) error {
	<-s.release
	return s.Store.AppendEvent(ev)
}

// Issue 11, item 1: a change of network status held a mutex across the
// fsync of its event, which every online call's Observe also takes, so
// sales waited on the disk. The change is now recorded at once; its events
// are written after, in order.
func TestANetworkChangeDoesNotWaitForItsEvent(t *testing.T) {
	store, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	slow := &slowLog{Store: store, release: make(chan struct{})}
	f := forward.New(forward.Options{Store: slow})
	observed := make(chan struct{})
	go func() {
		f.Observe(&wxpay.Error{Class: wxpay.Network}) // offline
		f.Observe(nil)                                // online again
		f.Observe(&wxpay.Error{Class: wxpay.Network}) // offline again
		close(observed)
	}()
	select {
	case <-observed:
	case <-time.After(5 * time.Second):
		close(slow.release)
		t.Fatal("Observe waited for the event's write")
	}
	if st, _, _, _ := f.Network(); st != forward.Offline {
		t.Errorf("network %s", st)
	}
	close(slow.release)
	var got []string
	testkit.Within(5*time.Second, func() bool {
		evs, _ := store.EventsAfter(0, 10)
		got = got[:0]
		for _, ev := range evs {
			got = append(got, ev.Network)
		}
		return len(got) >= 3
	})
	if len(got) != 3 || got[0] != "OFFLINE" || got[1] != "ONLINE" || got[2] != "OFFLINE" {
		t.Errorf("network events %v, want OFFLINE, ONLINE, OFFLINE", got)
	}
}
