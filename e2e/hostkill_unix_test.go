//go:build unix

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/host"
)

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
	env := newSandbox(t)
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
	for processAlive(pid) {
		if time.Since(killed) > 5*time.Second {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin %d still running 5 s after its host was SIGKILLed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("plugin exited %v after its host was SIGKILLed", time.Since(killed).Round(time.Millisecond))
}
