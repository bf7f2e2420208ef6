package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/shared/config"
)

// lineWriter hands on every complete line written to it, in order.
type lineWriter struct {
	mu    sync.Mutex
	part  []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.part[:i])
		w.part = w.part[i+1:]
	}
}

// serveSandboxCommand runs `smartretail sandbox ARGS` in this process
// until the test ends, and returns its stdout lines.
func serveSandboxCommand(t *testing.T, args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 64)}
	var errOut safeBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"sandbox"}, args...), strings.NewReader(""), out, &errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("sandbox exit %d after cancel, want 0: %s", code, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("sandbox still running 10 s after cancel")
		}
	})
	return out.lines
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l := <-lines:
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("the sandbox printed no further line within 30 s")
		return ""
	}
}

func getJSON(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var m map[string]any
	if res.StatusCode != 200 || json.Unmarshal(data, &m) != nil {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, data)
	}
	return m
}

// --backup-addr prints the backup's URL as the second line, config.json
// names both domains (read by the real reader), each listener sets its
// own faults, and --clock-offset sets the one clock both serve.
func TestSandboxCommandBackupAndClockOffset(t *testing.T) {
	dir := t.TempDir()
	lines := serveSandboxCommand(t, "--addr", "127.0.0.1:0", "--dir", dir,
		"--backup-addr", "127.0.0.1:0", "--clock-offset", "-24h")
	mainURL, ok := strings.CutPrefix(nextLine(t, lines), "sandbox listening on ")
	if !ok || !strings.HasPrefix(mainURL, "http://127.0.0.1:") {
		t.Fatalf("first line names no URL: %q", mainURL)
	}
	second := nextLine(t, lines)
	backupURL, ok := strings.CutPrefix(second, "sandbox backup listening on ")
	if !ok || !strings.HasPrefix(backupURL, "http://127.0.0.1:") || backupURL == mainURL {
		t.Fatalf("second line %q, want \"sandbox backup listening on http://HOST:PORT\" (main at %s)", second, mainURL)
	}

	cfg, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIBaseURL != mainURL || cfg.BackupBaseURL() != backupURL {
		t.Fatalf("config: api_base_url %s, backup %q; want %s and %s", cfg.APIBaseURL, cfg.BackupBaseURL(), mainURL, backupURL)
	}

	for _, u := range []string{mainURL, backupURL} {
		c := getJSON(t, "GET", u+"/sandbox/clock", "")
		now, err := time.Parse(time.RFC3339, c["now"].(string))
		if err != nil || c["offset"] != "-24h0m0s" {
			t.Fatalf("%s/sandbox/clock: %v (%v)", u, c, err)
		}
		if d := time.Until(now) + 24*time.Hour; d < -5*time.Second || d > 5*time.Second {
			t.Fatalf("%s: the sandbox's now %v is not 24 h behind this machine's (%v off)", u, now, d)
		}
	}

	getJSON(t, "PUT", mainURL+"/sandbox/faults", `{"mode":"offline"}`)
	if f := getJSON(t, "GET", backupURL+"/sandbox/faults", ""); f["mode"] != "none" {
		t.Fatalf("main's faults reached the backup: %v", f)
	}
	if f := getJSON(t, "GET", mainURL+"/sandbox/faults", ""); f["mode"] != "offline" {
		t.Fatalf("main's faults: %v", f)
	}
}

// Without --backup-addr nothing changes: no second URL line and no
// backup in config.json (the sandbox is not WeChat Pay's domain).
func TestSandboxCommandWithoutBackup(t *testing.T) {
	dir := t.TempDir()
	lines := serveSandboxCommand(t, "--addr", "127.0.0.1:0", "--dir", dir)
	nextLine(t, lines)
	if second := nextLine(t, lines); !strings.HasPrefix(second, "config: ") {
		t.Fatalf("second line %q, want the config line", second)
	}
	cfg, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.BackupBaseURL(); b != "" {
		t.Fatalf("config names a backup %q though none serves", b)
	}
}

// A busy --backup-addr or a bad --clock-offset stops the command before
// it touches the folder.
func TestSandboxCommandRefusesBackupAddrAndClockOffset(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"--backup-addr", busy.Addr().String()}, 1, busy.Addr().String()},
		{[]string{"--clock-offset", "yesterday"}, exitUsage, "clock-offset"},
		{[]string{"--clock-offset", "876001h"}, exitUsage, "beyond"},
		{[]string{"--clock-offset", "-876001h"}, exitUsage, "beyond"},
	} {
		dir := filepath.Join(t.TempDir(), "new-sandbox")
		code, started, stderr := runSandboxInProcess(t, append([]string{"--addr", "127.0.0.1:0", "--dir", dir}, tc.args...)...)
		if started || code != tc.code || !strings.Contains(stderr, tc.inStderr) {
			t.Errorf("%v: exit %d, started %v, stderr %q; want exit %d naming %q", tc.args, code, started, stderr, tc.code, tc.inStderr)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v left %s behind: %v", tc.args, dir, err)
		}
	}
}
