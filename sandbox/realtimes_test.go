package sandbox

import (
	"context"
	"testing"
	"time"
)

// A smart-retail complete keeps the time order the service-order pages
// state: its real end not after the moment it arrives, nor before the real
// start (its own real_service_start_time, else the confirmation). A sale
// that waited offline says when it really started, and passes.
func TestASmartRetailCompleteKeepsTimeOrder(t *testing.T) {
	clk := newFrozenClock()
	now := clk.Now
	srv := startServer(t, Options{Now: now})
	c := srv.Credentials
	cl := pubKeyClient(t, c)
	ctx := context.Background()
	complete := func(no string, times map[string]any) error {
		body := ticketed(srv, no, completeBody(c))
		for k, v := range times {
			body[k] = v
		}
		_, err := cl.Post(ctx, ordersURL(srv)+"/"+no+"/complete", body)
		return err
	}
	for _, no := range []string{"RT-1", "RT-2"} {
		sdkCreate(t, cl, srv, no)
		if err := srv.Sandbox.Accept(no); err != nil {
			t.Fatal(err)
		}
	}
	confirmed := now()
	clk.Add(4 * time.Minute) // later, the complete comes (within the signature window)
	for name, tc := range map[string]struct {
		times map[string]any
		says  string
	}{
		"end in WeChat Pay's future":  {map[string]any{"real_service_end_time": formatWechatTime(now().Add(2 * time.Minute))}, "实际结束时间不能晚于使用完结接口的时间"},
		"end before the confirmation": {map[string]any{"real_service_end_time": formatWechatTime(confirmed.Add(-time.Minute))}, "真实结束时间小于预计开始时间"},
		"end before its own start": {map[string]any{"real_service_start_time": formatWechatTime(confirmed.Add(-time.Minute)),
			"real_service_end_time": formatWechatTime(confirmed.Add(-2 * time.Minute))}, "真实结束时间小于预计开始时间"},
	} {
		e := apiErr(t, complete("RT-1", tc.times), 400, "PARAM_ERROR")
		if detailOf(t, e)["field"] != "/real_service_end_time" || !contains(e.Message, tc.says) {
			t.Errorf("%s: %v %v", name, e.Message, e.Detail)
		}
	}
	if o, _ := srv.Sandbox.Order("RT-1"); o.State != StateUserAccepted {
		t.Errorf("a refused complete changed the order: %s", o.State)
	}
	// The sale that waited: it began before WeChat Pay confirmed it, and
	// ended before the complete came.
	start, end := confirmed.Add(-10*time.Minute), confirmed.Add(-5*time.Minute)
	if err := complete("RT-2", map[string]any{"real_service_start_time": formatWechatTime(start), "real_service_end_time": formatWechatTime(end)}); err != nil {
		t.Fatal(err)
	}
	if o, _ := srv.Sandbox.Order("RT-2"); o.RealServiceStartTime != formatWechatTime(start) || o.RealServiceEndTime != formatWechatTime(end) {
		t.Errorf("kept %s .. %s", o.RealServiceStartTime, o.RealServiceEndTime)
	}
}
