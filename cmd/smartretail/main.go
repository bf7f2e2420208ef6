// Command smartretail is the smartretail CLI: a kiosk host built on the host
// library, a local WeChat Pay sandbox, and a demo.
//
//	smartretail demo                       walk a kiosk's day on a built-in sandbox
//	smartretail sandbox --dir DIR          run a sandbox and write DIR/config.json
//	smartretail create  --config FILE [--json FILE]   (JSON on stdin by default)
//	smartretail query   --config FILE --out-order-no NO | --query-id ID
//	smartretail cancel  --config FILE [--json FILE]
//	smartretail complete --config FILE [--json FILE]
//	smartretail user-state --config FILE --openid OPENID
//	smartretail status  --config FILE
//	smartretail queue   status|list|failed|retry|drop|drain|compact --config FILE
//	smartretail config check --config FILE
//	smartretail version
//
// The binary is also the plugin: started by go-plugin (the handshake cookie
// in its environment) it serves the plugin instead, so `go run
// ./cmd/smartretail demo` works with nothing built.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/kioskpay/smartretail/internal/bench"
	"github.com/kioskpay/smartretail/internal/plugin"
)

// exitUsage is the exit code for a command line that cannot be run.
const exitUsage = 2

// The examples' config, as the sandbox command writes it (README, The CLI).
const exampleConfig = "./sbx/config.json"

type command struct {
	name    string
	summary string
	usage   string // the command line, for -h
	example string // one that runs against `smartretail sandbox --dir ./sbx`; lines for more
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "walk a kiosk's day against a built-in sandbox", "smartretail demo [--api smartretail|serviceorder] [-v]", "", runDemo},
		{"sandbox", "run a local WeChat Pay sandbox and write its config.json", "smartretail sandbox [--addr HOST:PORT] [--dir DIR]", "", runSandbox},
		{"create", "create an order (JSON request from --json FILE or stdin)",
			"smartretail create --config FILE [--json FILE|-] [--offline prefer-online|require-online|force-offline]",
			"smartretail create --config " + exampleConfig + ` <<< '{"out_order_no":"K1","service_start_time":"OnAccept","service_start_location":"柜机 K-17","service_introduction":"智慧零售柜购物","risk_amount":20000}'`,
			runCreate},
		{"query", "query an order by --out-order-no or --query-id",
			"smartretail query --config FILE --out-order-no NO | --query-id ID | --json FILE|-",
			"smartretail query --config " + exampleConfig + " --out-order-no K1",
			runQuery},
		{"cancel", "cancel an order before the customer confirms it (JSON request: out_order_no, reason)",
			"smartretail cancel --config FILE [--json FILE|-]",
			"smartretail cancel --config " + exampleConfig + ` <<< '{"out_order_no":"K1","reason":"未取货"}'`,
			runCancel},
		{"complete", "complete an order (JSON request: out_order_no, finish_type, fees, ...)",
			"smartretail complete --config FILE [--json FILE|-]",
			"smartretail complete --config " + exampleConfig + ` <<< '{"out_order_no":"K1","finish_type":2,"fees":[{"fee_name":"水","fee_count":1,"fee_amount":200}],"total_amount":200}'`,
			runComplete},
		{"modify", "lower a completed service order's amount while payment is pending (JSON request: out_order_no, fees, reason)",
			"smartretail modify --config FILE [--json FILE|-]",
			"smartretail modify --config " + exampleConfig + ` <<< '{"out_order_no":"K1","fees":[{"fee_name":"水","fee_count":1,"fee_amount":150}],"reason":"少拿一瓶"}'`,
			runModify},
		{"collect", "ask WeChat Pay to collect a completed service order's payment again (--json: out_order_no)",
			"smartretail collect --config FILE [--json FILE|-]",
			"smartretail collect --config " + exampleConfig + ` <<< '{"out_order_no":"K1"}'`,
			runCollect},
		{"sync-paid", "tell WeChat Pay a service order was paid another way (JSON request: out_order_no, paid_time)",
			"smartretail sync-paid --config FILE [--json FILE|-]",
			"smartretail sync-paid --config " + exampleConfig + ` <<< '{"out_order_no":"K1","paid_time":"20261129153000"}'`,
			runSyncPaid},
		{"user-state", "ask WeChat Pay whether a customer (--openid) has authorised the service",
			"smartretail user-state --config FILE --openid OPENID",
			"smartretail user-state --config " + exampleConfig + " --openid oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
			runUserState},
		{"status", "show the plugin's status", "smartretail status --config FILE",
			"smartretail status --config " + exampleConfig, runStatus},
		{"queue", "see and act on the offline outbox: status, list, failed, retry, drop, drain, compact", "smartretail queue SUBCOMMAND [flags]", "", runQueue},
		{"notify", "verify and decrypt a WeChat Pay notification, as the merchant's server at notify_url does",
			"smartretail notify decode --config FILE [--headers FILE] [--body FILE] [--received-at TIME] [--show-openid]",
			"smartretail notify decode --config " + exampleConfig + " --headers notify.headers --body notify.json", runNotify},
		{"config", "check a config file: print it as the plugin would use it, secrets redacted",
			"smartretail config check --config FILE",
			"smartretail config check --config " + exampleConfig, runConfig},
		{"version", "print the CLI's version, commit, Go version and plugin protocol", "smartretail version | smartretail --version",
			"smartretail version", runVersion},
		{"bench", "measure enqueue, online create, drain, start, memory and a fleet draining into one rate limit against their limits (--quick, --json, --only, --fleet, --runs)", "smartretail bench [--quick] [--json] [--only STEPS] [--fleet NxM[,burst=B...]] [--runs N]", "", runBench},
	}
}

// servePlugin serves a plugin and reports true when go-plugin started this
// binary as one: the plugin itself when no separate smartretail-plugin
// binary is found, or the bench's bare plugin.
func servePlugin() bool {
	if !plugin.IsPluginLaunch() {
		return false
	}
	if len(os.Args) > 1 && os.Args[1] == bench.BarePluginArg {
		bench.ServeBare(os.Args[2:])
		return true
	}
	plugin.Serve()
	return true
}

func main() {
	if servePlugin() {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The plugin's log reaches stderr from go-plugin's goroutines while
	// commands write their own lines: one lock keeps the writes whole.
	stderr = &lockedWriter{w: stderr}
	if len(args) == 0 {
		usage(stdout)
		return printError(stderr, fmt.Errorf("%w: no command given: smartretail help lists them", errUsage))
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "--version", "-version":
		return runVersion(ctx, args[1:], stdin, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	// Echoed only when it looks like a command word: a command line may
	// hold personal data (an openid).
	name := "a command"
	if len(args[0]) <= 20 && strings.Trim(args[0], "abcdefghijklmnopqrstuvwxyz-") == "" {
		name = fmt.Sprintf("%q", args[0])
	}
	return printError(stderr, fmt.Errorf("%w: no such command as %s (smartretail help lists them)", errUsage, name))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: smartretail COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run smartretail COMMAND -h for a command's flags and an example.")
	fmt.Fprintln(w, "A command prints one JSON object on stdout and exits 0, or one JSON error on stderr and")
	fmt.Fprintln(w, "exits 1, or 2 when its command line cannot run (README.md, Errors).")
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
