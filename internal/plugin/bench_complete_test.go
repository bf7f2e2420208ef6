package plugin_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// BenchmarkCompleteOnline is an online complete in the Service against the
// in-process sandbox: what committing it in flight before it leaves, and
// its answer after, costs (two outbox commits) beside the call itself.
func BenchmarkCompleteOnline(b *testing.B) {
	cfg := testkit.Start(b, sandbox.Options{}).Config(b)
	svc := plugin.NewService(nil)
	defer svc.Close()
	ctx := context.Background()
	if _, err := svc.Configure(ctx, &v1.ConfigureRequest{Config: cfg}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := svc.CreateOrder(ctx, &v1.CreateOrderRequest{Order: noConfirm(fmt.Sprintf("BC-%d", i), 20000)}); err != nil {
			b.Fatal(err)
		}
	}
	total := int64(300)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.CompleteOrder(ctx, &v1.CompleteOrderRequest{OutOrderNo: fmt.Sprintf("BC-%d", i), FinishType: 2,
			TotalAmount: &total, Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: 300}}}); err != nil {
			b.Fatal(err)
		}
	}
}
