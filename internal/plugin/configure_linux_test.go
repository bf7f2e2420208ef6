//go:build linux

package plugin_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/testkit"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// openCount counts this process's open files at path.
func openCount(path string) int {
	n := 0
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%s", fd.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// Issue 11, item 1: Configure held the service's write lock while it
// waited for a new outbox's lock (2 s) and read its records: every RPC,
// GetStatus included, waited. Now calls go on, on the configuration in
// place, until the new one is ready.
func TestCallsAnswerWhileConfigureWaitsOnALockedOutbox(t *testing.T) {
	e := newOfflineEnv(t, nil)
	other := proto.Clone(e.cfg).(*v1.Config)
	other.OutboxPath = filepath.Join(t.TempDir(), "held.db")
	other.OutboxKeyFile = ""
	held, err := outbox.Open(outbox.Options{Path: other.OutboxPath}) // another's, as far as the plugin knows
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	done := make(chan error, 1)
	go func() {
		_, err := e.o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: other})
		done <- err
	}()
	// Configure waits for the lock once it has the lock file open too.
	testkit.Eventually(t, 10*time.Second, "Configure comes to wait for the outbox", func() bool { return openCount(other.OutboxPath+".lock") >= 2 })
	for i := range 20 {
		st := e.status(t)
		select {
		case <-done:
			t.Fatalf("status call %d answered only once Configure had given up", i)
		default:
		}
		if !st.GetConfigured() {
			t.Fatalf("not configured while Configure waits: %v", st)
		}
	}
	if err := <-done; err == nil {
		t.Fatal("configured on an outbox another holds")
	}
	if st := e.status(t); !st.GetConfigured() || st.GetMchid() == "" {
		t.Errorf("the previous configuration is gone: %v", st)
	}
}
