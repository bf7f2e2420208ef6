package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared/config"
)

// cliModeEnv makes the test binary run the CLI's main (for signal tests).
const cliModeEnv = "SMARTRETAIL_CLI_TEST_MAIN"

// stalePluginEnv names a path through which this test binary, started as
// the plugin, reports stalePluginVersion (see TestMain).
const (
	stalePluginEnv     = "SMARTRETAIL_TEST_STALE_PLUGIN"
	stalePluginVersion = "0.0.1-stale"
)

func TestMain(m *testing.M) {
	// Like the real CLI, the test binary is also the plugin: findPlugin
	// falls back to os.Executable, which here is this test binary. Run
	// through the link a test names, it is an older plugin.
	if stale := os.Getenv(stalePluginEnv); stale != "" && os.Args[0] == stale {
		plugin.Version = stalePluginVersion
	}
	if servePlugin() {
		return
	}
	if os.Getenv(cliModeEnv) != "" {
		os.Args = append([]string{"smartretail"}, os.Args[1:]...)
		main()
		return
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, stdinText string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdinText), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestOrderCommands(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)
	code, out, errOut := runCLI(t, `{"out_order_no":"CLI-1","risk_amount":500,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","fees":[{"fee_name":"水","fee_count":1,"fee_amount":200}]}`,
		"create", "--config", cfg)
	if code != 0 {
		t.Fatalf("create exit %d: %s", code, errOut)
	}
	var created struct {
		Disposition string `json:"disposition"`
		Order       struct {
			OutOrderNo string `json:"out_order_no"`
			OrderID    string `json:"order_id"`
		} `json:"order"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create printed %q: %v", out, err)
	}
	if created.Disposition != "DISPOSITION_SUBMITTED" || created.Order.OutOrderNo != "CLI-1" || created.Order.OrderID == "" {
		t.Errorf("create printed %s", out)
	}

	code, out, errOut = runCLI(t, "", "query", "--config", cfg, "--out-order-no", "CLI-1")
	if code != 0 || !strings.Contains(out, `"state": "CREATED"`) || !strings.Contains(out, `"risk_amount": 500`) {
		t.Fatalf("query exit %d: %s %s", code, out, errOut)
	}
	so, _ := srv.Sandbox.Order("CLI-1")
	code, out, _ = runCLI(t, "", "query", "--config", cfg, "--query-id", so.QueryID)
	if code != 0 || !strings.Contains(out, `"out_order_no": "CLI-1"`) {
		t.Fatalf("query by id exit %d: %s", code, out)
	}

	if err := srv.Sandbox.Accept("CLI-1"); err != nil {
		t.Fatal(err)
	}
	req := filepath.Join(t.TempDir(), "complete.json")
	os.WriteFile(req, []byte(`{"out_order_no":"CLI-1","finish_type":2,"fees":[{"fee_name":"水","fee_count":1,"fee_amount":200}],"total_amount":200}`), 0o600)
	if code, out, errOut = runCLI(t, "", "complete", "--config", cfg, "--json", req); code != 0 {
		t.Fatalf("complete exit %d: %s %s", code, out, errOut)
	}
	if so, _ := srv.Sandbox.Order("CLI-1"); so.State != "FINISHED" || so.TotalAmount == nil || *so.TotalAmount != 200 {
		t.Errorf("after complete: %+v", so)
	}

	runCLI(t, `{"out_order_no":"CLI-2","service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","risk_amount":20000}`, "create", "--config", cfg)
	if code, out, errOut = runCLI(t, `{"out_order_no":"CLI-2","reason":"未取货"}`, "cancel", "--config", cfg); code != 0 {
		t.Fatalf("cancel exit %d: %s %s", code, out, errOut)
	}
	if so, _ := srv.Sandbox.Order("CLI-2"); so.State != "REVOKED" {
		t.Errorf("after cancel: %s", so.State)
	}

	code, out, _ = runCLI(t, "", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"configured": true`) {
		t.Errorf("status exit %d: %s", code, out)
	}
}

