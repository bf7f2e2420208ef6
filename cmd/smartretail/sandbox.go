package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/kioskpay/smartretail/sandbox"
)

func runSandbox(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8765", "address to listen on (127.0.0.1:0 picks a free port)")
	dir := fs.String("dir", "smartretail-sandbox", "folder for the sandbox's keys, orders and config.json (created if absent)")
	backupAddr := fs.String("backup-addr", "", "also listen on this address as WeChat Pay's backup domain: the same orders, faults of its own (none if empty)")
	clockOffset := fs.Duration("clock-offset", 0, "set the sandbox's clock (WeChat Pay's time) this far from this machine's, e.g. -24h or 6m; PUT /sandbox/clock changes it while running")
	if code, ok := parseFlags(fs, args, stdout, stderr, commandHelp("sandbox")); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return printError(stderr, errUsageArgs("sandbox", fs.NArg()))
	}
	if d := *clockOffset; d > sandbox.MaxClockOffset || d < -sandbox.MaxClockOffset {
		return printError(stderr, fmt.Errorf("%w: smartretail sandbox: --clock-offset %v is beyond ±%v (100 years)", errUsage, d, sandbox.MaxClockOffset))
	}
	// Both addresses are bound before DIR is touched, so a busy one leaves
	// the folder as it was.
	var backupLn net.Listener
	if *backupAddr != "" {
		ln, err := net.Listen("tcp", *backupAddr)
		if err != nil {
			fmt.Fprintf(stderr, "smartretail sandbox: backup: listen %s: %v\n", *backupAddr, err)
			return 1
		}
		backupLn = ln
	}
	// ListenDir binds before it touches DIR (a busy port leaves the folder
	// as it was), then holds DIR's lock until Close, so a second sandbox on
	// DIR is refused instead of replacing this one's files.
	srv, err := sandbox.ListenDir(*addr, sandbox.Options{
		Dir:         *dir,
		ClockOffset: *clockOffset,
		Logf:        func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
	})
	if err != nil {
		if backupLn != nil {
			_ = backupLn.Close()
		}
		fmt.Fprintf(stderr, "smartretail sandbox: %v\n", err)
		return 1
	}
	defer srv.Close()
	if backupLn != nil {
		if err := srv.ServeBackup(backupLn); err != nil {
			fmt.Fprintf(stderr, "smartretail sandbox: %v\n", err)
			return 1
		}
	}
	cfg, err := srv.WriteConfig(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "smartretail sandbox: %v\n", err)
		return 1
	}
	// The first stdout line is a contract: scripts and tests read the URL
	// from it; with --backup-addr, the second line gives the backup's.
	fmt.Fprintf(stdout, "sandbox listening on %s\n", srv.URL)
	if srv.BackupURL != "" {
		fmt.Fprintf(stdout, "sandbox backup listening on %s\n", srv.BackupURL)
	}
	fmt.Fprintf(stdout, "config: %s\n", cfg)
	fmt.Fprintf(stdout, "admin: curl %s/sandbox/orders   (accept/pay/expire: POST %s/sandbox/orders/{out_order_no}/accept)\n", srv.URL, srv.URL)
	fmt.Fprintf(stdout, "service orders: curl %s/sandbox/serviceorders   notifications: curl %s/sandbox/notifications\n", srv.URL, srv.URL)
	fmt.Fprintf(stdout, "faults: curl -X PUT -d '{\"mode\":\"offline\"}' %s/sandbox/faults\n", srv.URL)
	if srv.BackupURL != "" {
		fmt.Fprintf(stdout, "backup faults (its own): curl -X PUT -d '{\"mode\":\"offline\"}' %s/sandbox/faults\n", srv.BackupURL)
	}
	fmt.Fprintf(stdout, "clock: curl -X PUT -d '{\"offset\":\"-24h\"}' %s/sandbox/clock   (now %s off)\n", srv.URL, srv.Sandbox.ClockOffset())
	<-ctx.Done()
	fmt.Fprintln(stderr, "smartretail sandbox: stopping")
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "smartretail sandbox: %v\n", err)
		return 1
	}
	return 0
}
