package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/kioskpay/smartretail/sandbox"
)

func runSandbox(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8765", "address to listen on (127.0.0.1:0 picks a free port)")
	dir := fs.String("dir", "smartretail-sandbox", "folder for the sandbox's keys, orders and config.json (created if absent)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: smartretail sandbox [--addr HOST:PORT] [--dir DIR]")
		fmt.Fprintln(stderr, "Runs a local WeChat Pay smart-retail sandbox until SIGINT or SIGTERM.")
		fmt.Fprintln(stderr, "On first start it generates merchant and platform keys in DIR and reuses them afterwards;")
		fmt.Fprintln(stderr, "each start writes DIR/config.json pointing at the sandbox. Orders survive restarts.")
		fmt.Fprintln(stderr, "DIR is locked while the sandbox runs: a second sandbox on it is refused.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "smartretail sandbox: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	// ListenDir binds before it touches DIR (a busy port leaves the folder
	// as it was), then holds DIR's lock until Close, so a second sandbox on
	// DIR is refused instead of replacing this one's files.
	srv, err := sandbox.ListenDir(*addr, sandbox.Options{
		Dir:  *dir,
		Logf: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
	})
	if err != nil {
		fmt.Fprintf(stderr, "smartretail sandbox: %v\n", err)
		return 1
	}
	defer srv.Close()
	cfg, err := srv.WriteConfig(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "smartretail sandbox: %v\n", err)
		return 1
	}
	// The first stdout line is a contract: scripts and tests read the URL from it.
	fmt.Fprintf(stdout, "sandbox listening on %s\n", srv.URL)
	fmt.Fprintf(stdout, "config: %s\n", cfg)
	fmt.Fprintf(stdout, "admin: curl %s/sandbox/orders   (accept/pay/expire: POST %s/sandbox/orders/{out_order_no}/accept)\n", srv.URL, srv.URL)
	fmt.Fprintf(stdout, "faults: curl -X PUT -d '{\"mode\":\"offline\"}' %s/sandbox/faults\n", srv.URL)
	<-ctx.Done()
	fmt.Fprintln(stderr, "smartretail sandbox: stopping")
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "smartretail sandbox: %v\n", err)
		return 1
	}
	return 0
}
