package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/kioskpay/smartretail/sandbox"
)

// sandboxProcess is `smartretail sandbox` running as its own process, as an
// operator starts it.
type sandboxProcess struct {
	cmd *exec.Cmd
	url string
}

func startSandboxProcess(t *testing.T, dir string) *sandboxProcess {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "sandbox", "--addr", "127.0.0.1:0", "--dir", dir)
	cmd.Env = append(os.Environ(), cliModeEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &sandboxProcess{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("sandbox process printed no first line: %v", err)
	}
	go r.WriteTo(discard{})
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "sandbox listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	p.url = url
	return p
}

func (p *sandboxProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// stop sends SIGTERM and waits for a clean exit, so that the next start
// on the folder replays what this one wrote.
func (p *sandboxProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sandbox exit: %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sandbox still running 10 s after SIGTERM")
	}
}

// create sends a signed create, as a merchant's client does.
func (p *sandboxProcess) create(t *testing.T, creds *sandbox.Credentials, outOrderNo string) {
	t.Helper()
	cl, err := core.NewClient(context.Background(), option.WithWechatPayPublicKeyAuthCipher(
		creds.MchID, creds.MerchantSerialNo, creds.MerchantPrivateKey, creds.PublicKeyID, creds.WechatPayPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Post(context.Background(), p.url+"/v3/payscore/smartretail-orders", map[string]any{
		"appid": creds.AppID, "service_id": creds.ServiceID, "out_order_no": outOrderNo,
		"service_start_time": "OnAccept", "risk_amount": 5000,
		"service_start_location": "K-17", "service_introduction": "无人零售柜",
	})
	if err != nil {
		t.Fatalf("create %s: %v", outOrderNo, err)
	}
}

// orders lists the out_order_no of every order, through the admin API.
func (p *sandboxProcess) orders(t *testing.T) []string {
	t.Helper()
	res, err := http.Get(p.url + "/sandbox/orders")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var list []struct {
		OutOrderNo string `json:"out_order_no"`
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET /sandbox/orders: %d %s", res.StatusCode, body)
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET /sandbox/orders: %v: %s", err, body)
	}
	var nos []string
	for _, o := range list {
		nos = append(nos, o.OutOrderNo)
	}
	sort.Strings(nos)
	return nos
}

// firstLineWriter collects output and reports when its first line is
// complete: for the sandbox command, that line means it is serving.
type firstLineWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	started chan struct{}
}

func (w *firstLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := bytes.IndexByte(w.buf.Bytes(), '\n') >= 0
	w.buf.Write(p)
	if !had && bytes.IndexByte(w.buf.Bytes(), '\n') >= 0 {
		close(w.started)
	}
	return len(p), nil
}

func (w *firstLineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// runSandboxInProcess runs `smartretail sandbox ARGS` in this process. If it
// starts serving, it is stopped at once and started reports true: the
// tests below expect it to refuse, and must fail, not hang, if it does not.
func runSandboxInProcess(t *testing.T, args ...string) (code int, started bool, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := &firstLineWriter{started: make(chan struct{})}
	var errOut safeBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"sandbox"}, args...), strings.NewReader(""), out, &errOut) }()
	select {
	case code = <-done:
	case <-out.started:
		started = true
		cancel()
		code = <-done
	}
	return code, started, errOut.String()
}

type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fileState is what a folder holds: each file's identity and content.
type fileState struct {
	info os.FileInfo
	data []byte
}

func folderState(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]fileState{}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		state[e.Name()] = fileState{info, data}
	}
	return state
}

// checkFolderUnchanged fails for any file added, removed, replaced (another
// inode) or rewritten since before was taken.
func checkFolderUnchanged(t *testing.T, dir string, before map[string]fileState) {
	t.Helper()
	after := folderState(t, dir)
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s was removed", name)
		case !os.SameFile(a.info, b.info):
			t.Errorf("%s was replaced by another file (new inode)", name)
		case !bytes.Equal(a.data, b.data):
			t.Errorf("%s was rewritten", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s appeared", name)
		}
	}
}

// Issue 9 item 10: a second sandbox on the same folder whose bind failed
// used to rewrite orders.jsonl first (a new inode); the running sandbox
// went on appending to the deleted file, and after its restart the later
// orders were gone.
func TestSecondSandboxWithBusyPortLeavesTheFolderAlone(t *testing.T) {
	dir := t.TempDir()
	first := startSandboxProcess(t, dir)
	creds, err := sandbox.LoadOrCreateCredentials(dir) // the first one's, read back
	if err != nil {
		t.Fatal(err)
	}
	first.create(t, creds, "BUSY-1")
	first.create(t, creds, "BUSY-2")
	before := folderState(t, dir)

	code, started, stderr := runSandboxInProcess(t, "--addr", strings.TrimPrefix(first.url, "http://"), "--dir", dir)
	if started || code != 1 {
		t.Fatalf("second sandbox on a busy port: exit %d, started %v, want exit 1: %s", code, started, stderr)
	}
	checkFolderUnchanged(t, dir, before)

	first.create(t, creds, "BUSY-3") // after the second one's attempt
	first.stop(t)
	again := startSandboxProcess(t, dir)
	if got, want := strings.Join(again.orders(t), " "), "BUSY-1 BUSY-2 BUSY-3"; got != want {
		t.Fatalf("orders after the restart: %s, want %s", got, want)
	}
	again.stop(t)
}

// Issue 9 item 10: a failed bind in a new folder used to leave keys and
// credentials but no config.json. It now touches nothing.
func TestSandboxFailedBindCreatesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := filepath.Join(t.TempDir(), "new-sandbox")

	code, started, stderr := runSandboxInProcess(t, "--addr", busy.Addr().String(), "--dir", dir)
	if started || code != 1 {
		t.Fatalf("sandbox on a busy port: exit %d, started %v, want exit 1: %s", code, started, stderr)
	}
	if !strings.Contains(stderr, busy.Addr().String()) {
		t.Errorf("the error does not name the address: %s", stderr)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("the failed sandbox left %s behind (%v): %v", dir, err, entries)
	}
}

// Issue 9 item 10: the folder is locked for the sandbox's whole life; a
// second sandbox on it is refused at once, saying which folder and which
// process holds it, and changes nothing there.
func TestSecondSandboxOnLockedFolderIsRefused(t *testing.T) {
	dir := t.TempDir()
	first := startSandboxProcess(t, dir)
	before := folderState(t, dir)

	code, started, stderr := runSandboxInProcess(t, "--addr", "127.0.0.1:0", "--dir", dir)
	if started || code != 1 {
		t.Fatalf("second sandbox on a locked folder: exit %d, started %v, want exit 1 before serving: %s", code, started, stderr)
	}
	for _, want := range []string{dir, "in use", fmt.Sprintf("pid %d", first.cmd.Process.Pid)} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q: %s", want, stderr)
		}
	}
	checkFolderUnchanged(t, dir, before)
	first.stop(t)

	// The lock dies with its holder: the folder is usable again.
	again := startSandboxProcess(t, dir)
	again.stop(t)
}
