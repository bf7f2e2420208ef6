package plugin_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// benchConfig is a configuration whose WeChat Pay never answers (offline
// sales only) and whose limits do not stop a benchmark.
func benchConfig(b *testing.B) *v1.Config {
	sb := testkit.Start(b, sandbox.Options{})
	sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	c := sb.Config(b)
	c.OfflineMaxOrders, c.OfflineMaxOrderAmount, c.OfflineMaxTotalAmount = 1<<40, 1<<40, 1<<50
	return c
}

func forceOffline(i int) *v1.CreateOrderRequest {
	f := false
	return &v1.CreateOrderRequest{OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE,
		Order: &v1.NewOrder{OutOrderNo: fmt.Sprintf("BQ-%d", i), ServiceStartTime: "OnAccept", RiskAmount: 20000,
			ServiceStartLocation: "K-17", ServiceIntroduction: "无人零售柜",
			NeedUserConfirm: &f, Openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}
}

// BenchmarkCreateForceOffline is an offline sale in the Service itself,
// without the gRPC hop: compare with outbox's BenchmarkEnqueue.
func BenchmarkCreateForceOffline(b *testing.B) {
	svc := plugin.NewService(nil)
	defer svc.Close()
	if _, err := svc.Configure(context.Background(), &v1.ConfigureRequest{Config: benchConfig(b)}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.CreateOrder(context.Background(), forceOffline(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateForceOfflineOverGRPC adds go-plugin's gRPC connection
// (in-process, no TLS): the hop's share of an offline sale.
func BenchmarkCreateForceOfflineOverGRPC(b *testing.B) {
	o, svc := harnessWith(b)
	defer svc.Close()
	if _, err := o.Configure(context.Background(), &v1.ConfigureRequest{Config: benchConfig(b)}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.CreateOrder(context.Background(), forceOffline(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateForceOfflineParallel is sixteen checkouts at once over
// the gRPC hop: they share commits, so what is left is mostly CPU per sale.
func BenchmarkCreateForceOfflineParallel(b *testing.B) {
	o, svc := harnessWith(b)
	defer svc.Close()
	if _, err := o.Configure(context.Background(), &v1.ConfigureRequest{Config: benchConfig(b)}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0))) // 16 callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := o.CreateOrder(context.Background(), forceOffline(int(n.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
