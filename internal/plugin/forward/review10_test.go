package forward_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// confirmsFirst is WeChat Pay where the customer confirms the order between
// the forwarder's query (CREATED) and its cancel's arrival.
type confirmsFirst struct {
	*wxpay.Client
	sb *sandbox.Sandbox
}

func (c confirmsFirst) Cancel(ctx context.Context, r wxpay.CancelRequest) (*wxpay.OrderRef, error) {
	_ = c.sb.Accept(r.OutOrderNo)
	return c.Client.Cancel(ctx, r)
}

func TestAQueuedCancelRacingTheConfirmationIsNotLost(t *testing.T) {
	e := setup(t, 0)
	e.stop() // use our own forwarder
	if _, err := e.wx.Create(context.Background(), mustCreate2("RACE-1", true)); err != nil {
		t.Fatal(err)
	}
	store, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "o2.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	creds := testCreds()
	cancelBody, _ := json.Marshal(wxpay.CancelRequest{AppID: creds.AppID, ServiceID: creds.ServiceID, Reason: "顾客取消"})
	o := &outbox.Order{OutOrderNo: "RACE-1", Amount: 1000, Ops: []outbox.Op{pending(outbox.OpCancel, cancelBody)}}
	if _, _, err := store.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
		t.Fatal(err)
	}
	fwd := forward.New(forward.Options{Store: store, WeChat: confirmsFirst{e.wx, e.srv.Sandbox}, Concurrency: 1,
		BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, CallTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fwd.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	fwd.Wake()
	testkit.Within(5*time.Second, func() bool { st, _ := store.Stats(); return st.WorkCount == 0 })
	got, _ := store.Get("RACE-1")
	so, _ := e.srv.Sandbox.Order("RACE-1")
	t.Logf("outbox: %s failure=%+v; sandbox: %s finish_type %d", got.State(), got.Failure, so.State, so.FinishType)
	if got.State() == outbox.StateFailed || so.State != sandbox.StateFinished {
		t.Fatalf("the customer's cancel was lost to the failed list while the order stays %s (it should end uncharged by a complete with finish_type 1)", so.State)
	}
}

func mustCreate2(no string, confirm bool) wxpay.CreateRequest {
	var r wxpay.CreateRequest
	json.Unmarshal(createBody(no, confirm), &r)
	return r
}
