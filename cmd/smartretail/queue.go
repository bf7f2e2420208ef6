package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/host"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// queueCommands are the subcommands of "smartretail queue".
var queueCommands = []struct{ name, summary string }{
	{"status", "network status, queued orders and amount, oldest age, failed count"},
	{"list", "orders waiting in the outbox"},
	{"failed", "the failed list, with WeChat Pay's codes"},
	{"retry", "put a failed order back in the queue: retry OUT_ORDER_NO"},
	{"drop", "delete a failed order for good: drop OUT_ORDER_NO (asks first, or --yes)"},
	{"drain", "send the queue now and wait until it is empty: drain [--timeout 2m]"},
	{"compact", "rewrite the outbox file without its free pages"},
	{"salvage", "copy every order that can still be read from a damaged outbox into a new one, keeping the damaged file beside it"},
}

func queueUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: smartretail queue SUBCOMMAND [flags] [OUT_ORDER_NO]")
	fmt.Fprintln(w)
	for _, c := range queueCommands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "With the kiosk's plugin running, these go through it on the config's admin_socket. Otherwise the")
	fmt.Fprintln(w, "plugin this starts opens the outbox named in the config; a plugin running without admin_socket")
	fmt.Fprintln(w, "holds the outbox's lock (the error names its pid). status, list and failed only look: they send")
	fmt.Fprintln(w, "and change nothing, and may run beside each other. salvage runs without a plugin.")
}

func runQueue(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		queueUsage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("queue "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// Looking changes nothing: the plugin opens the outbox only to read it.
	h := hostFlags{inspect: sub == "status" || sub == "list" || sub == "failed"}
	h.register(fs)
	yes := fs.Bool("yes", false, "drop: do not ask")
	timeout := fs.Duration("drain-timeout", 2*time.Minute, "drain: how long to wait for the queue to empty")
	if sub == "drain" {
		// "drain --timeout D" reads naturally; the other commands' --timeout bounds the whole command.
		for i, a := range args {
			if a == "--timeout" || a == "-timeout" {
				args[i] = "--drain-timeout"
			} else if strings.HasPrefix(a, "--timeout=") || strings.HasPrefix(a, "-timeout=") {
				args[i] = "--drain-timeout=" + a[strings.Index(a, "=")+1:]
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	known := false
	for _, c := range queueCommands {
		known = known || c.name == sub
	}
	if !known {
		fmt.Fprintf(stderr, "smartretail queue: unknown subcommand %q\n\n", sub)
		queueUsage(stderr)
		return exitUsage
	}
	needsNo := sub == "retry" || sub == "drop"
	if needsNo && fs.NArg() != 1 || !needsNo && fs.NArg() != 0 {
		return printError(stderr, fmt.Errorf("%w: queue %s takes %s", errUsage, sub, map[bool]string{true: "one OUT_ORDER_NO", false: "no arguments"}[needsNo]))
	}
	if sub == "drop" && !*yes {
		fmt.Fprintf(stderr, "Drop failed order %s from the outbox for good? It will never be sent. [y/N] ", fs.Arg(0))
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(stderr, "not dropped")
			return 1
		}
	}
	if sub == "salvage" {
		return salvage(h, stdout, stderr)
	}
	total := h.timeout
	if sub == "drain" && *timeout+30*time.Second > total {
		total = *timeout + 30*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	c, err := h.connect(ctx, stderr)
	if err != nil {
		return printError(stderr, err)
	}
	defer c.Close()
	var resp proto.Message
	switch sub {
	case "status":
		resp, err = c.GetStatus(ctx, &v1.GetStatusRequest{})
	case "list", "failed":
		resp, err = listQueue(ctx, c, sub == "failed")
	case "retry":
		resp, err = c.RetryFailed(ctx, &v1.RetryFailedRequest{OutOrderNo: fs.Arg(0)})
	case "drop":
		resp, err = c.DropFailed(ctx, &v1.DropFailedRequest{OutOrderNo: fs.Arg(0)})
	case "compact":
		resp, err = c.CompactOutbox(ctx, &v1.CompactOutboxRequest{})
	case "drain":
		return drainProgress(ctx, c, *timeout, h.verbose, stdout, stderr)
	}
	if err != nil {
		return printError(stderr, err)
	}
	return printJSON(stdout, stderr, resp)
}

// listQueue reads every page of the outbox's queue, or of its failed list,
// as one answer.
func listQueue(ctx context.Context, c *host.Client, failed bool) (*v1.ListQueueResponse, error) {
	all := &v1.ListQueueResponse{}
	req := &v1.ListQueueRequest{Failed: failed, PageSize: 1000} // the most a page holds
	for {
		resp, err := c.ListQueue(ctx, req)
		if err != nil {
			return nil, err
		}
		all.Orders = append(all.Orders, resp.GetOrders()...)
		if resp.GetNextPageToken() == "" {
			return all, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}
