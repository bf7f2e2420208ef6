//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Issue 9, item 1, end to end: a kiosk's plugin starting while an
// operator's plugin compacts a big outbox waited for the lock, got it on
// the compacted-away file once the compaction closed it, and every sale
// it answered QUEUED was lost. Now the waiting plugin gets the outbox that
// is there, and its sales are in it afterwards.
func TestSalesOfAPluginWaitingOnACompactionAreKept(t *testing.T) {
	env := newSandbox(t, sandbox.Options{})
	env.srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline}) // nothing drains
	outboxPath := filepath.Join(env.dir, "outbox.db")
	fillOutbox(t, outboxPath, 5000)

	operator, _ := startHost(t, host.Options{ConfigPath: env.config})
	holding := holders(outboxPath)
	// The kiosk's plugin starts and waits for the outbox.
	type started struct {
		c   *host.Client
		err error
	}
	kiosk := make(chan started, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := host.Start(ctx, host.Options{PluginPath: pluginPath, ConfigPath: env.config, Logger: testLogger(t)})
		kiosk <- started{c, err}
	}()
	waitForWaiter(t, outboxPath, holding)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sizes, err := operator.CompactOutbox(ctx, &v1.CompactOutboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted %d -> %d bytes", sizes.GetSizeBefore(), sizes.GetSizeAfter())
	operator.Close()

	k := <-kiosk
	if k.err != nil {
		t.Fatalf("the kiosk's plugin after the compaction: %v", k.err)
	}
	f := false
	for i := range 5 {
		resp, err := k.c.CreateOrder(ctx, &v1.CreateOrderRequest{OfflineBehavior: v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE,
			Order: newSale(fmt.Sprintf("WAITED-%d", i), 100, &f)})
		if err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
			t.Fatalf("sale %d: %v, %v", i, resp, err)
		}
	}
	k.c.Close()

	s, err := outbox.Open(outbox.Options{Path: outboxPath, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 5 {
		if o, err := s.Get(fmt.Sprintf("WAITED-%d", i)); err != nil || o == nil {
			t.Errorf("sale WAITED-%d answered QUEUED is not in the outbox (%v)", i, err)
		}
	}
}

// fillOutbox makes an outbox of n orders sent and kept for the retention
// period (they count against no limit), quickly (a few commits).
func fillOutbox(t *testing.T, path string, n int) {
	t.Helper()
	s, err := outbox.Open(outbox.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, n)
	for i := range n {
		go func() {
			no := fmt.Sprintf("BIG-%05d", i)
			body := fmt.Sprintf(`{"appid":"x","service_id":"y","out_order_no":%q,"risk_amount":1}`, no)
			_, _, err := s.Enqueue(&outbox.Order{OutOrderNo: no, Amount: 1, Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: []byte(body), State: outbox.OpDone, DoneAt: time.Now()}}},
				outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued})
			done <- err
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// holders lists the processes that have the outbox or its lock file open.
func holders(outboxPath string) map[string]bool {
	out := map[string]bool{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		fds, _ := os.ReadDir("/proc/" + p.Name() + "/fd")
		for _, fd := range fds {
			if target, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, outboxPath) {
				out[p.Name()] = true
			}
		}
	}
	return out
}

// waitForWaiter returns once a process that did not hold the outbox
// before has it (or its lock file) open: a plugin waiting for the lock.
func waitForWaiter(t *testing.T, outboxPath string, before map[string]bool) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, "a second plugin comes to wait for the outbox", func() bool {
		for pid := range holders(outboxPath) {
			if !before[pid] {
				return true
			}
		}
		return false
	})
}
