package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/host"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// queueCommand is a subcommand of "smartretail queue": what it does, the
// argument it takes (flags may come before and after it), and an example.
type queueCommand struct{ name, summary, arg, example string }

var queueCommands = []queueCommand{
	{"status", "network status, queued orders and amount, oldest age, failed count", "", "smartretail queue status --config " + exampleConfig},
	{"list", "orders waiting in the outbox", "", "smartretail queue list --config " + exampleConfig},
	{"failed", "the failed list, with WeChat Pay's codes", "", "smartretail queue failed --config " + exampleConfig},
	{"retry", "put a failed order back in the queue", "OUT_ORDER_NO", "smartretail queue retry K4 --config " + exampleConfig},
	{"drop", "delete a failed order for good (asks first, or --yes)", "OUT_ORDER_NO", "smartretail queue drop K4 --yes --config " + exampleConfig},
	{"drain", "send the queue now and wait until it is empty (--timeout, default 2m)", "", "smartretail queue drain --config " + exampleConfig + " --timeout 1m"},
	{"compact", "rewrite the outbox file without its free pages", "", "smartretail queue compact --config " + exampleConfig},
	{"salvage", "copy every order that can still be read from a damaged outbox into a new one, keeping the damaged file beside it", "", "smartretail queue salvage --config " + exampleConfig},
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
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Example:")
	for _, c := range queueCommands {
		if c.name == "status" || c.name == "retry" || c.name == "drain" {
			fmt.Fprintf(w, "  %s\n", c.example)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run smartretail queue SUBCOMMAND -h for its flags.")
}

// queueHelp is the help of one subcommand.
func queueHelp(i int) func(io.Writer) {
	c := queueCommands[i]
	return func(w io.Writer) {
		usage := "smartretail queue " + c.name + " [flags]"
		if c.arg != "" {
			usage = "smartretail queue " + c.name + " " + c.arg + " [flags]"
		}
		fmt.Fprintf(w, "usage: %s\n\n%s.\n\nExample:\n  %s\n", usage, strings.ToUpper(c.summary[:1])+c.summary[1:], c.example)
	}
}

// queueFlags are the flags subcommand sub takes, and only those: salvage
// starts no plugin, drain's --timeout is how long it waits for the queue
// to empty, drop alone asks.
func queueFlags(sub string, h *hostFlags, yes *bool, wait *time.Duration) *flag.FlagSet {
	fs := flag.NewFlagSet("queue "+sub, flag.ContinueOnError)
	all := flag.NewFlagSet("", flag.ContinueOnError)
	h.register(all)
	take := func(names ...string) {
		for _, n := range names {
			f := all.Lookup(n)
			fs.Var(f.Value, n, f.Usage)
		}
	}
	switch sub {
	case "salvage":
		take("config")
	case "drain":
		take("config", "plugin", "v")
		fs.DurationVar(wait, "timeout", 2*time.Minute, "how long to wait for the queue to empty; what is still pending then stays queued (TIMEOUT, reason DRAIN_TIMEOUT)")
	default:
		take("config", "plugin", "timeout", "v")
	}
	if sub == "drop" {
		fs.BoolVar(yes, "yes", false, "drop without asking")
	}
	return fs
}

// parseInterleaved parses fs's flags before and after the arguments, as
// in "queue retry K4 --config FILE", and returns the arguments.
func parseInterleaved(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, help func(io.Writer)) (rest []string, code int, ok bool) {
	for {
		if code, ok := parseFlags(fs, args, stdout, stderr, help); !ok {
			return nil, code, false
		}
		if fs.NArg() == 0 {
			return rest, 0, true
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
}

func runQueue(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		queueUsage(stdout)
		return printError(stderr, fmt.Errorf("%w: smartretail queue: no subcommand given (smartretail queue -h lists them)", errUsage))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		queueUsage(stdout)
		return 0
	}
	sub, args := args[0], args[1:]
	i := slices.IndexFunc(queueCommands, func(c queueCommand) bool { return c.name == sub })
	if i < 0 {
		return printError(stderr, fmt.Errorf("%w: smartretail queue: no such subcommand as %s (smartretail queue -h lists them)", errUsage, commandWord(sub)))
	}
	// Looking changes nothing: the plugin opens the outbox only to read it.
	h := hostFlags{inspect: sub == "status" || sub == "list" || sub == "failed"}
	var yes bool
	var wait time.Duration
	fs := queueFlags(sub, &h, &yes, &wait)
	rest, code, ok := parseInterleaved(fs, args, stdout, stderr, queueHelp(i))
	if !ok {
		return code
	}
	if arg := queueCommands[i].arg; arg != "" && len(rest) != 1 {
		return printError(stderr, fmt.Errorf("%w: smartretail queue %s takes one %s, got %d arguments (smartretail queue %s -h)", errUsage, sub, arg, len(rest), sub))
	} else if arg == "" && len(rest) > 0 {
		return printError(stderr, errUsageArgs("queue "+sub, len(rest)))
	}
	no := ""
	if len(rest) == 1 {
		no = rest[0]
	}
	if sub == "drop" && !yes {
		fmt.Fprintf(stderr, "Drop failed order %s from the outbox for good? It will never be sent. [y/N] ", no)
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
	if sub == "drain" && wait+30*time.Second > total {
		total = wait + 30*time.Second
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
		resp, err = c.RetryFailed(ctx, &v1.RetryFailedRequest{OutOrderNo: no})
	case "drop":
		resp, err = c.DropFailed(ctx, &v1.DropFailedRequest{OutOrderNo: no})
	case "compact":
		resp, err = c.CompactOutbox(ctx, &v1.CompactOutboxRequest{})
	case "drain":
		return drainProgress(ctx, c, wait, h.verbose, stdout, stderr)
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
