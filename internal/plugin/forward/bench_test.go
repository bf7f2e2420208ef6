package forward_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/sandbox"
)

// BenchmarkDrain sends b.N queued creates to a sandbox that takes 20 ms
// per request, four at a time. The floor is N x 20 ms / 4: the reported
// ratio says how close the forwarder gets to it.
func BenchmarkDrain(b *testing.B) {
	e := setup(b, 0)
	e.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone, LatencyMS: 20})
	for i := 0; i < b.N; i++ {
		no := fmt.Sprintf("BD-%d", i)
		o := &outbox.Order{OutOrderNo: no, Amount: 100, Ops: []outbox.Op{pending(outbox.OpCreate, createBody(no, false))}}
		if _, _, err := e.store.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	e.fwd.Wake()
	for {
		st, err := e.store.Stats()
		if err != nil {
			b.Fatal(err)
		}
		if st.WorkCount == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	bound := time.Duration(b.N) * 20 * time.Millisecond / 4
	b.ReportMetric(float64(time.Since(start))/float64(bound), "x_bound")
}
