//go:build unix

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// processAlive says whether pid runs: a zombie (exited, not yet reaped by
// whoever adopted it) counts as gone.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func TestPluginExitsWhenItsHostIsKilled(t *testing.T) {
	env := newSandbox(t, sandbox.Options{})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hostCmd := exec.Command(self, "-test.run=^$")
	hostCmd.Env = append(os.Environ(), hostModeEnv+"=1", "E2E_PLUGIN="+pluginPath, "E2E_CONFIG="+env.config)
	stdout, err := hostCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	hostCmd.Stderr = &lockedBuffer{}
	if err := hostCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer hostCmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("host mode printed no pid: %v; stderr: %s", err, hostCmd.Stderr)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "plugin pid "))
	if err != nil || pid <= 0 {
		t.Fatalf("host mode said %q", line)
	}
	if !processAlive(pid) {
		t.Fatal("the plugin is not running before the host is killed")
	}

	if err := hostCmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = hostCmd.Wait()
	killed := time.Now()
	t.Cleanup(func() {
		if processAlive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	testkit.Eventually(t, 5*time.Second, fmt.Sprintf("plugin %d exits after its host was SIGKILLed", pid),
		func() bool { return !processAlive(pid) })
	t.Logf("plugin exited %v after its host was SIGKILLed", time.Since(killed).Round(time.Millisecond))
}

func TestRestartOnceAfterThePluginDies(t *testing.T) {
	logger, log := testLog(t)
	c, _ := startHost(t, host.Options{Logger: logger})
	ctx := testkit.Context(t)
	first := c.PID()
	killAndWait(t, first, log)
	st, err := c.GetStatus(ctx, &v1.GetStatusRequest{})
	if err != nil {
		t.Fatalf("the call after the plugin died did not restart it: %v", err)
	}
	if !st.GetConfigured() || c.PID() == first || c.PID() == 0 {
		t.Errorf("restarted plugin: configured=%v pid %d (was %d)", st.GetConfigured(), c.PID(), first)
	}
	killAndWait(t, c.PID(), log)
	_, err = c.GetStatus(ctx, &v1.GetStatusRequest{})
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("second death: got %v, want an error saying the plugin exited and how", err)
	}
}

// killAndWait kills plugin pid and waits for go-plugin's line in the
// host's log that it reaped it. go-plugin marks its client exited, which
// the host's next call looks at, right after writing that line; the host
// library has no way to ask for the mark itself.
func killAndWait(t *testing.T, pid int, log *lockedBuffer) {
	t.Helper()
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	reaped := regexp.MustCompile(`plugin process exited: .*\bid=` + strconv.Itoa(pid) + `\b`)
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("go-plugin reaps plugin %d after SIGKILL", pid),
		func() bool { return reaped.MatchString(log.String()) })
}

// The host library turns go-plugin's AutoMTLS on: the plugin it starts has
// the host's certificate in its environment (and so serves only TLS, which
// TestForeignHostOnTheWireWithMTLS shows for a plugin given one).
func TestHostStartsThePluginWithMTLS(t *testing.T) {
	for _, disable := range []bool{false, true} {
		c, _ := startHost(t, host.Options{DisableAutoMTLS: disable})
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", c.PID()))
		if err != nil {
			t.Skipf("cannot read the plugin's environment here: %v", err)
		}
		has := strings.Contains(string(environ), "PLUGIN_CLIENT_CERT=-----BEGIN CERTIFICATE-----")
		if has == disable {
			t.Errorf("DisableAutoMTLS=%v: the plugin has a client certificate: %v", disable, has)
		}
		if _, err := c.GetStatus(testkit.Context(t), &v1.GetStatusRequest{}); err != nil {
			t.Errorf("DisableAutoMTLS=%v: %v", disable, err)
		}
		c.Close()
	}
}

// Two plugins on one outbox: the second is refused, and told who holds it.
func TestSecondProcessIsRefusedTheOutbox(t *testing.T) {
	first, env := startHost(t, host.Options{})
	_, err := host.Start(testkit.Context(t), host.Options{PluginPath: pluginPath, ConfigPath: env.config, Logger: testLogger(t)})
	if err == nil {
		t.Fatal("a second plugin opened the same outbox")
	}
	want := fmt.Sprintf("locked by another process (pid %d", first.PID())
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "config.outbox_path") {
		t.Errorf("error %q does not say %q about config.outbox_path", err, want)
	}
}
