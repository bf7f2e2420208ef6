package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openTerminal opens a pseudo-terminal and returns its terminal end.
func openTerminal(t *testing.T) *os.File {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptm.Close() })
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}

// create run on a terminal with no input said nothing and waited for
// JSON no one knew to type. It says what it reads and where from, and
// exits 2; --json - still reads the terminal, for one who types it.
func TestCreateOnATerminalSaysWhatItWants(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "create", "--config", "unused.json")
	cmd.Env = append(os.Environ(), cliModeEnv+"=1")
	cmd.Stdin = openTerminal(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("create on a terminal still waiting after 10 s; stderr %q", stderr.String())
	}
	e := oneError(t, stderr.String())
	if code := cmd.ProcessState.ExitCode(); code != exitUsage || e.Error.Class != "USAGE" ||
		!strings.Contains(e.Error.Message, "terminal") || !strings.Contains(e.Error.Message, "--json FILE") {
		t.Errorf("exit %d, stderr %s", code, stderr.String())
	}
	if !isTerminal(cmd.Stdin) {
		t.Error("isTerminal: a pseudo-terminal is not a terminal")
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Errorf("isTerminal: %s is a terminal", os.DevNull)
	}
}
