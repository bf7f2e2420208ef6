package wxpay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// A complete without finish_ticket is refused before it leaves: WeChat Pay
// wants the ticket its query gave (the plugin fills it in from that query).
func TestCompleteWithoutATicketIsNotSent(t *testing.T) {
	var calls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer ts.Close()
	c := newTestClient(t, ts.URL)
	total := int64(100)
	_, err := c.Complete(context.Background(), CompleteRequest{OutOrderNo: "K1", FinishType: FinishTypeFinish,
		Fees: []Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 100}}, TotalAmount: &total})
	var e *Error
	if !errors.As(err, &e) || e.Class != Invalid || len(e.Violations) == 0 || e.Violations[0].Field != "/finish_ticket" {
		t.Fatalf("a complete without finish_ticket: %v", err)
	}
	if calls.Load() != 0 {
		t.Errorf("%d requests sent", calls.Load())
	}
}
