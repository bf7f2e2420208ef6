//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
)

// crashAPIs are the WeChat Pay APIs (payscore_api) the crash test runs on:
// the same sales, kills and figures on each.
var crashAPIs = []string{config.APISmartRetail, config.APIServiceOrder}

// crashNotifyURL is the merchant's notify_url in a service-order config
// (WeChat Pay requires one at create; nothing is posted to it here).
const crashNotifyURL = "https://merchant.example/payscore/notify"

// useAPI makes the config file at path name api, as a merchant's would, so
// that the kiosk's plugin, a second plugin and the CLI all read it.
func useAPI(t *testing.T, path, api string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatalf("the sandbox's config file %s: %v", path, err)
	}
	fields["payscore_api"] = api
	if api == config.APIServiceOrder {
		fields["notify_url"] = crashNotifyURL
	}
	if data, err = json.MarshalIndent(fields, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

// retainedCreate is the create a retained (sent) order of the prefilled
// outbox was made with, in api's words: the outbox holds orders of the API
// the kiosk is configured for.
func retainedCreate(api, no string) []byte {
	if api == config.APIServiceOrder {
		return fmt.Appendf(nil, `{"out_order_no":%q,"service_introduction":"智慧零售柜","time_range":{"start_time":"OnAccept"},"risk_fund":{"name":"ESTIMATE_ORDER_COST","amount":1000},"notify_url":%q,"need_user_confirm":false}`, no, crashNotifyURL)
	}
	return fmt.Appendf(nil, `{"out_order_no":%q,"service_start_time":"OnAccept","risk_amount":1000,"need_user_confirm":false}`, no)
}

// wechatOrder is one order as WeChat Pay (the sandbox) keeps it, on
// either API, in the terms the crash test checks.
type wechatOrder struct {
	state     string // a DOING service order's with its state_description: DOING/MCH_COMPLETE
	total     *int64
	creates   int  // create requests that reached WeChat Pay with its out_order_no
	uncharged bool // ended without a charge, as a cancelled sale must
	completed bool // completed (a charge asked for), as a sold one must
	// The sale's real times as WeChat Pay keeps them (yyyyMMddHHmmss,
	// China time): a start named OnAccept is the moment the order started.
	start, end       string
	created, updated time.Time // when the create, and the last change (the complete), reached it
}

func (o wechatOrder) String() string {
	total := "none"
	if o.total != nil {
		total = fmt.Sprintf("%d fen", *o.total)
	}
	return fmt.Sprintf("%s, total %s", o.state, total)
}

// wantCancelled and wantSold say what a cancelled and a sold sale must be
// on each API.
var (
	wantCancelled = map[string]string{
		config.APISmartRetail:  "REVOKED, or FINISHED with finish_type 1 and nothing charged",
		config.APIServiceOrder: "REVOKED",
	}
	wantSold = map[string]string{
		config.APISmartRetail:  "FINISHED once, 300 fen",
		config.APIServiceOrder: "DOING/MCH_COMPLETE (or DONE once paid) once, 300 fen",
	}
)

// wechatOrders are the orders WeChat Pay holds on api, by out_order_no,
// and the out_order_nos it holds on the other API (where none of the
// kiosk's may be).
func wechatOrders(sb *sandbox.Sandbox, api string) (on map[string]wechatOrder, other []string) {
	on = map[string]wechatOrder{}
	for _, o := range sb.Orders() {
		if api != config.APISmartRetail {
			other = append(other, o.OutOrderNo)
			continue
		}
		state := o.State
		if o.State == sandbox.StateFinished {
			state = fmt.Sprintf("%s, finish_type %d", o.State, o.FinishType)
		}
		on[o.OutOrderNo] = wechatOrder{state: state, total: o.TotalAmount, creates: o.CreateRequests,
			start: o.RealServiceStartTime, end: o.RealServiceEndTime, created: o.CreatedAt, updated: o.UpdatedAt,
			// need_user_confirm false: the order is USER_ACCEPTED from the
			// start, so its cancel goes as a complete with the cancel flag.
			uncharged: endedUncharged(o),
			completed: o.State == sandbox.StateFinished && o.FinishType != sandbox.FinishTypeCancel}
	}
	for _, o := range sb.ServiceOrders() {
		if api != config.APIServiceOrder {
			other = append(other, o.OutOrderNo)
			continue
		}
		state := o.State
		if o.StateDescription != "" {
			state += "/" + o.StateDescription
		}
		start := o.TimeRange.StartTime
		if start == "OnAccept" && o.ConfirmedAt != nil {
			start = hostTime(*o.ConfirmedAt)
		}
		on[o.OutOrderNo] = wechatOrder{state: state, total: o.TotalAmount, creates: o.CreateRequests,
			start: start, end: o.TimeRange.EndTime, created: o.CreatedAt, updated: o.UpdatedAt,
			uncharged: o.State == sandbox.ServiceOrderRevoked,
			completed: o.State == sandbox.ServiceOrderDoing && o.StateDescription == sandbox.DescMchComplete || o.State == sandbox.ServiceOrderDone}
	}
	return on, other
}
