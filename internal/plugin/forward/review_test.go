package forward_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
)

// The last NETWORK_STATUS_CHANGED event always names the state the plugin
// is in, however calls race (an independent review caught the log ending
// on OFFLINE while ONLINE, in a few of 1,000 rounds).
func TestNetworkEventsFollowTheState(t *testing.T) {
	store, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "o.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f := forward.New(forward.Options{Store: store})
	netErr := &wxpay.Error{Class: wxpay.Network}
	var after uint64
	var last string
	for i := 0; i < 300; i++ {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); f.Observe(netErr) }()
		go func() { defer wg.Done(); f.Observe(nil) }()
		wg.Wait()
		// The events are written after the change, in its order (a sale
		// does not wait for their fsync): the log catches up with the state.
		st, _, _, _ := f.Network()
		caughtUp := func() bool {
			evs, _ := store.EventsAfter(after, 4096)
			for _, ev := range evs {
				last, after = ev.Network, ev.Seq
			}
			return last == "" || last == string(st)
		}
		if !testkit.Within(5*time.Second, caughtUp) {
			t.Fatalf("round %d: the last event says %s, the state is %s", i, last, st)
		}
		f.Observe(nil)
	}
}
