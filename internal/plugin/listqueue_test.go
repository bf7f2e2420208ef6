package plugin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// queueOutbox is the outbox of a stopped plugin, with n orders waiting
// (LQ-0000, LQ-0001, ... in queue order) and failed of them on the failed
// list; its config is returned for a plugin to open it.
func queueOutbox(t *testing.T, n int, failed ...string) *v1.Config {
	t.Helper()
	e := newOfflineEnv(t, nil)
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := outbox.Open(outbox.Options{Path: e.cfg.GetOutboxPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range n {
		no := fmt.Sprintf("LQ-%04d", i)
		body := fmt.Sprintf(`{"out_order_no":%q,"risk_amount":100}`, no)
		o := &outbox.Order{OutOrderNo: no, Amount: 100, Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: []byte(body), State: outbox.OpPending}}}
		if _, _, err := st.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
			t.Fatal(err)
		}
	}
	for _, no := range failed {
		if _, err := st.Modify(no, func(o *outbox.Order) (*outbox.Order, []outbox.Event, error) {
			o.Failure = &outbox.Failure{Code: "TEST", Message: "failed for the test", Op: outbox.OpCreate}
			return o, nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return e.cfg
}

// inspector is a plugin that only looks at cfg's outbox: nothing is sent.
func inspector(t *testing.T, cfg *v1.Config) shared.Orders {
	t.Helper()
	o, _ := harnessWith(t)
	if _, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg, Inspect: true}); err != nil {
		t.Fatal(err)
	}
	return o
}

// listAll follows next_page_token to the end and returns the orders'
// numbers and how many pages it took.
func listAll(t *testing.T, o shared.Orders, failed bool, size int32) (nos []string, pages int) {
	t.Helper()
	req := &v1.ListQueueRequest{Failed: failed, PageSize: size}
	for {
		resp, err := o.ListQueue(testkit.Context(t), req)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, q := range resp.GetOrders() {
			nos = append(nos, q.GetOutOrderNo())
		}
		if resp.GetNextPageToken() == "" {
			return nos, pages
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func TestListQueuePages(t *testing.T) {
	cfg := queueOutbox(t, 7, "LQ-0001", "LQ-0005", "LQ-0003")
	o := inspector(t, cfg)
	want := []string{"LQ-0000", "LQ-0002", "LQ-0004", "LQ-0006"}
	for _, size := range []int32{1, 2, 3, 4, 0} {
		got, pages := listAll(t, o, false, size)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("page size %d: %v, want %v", size, got, want)
		}
		if wantPages := max(1, (len(want)+int(size)-1)/max(int(size), 1)); size > 0 && pages != wantPages {
			t.Errorf("page size %d: %d pages, want %d", size, pages, wantPages)
		}
	}
	if got, _ := listAll(t, o, true, 2); fmt.Sprint(got) != "[LQ-0001 LQ-0003 LQ-0005]" {
		t.Errorf("failed list: %v, want them in queue order", got)
	}

	_, err := o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{PageSize: -1})
	if se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid); len(se.Violations) != 1 || se.Violations[0].Field != "page_size" {
		t.Errorf("negative page_size: %v", se)
	}
	for _, token := range []string{"x", "0", "-3", "1.5"} {
		_, err := o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{PageToken: token})
		if se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid); len(se.Violations) != 1 || se.Violations[0].Field != "page_token" {
			t.Errorf("page_token %q: %v", token, se)
		}
	}
}

// page_size 0 means 100; more than 1000 means 1000.
func TestListQueuePageSizes(t *testing.T) {
	o := inspector(t, queueOutbox(t, 1001))
	for _, c := range []struct {
		size int32
		want int
	}{{0, 100}, {1000, 1000}, {1001, 1000}, {1 << 30, 1000}} {
		resp, err := o.ListQueue(testkit.Context(t), &v1.ListQueueRequest{PageSize: c.size})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetOrders()) != c.want || resp.GetNextPageToken() == "" {
			t.Errorf("page_size %d: %d orders, next %q; want %d and a token", c.size, len(resp.GetOrders()), resp.GetNextPageToken(), c.want)
		}
	}
	if got, pages := listAll(t, o, false, 0); len(got) != 1001 || pages != 11 || got[1000] != "LQ-1000" {
		t.Errorf("every page: %d orders in %d pages", len(got), pages)
	}
}

// A queued create whose stored body cannot be read is answered with what
// the outbox knows, and the log says why the rest is missing, without the
// body's contents.
func TestQueryOfAnUnreadableQueuedCreateIsLogged(t *testing.T) {
	const openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	e := newOfflineEnv(t, nil)
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := outbox.Open(outbox.Options{Path: e.cfg.GetOutboxPath()})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"out_order_no":"UQ-1","openid":"` + openid + `","risk_amount":"not a number"}`
	o := &outbox.Order{OutOrderNo: "UQ-1", Amount: 100, Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: []byte(body), State: outbox.OpPending}}}
	if _, _, err := st.Enqueue(o, outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var logs syncBuffer
	svc := plugin.NewService(hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug}))
	defer svc.Close()
	// WeChat Pay cannot be reached: the order stays queued.
	cfg := e.cfg
	cfg.ApiBaseUrl = "http://127.0.0.1:1"
	if _, err := svc.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	resp, err := svc.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: "UQ-1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOrder().GetOutOrderNo() != "UQ-1" || resp.GetQueued() == nil {
		t.Errorf("answer: %v", resp)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "UQ-1") && strings.Contains(l, "cannot be read") {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, "risk_amount") {
		t.Errorf("no log line says the queued create UQ-1 cannot be read:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), openid) {
		t.Error("the openid reached the log")
	}
}
