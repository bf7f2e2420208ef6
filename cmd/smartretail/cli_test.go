package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ctrl-C or SIGTERM stop create while it waits for its request: before,
// the CLI caught the signal and went on waiting on a stdin that never
// ended.
func TestASignalStopsCreateWhileItReads(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(self, "create", "--config", "unused.json")
		cmd.Env = append(os.Environ(), cliModeEnv+"=1")
		stdin, err := cmd.StdinPipe() // open, and never written to
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		time.Sleep(500 * time.Millisecond) // reading by now
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("create still reading 10 s after %v", sig)
		}
		stdin.Close()
		e := oneError(t, stderr.String())
		if code := cmd.ProcessState.ExitCode(); code != 1 || e.Error.Class != "HOST" || !strings.Contains(e.Error.Message, "interrupted") {
			t.Errorf("after %v: exit %d, stderr %s", sig, code, stderr.String())
		}
	}
}
