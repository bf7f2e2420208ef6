package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// queue list follows the plugin's pages to the end: an outbox holding more
// than a page (1,000) is listed whole, in queue order.
func TestQueueListReadsEveryPage(t *testing.T) {
	cfg, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := outbox.Open(outbox.Options{Path: c.OutboxPath, KeyFile: c.OutboxKeyFile})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1001
	for i := range n {
		no := fmt.Sprintf("QL-%04d", i)
		body := fmt.Sprintf(`{"out_order_no":%q,"risk_amount":100}`, no)
		o := &outbox.Order{OutOrderNo: no, Amount: 100, Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: []byte(body), State: outbox.OpPending}}}
		if _, _, err := st.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	code, out, errOut := runCLI(t, "", "queue", "list", "--config", cfg)
	if code != 0 {
		t.Fatalf("queue list: %d %s", code, errOut)
	}
	var resp v1.ListQueueResponse
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil {
		var raw json.RawMessage
		t.Fatalf("queue list printed %v (%v)", json.Unmarshal([]byte(out), &raw), err)
	}
	if len(resp.GetOrders()) != n || resp.GetNextPageToken() != "" {
		t.Fatalf("queue list: %d orders, next_page_token %q; want %d and none", len(resp.GetOrders()), resp.GetNextPageToken(), n)
	}
	for i, q := range resp.GetOrders() {
		if want := fmt.Sprintf("QL-%04d", i); q.GetOutOrderNo() != want {
			t.Fatalf("order %d is %s, want %s", i, q.GetOutOrderNo(), want)
		}
	}
}
