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
//
// The binary is also the plugin: started by go-plugin (the handshake cookie
// in its environment) it serves the plugin instead, so `go run
// ./cmd/smartretail demo` works with nothing built.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/kioskpay/smartretail/internal/bench"
	"github.com/kioskpay/smartretail/internal/plugin"
)

// exitUsage is the exit code for a command line that cannot be run.
const exitUsage = 2

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "walk a kiosk's day against a built-in sandbox", runDemo},
		{"sandbox", "run a local WeChat Pay sandbox and write its config.json", runSandbox},
		{"create", "create an order (JSON request from --json FILE or stdin)", runCreate},
		{"query", "query an order by --out-order-no or --query-id", runQuery},
		{"cancel", "cancel an order (JSON request: out_order_no, reason)", runCancel},
		{"complete", "complete an order (JSON request: out_order_no, finish_type, fees, ...)", runComplete},
		{"user-state", "ask WeChat Pay whether a customer (--openid) has authorised the service", runUserState},
		{"status", "show the plugin's status", runStatus},
		{"queue", "see and act on the offline outbox: status, list, failed, retry, drop, drain, compact", runQueue},
		{"bench", "measure enqueue, online create, drain, start and memory against their limits (--quick, --json)", runBench},
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
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "smartretail: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: smartretail COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run smartretail COMMAND -h for a command's flags.")
}

// errUsage marks an error in the command line itself.
var errUsage = errors.New("usage")

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