func TestCommandErrorsAreJSON(t *testing.T) {
	cfg, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	type cliErr struct {
		Error struct {
			Class, Code, Message, Field, WeChatCode string
		} `json:"error"`
	}
	parse := func(s string) cliErr {
		var e cliErr
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			t.Fatalf("stderr is not a JSON error: %q", s)
		}
		return e
	}
	code, out, errOut := runCLI(t, `{"fees":[{"fee_name":"水","fee_amount":-1}],"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","risk_amount":20000}`, "create", "--config", cfg)
	e := parse(errOut)
	if code != 1 || out != "" || e.Error.Class != "INVALID" || e.Error.Code != "INVALID_ARGUMENT" || e.Error.Field != "order.fees[0].fee_amount" {
		t.Errorf("bad create: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "query", "--config", cfg, "--out-order-no", "NOPE")
	if e := parse(errOut); code != 1 || e.Error.Class != "NOT_FOUND" || !strings.Contains(errOut, `"wechat_code": "ORDER_NOT_EXIST"`) {
		t.Errorf("unknown order: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runCLI(t, `{"out_order_no":"X","colour":"red"}`, "create", "--config", cfg)
	if e := parse(errOut); code != 1 || e.Error.Class != "INVALID" || e.Error.Field != "order.colour" || !strings.Contains(e.Error.Message, "colour") {
		t.Errorf("unknown field: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "query", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, "--out-order-no or --query-id") {
		t.Errorf("query without a key: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "status", "--config", filepath.Join(t.TempDir(), "missing.json"))
	if e := parse(errOut); code != 1 || !strings.Contains(e.Error.Message, "missing.json") {
		t.Errorf("missing config: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "status", "--config", cfg, "--plugin", filepath.Join(t.TempDir(), "nope"))
	if code != 1 || !strings.Contains(errOut, "--plugin") {
		t.Errorf("missing plugin: exit %d, stderr %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "", "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestDemo(t *testing.T) {
	code, out, errOut := runCLI(t, "", "demo")
	if code != 0 {
		t.Fatalf("demo exit %d:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "0 failed") || !strings.Contains(out, "USER_PAID") || !strings.Contains(out, "REVOKED") {
		t.Errorf("demo output:\n%s", out)
	}
}

// The sandbox command runs as its own process here, to show that it prints
// its URL first, writes a config the plugin can load, reuses its keys, and
// stops cleanly on SIGTERM and SIGINT.
func TestSandboxCommand(t *testing.T) {
	dir := t.TempDir()
	start := func() (*exec.Cmd, string) {
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
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("no first line: %v", err)
		}
		go bufio.NewReader(stdout).WriteTo(discard{})
		return cmd, strings.TrimSpace(line)
	}
	stop := func(cmd *exec.Cmd, sig syscall.Signal) {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sandbox exit after %v: %v, want 0", sig, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("sandbox still running 10 s after %v", sig)
		}
	}

	cmd, line := start()
	url, ok := strings.CutPrefix(line, "sandbox listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		cmd.Process.Kill()
		t.Fatalf("first line %q", line)
	}
	cfg, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	if cfg.APIBaseURL != url {
		t.Errorf("config points at %s, sandbox is at %s", cfg.APIBaseURL, url)
	}
	if _, err := cfg.LoadKeys(); err != nil {
		t.Errorf("config's key files: %v", err)
	}
	code, out, errOut := runCLI(t, `{"out_order_no":"SBX-1","service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","risk_amount":20000}`, "create", "--config", filepath.Join(dir, "config.json"))
	if code != 0 {
		t.Errorf("create against the sandbox command: %s %s", out, errOut)
	}
	stop(cmd, syscall.SIGTERM)

	cmd, line = start()
	again, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if again.MchID != cfg.MchID || again.MerchantSerialNo != cfg.MerchantSerialNo || again.APIv3Key != cfg.APIv3Key {
		t.Error("a restarted sandbox generated new credentials instead of reusing them")
	}
	code, out, _ = runCLI(t, "", "query", "--config", filepath.Join(dir, "config.json"), "--out-order-no", "SBX-1")
	if code != 0 || !strings.Contains(out, "SBX-1") {
		t.Errorf("the order did not survive the sandbox restart: %s", out)
	}
	stop(cmd, syscall.SIGINT)
	_ = line
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestQueueCommands(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)
	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	code, out, errOut := runCLI(t, `{"out_order_no":"Q-1","risk_amount":700,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`, "create", "--config", cfg, "--offline", "force-offline")
	if code != 0 || !strings.Contains(out, "DISPOSITION_QUEUED") || !strings.Contains(out, "stored_at") {
		t.Fatalf("force-offline create: %d %s %s", code, out, errOut)
	}
	// An order WeChat Pay will refuse for good (an unknown service).
	runCLI(t, `{"out_order_no":"Q-BAD","service_id":"404404","risk_amount":100,"need_user_confirm":false,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`, "create", "--config", cfg, "--offline", "force-offline")
	code, out, _ = runCLI(t, "", "queue", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"queued_count": 2`) || !strings.Contains(out, `"queued_amount": 800`) {
		t.Fatalf("queue status: %d %s", code, out)
	}
	code, out, _ = runCLI(t, "", "queue", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"out_order_no": "Q-1"`) || !strings.Contains(out, "Q-BAD") {
		t.Fatalf("queue list: %d %s", code, out)
	}
	// Still offline: drain gives up after its timeout, non-zero.
	code, _, errOut = runCLI(t, "", "queue", "drain", "--config", cfg, "--timeout", "500ms")
	if code != 1 || !strings.Contains(errOut, "still pending") {
		t.Fatalf("drain while offline: %d %s", code, errOut)
	}
	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	// Drained: the status it prints has nothing pending (progress lines are
	// for a terminal or -v).
	code, out, errOut = runCLI(t, "", "queue", "drain", "--config", cfg, "--timeout", "20s")
	if code != 0 || !strings.Contains(out, `"pending_count": 0,`) {
		t.Fatalf("drain: %d %s", code, errOut)
	}
	if so, ok := srv.Sandbox.Order("Q-1"); !ok || so.CreateRequests != 1 {
		t.Errorf("Q-1 at the sandbox: %+v", so)
	}
	code, out, _ = runCLI(t, "", "queue", "failed", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"failure_code": "NO_AUTH"`) {
		t.Fatalf("queue failed: %d %s", code, out)
	}
	code, _, _ = runCLI(t, "n\n", "queue", "drop", "--config", cfg, "Q-BAD")
	if code != 1 {
		t.Errorf("drop answered no: exit %d", code)
	}
	code, out, _ = runCLI(t, "", "queue", "retry", "--config", cfg, "Q-BAD")
	if code != 0 || !strings.Contains(out, "Q-BAD") {
		t.Errorf("retry: %d %s", code, out)
	}
	runCLI(t, "", "queue", "drain", "--config", cfg, "--timeout", "10s")
	if code, _, errOut := runCLI(t, "", "queue", "drop", "--config", cfg, "--yes", "Q-BAD"); code != 0 {
		t.Errorf("drop --yes: %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, "", "queue", "failed", "--config", cfg)
	if code != 0 || strings.Contains(out, "Q-BAD") {
		t.Errorf("after drop: %s", out)
	}
	if code, out, _ := runCLI(t, "", "queue", "compact", "--config", cfg); code != 0 || !strings.Contains(out, "size_after") {
		t.Errorf("compact: %d %s", code, out)
	}
	if code, _, _ := runCLI(t, "", "queue", "retry", "--config", cfg); code != exitUsage {
		t.Errorf("retry without a number: exit %d", code)
	}
}
