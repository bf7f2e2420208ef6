// Package e2e holds the tests that run the real smartretail-plugin binary:
// through the host library, as a foreign host would on the wire, and under
// signals and a dying host. TestMain builds the binary once.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/sandbox"
)

// pluginPath is the binary TestMain built.
var pluginPath string

func TestMain(m *testing.M) {
	// The test binary doubles as a kiosk host that a test can SIGKILL.
	if os.Getenv(hostModeEnv) != "" {
		os.Exit(runHostMode())
	}
	dir, err := os.MkdirTemp("", "smartretail-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginPath = filepath.Join(dir, "smartretail-plugin")
	if runtime.GOOS == "windows" {
		pluginPath += ".exe"
	}
	build := exec.Command(goTool(), "build", "-o", pluginPath, "github.com/kioskpay/smartretail/cmd/smartretail-plugin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the plugin:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool is the go command that runs these tests: on PATH, or in
// $GOROOT/bin (go test sets GOROOT for its tests' children).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// startHost starts the real plugin through the host library; without a
// config in opts it starts a fresh sandbox for it and returns that too.
func startHost(t *testing.T, opts host.Options) (*host.Client, *sandboxEnv) {
	t.Helper()
	var env *sandboxEnv
	if opts.ConfigPath == "" && opts.Config == nil {
		env = newSandbox(t, sandbox.Options{})
		opts.ConfigPath = env.config
	}
	if opts.PluginPath == "" {
		opts.PluginPath = pluginPath
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := host.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, env
}

// testLogger keeps the host's and plugin's log and shows it if the test
// fails. (Not t.Log directly: go-plugin's log goroutines can outlive the test.)
func testLogger(t *testing.T) hclog.Logger {
	l, _ := testLog(t)
	return l
}

// testLog is testLogger and the log so far, for a test that waits for a
// line in it.
func testLog(t *testing.T) (hclog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host and plugin log:\n%s", buf.String())
		}
	})
	return hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Debug}), buf
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hostModeEnv makes the test binary act as a kiosk host (see TestMain).
const hostModeEnv = "SMARTRETAIL_E2E_HOST_MODE"

// runHostMode starts the plugin through the host library, prints its pid
// and waits to be killed.
func runHostMode() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := host.Start(ctx, host.Options{PluginPath: os.Getenv("E2E_PLUGIN"), ConfigPath: os.Getenv("E2E_CONFIG")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "host mode:", err)
		return 1
	}
	fmt.Printf("plugin pid %d\n", c.PID())
	time.Sleep(time.Minute) // the test SIGKILLs us long before this
	return 0
}
