package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// Six kiosks' worth of 15 MiB creates at once, from a host that does not
// bound what it sends, once pushed the plugin to about 970 MB. The plugin
// must refuse each message for its size without holding it.
func TestOversizedCreatesDoNotGrowThePlugin(t *testing.T) {
	p := startRaw(t, false)
	conn := p.dial(t, false)
	client := v1.NewOrderServiceClient(conn)
	ctx := testkit.Context(t)
	cfg := testkit.Start(t, sandbox.Options{}).Config(t)
	if _, err := client.Configure(ctx, &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateOrder(ctx, &v1.CreateOrderRequest{Order: newSale("MEM-0", 100, nil)}); err != nil {
		t.Fatal(err)
	}
	before := peakRSS(t, p.cmd.Process.Pid)

	huge := strings.Repeat("5", 15<<20)
	noConfirm := false
	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = client.CreateOrder(ctx, &v1.CreateOrderRequest{
				Order: func() *v1.NewOrder {
					o := newSale(fmt.Sprintf("MEM-%d", i+1), 100, &noConfirm)
					o.ServiceId = huge
					return o
				}(),
				OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE,
			})
		}()
	}
	wg.Wait()
	after := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("plugin peak RSS: %.1f MiB before, %.1f MiB after six 15 MiB creates", float64(before)/(1<<20), float64(after)/(1<<20))

	for i, err := range errs {
		se := shared.FromStatus(err)
		if err == nil || se.(*shared.Error).Class != shared.ClassInvalid || se.(*shared.Error).Code != codes.ResourceExhausted {
			t.Errorf("create %d: %.300v; want RESOURCE_EXHAUSTED, class INVALID", i+1, se)
		}
	}
	if grew := after - before; grew > 64<<20 {
		t.Errorf("the plugin's peak RSS grew by %.1f MiB, want under 64 MiB", float64(grew)/(1<<20))
	}
	// The connection and the plugin still serve.
	if _, err := client.CreateOrder(ctx, &v1.CreateOrderRequest{Order: newSale("MEM-AFTER", 100, nil)}); err != nil {
		t.Fatal(err)
	}
}
