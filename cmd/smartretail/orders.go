package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/host"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// hostFlags are the flags every order command takes.
type hostFlags struct {
	config  string
	plugin  string
	timeout time.Duration
	verbose bool
	inspect bool // the command only looks: the plugin sends and changes nothing
}

func (h *hostFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.config, "config", cmp.Or(os.Getenv("SMARTRETAIL_CONFIG"), "config.json"), "config file (env SMARTRETAIL_CONFIG)")
	fs.StringVar(&h.plugin, "plugin", os.Getenv("SMARTRETAIL_PLUGIN_PATH"), "smartretail-plugin binary (default: beside this CLI, then PATH, then the CLI itself)")
	fs.DurationVar(&h.timeout, "timeout", 30*time.Second, "how long the command may take")
	fs.BoolVar(&h.verbose, "v", false, "show which plugin runs, and its log, on stderr")
}

// start launches and configures the plugin.
func (h *hostFlags) start(ctx context.Context, stderr io.Writer) (*host.Client, error) {
	path, how, err := findPlugin(ctx, h.plugin)
	if err != nil {
		return nil, err
	}
	// Without -v stderr holds only the command's error: the plugin's log,
	// warnings included, is for -v.
	level := hclog.Off
	if h.verbose {
		level = hclog.Debug
		fmt.Fprintf(stderr, "smartretail: plugin %s (%s)\n", path, how)
	}
	return host.Start(ctx, host.Options{
		PluginPath: path,
		ConfigPath: h.config,
		Inspect:    h.inspect,
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "smartretail", Output: stderr, Level: level}),
	})
}

// action is one prepared call on the plugin.
type action func(ctx context.Context, c *host.Client) (proto.Message, error)

// orderCommand parses the flags and reads the request (before the plugin
// starts: the plugin shares our stdin), starts the plugin, runs the call and
// prints its answer as one JSON object on stdout, or the error as JSON on
// stderr with a non-zero exit.
func orderCommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer,
	prepare func(fs *flag.FlagSet) func(ctx context.Context) (action, error)) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	h := hostFlags{inspect: name == "status"} // looking changes nothing
	h.register(fs)
	ready := prepare(fs)
	if code, ok := parseFlags(fs, args, stdout, stderr, commandHelp(name)); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return printError(stderr, errUsageArgs(name, fs.NArg()))
	}
	act, err := ready(ctx)
	if err != nil {
		return printError(stderr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	c, err := h.connect(ctx, stderr)
	if err != nil {
		return printError(stderr, err)
	}
	defer c.Close()
	resp, err := act(ctx, c)
	if err != nil {
		return printError(stderr, err)
	}
	return printJSON(stdout, stderr, resp)
}

func jsonFlag(fs *flag.FlagSet) *string {
	return fs.String("json", "", "request as JSON with WeChat Pay's field names; - for stdin (default: stdin, unless it is a terminal)")
}

func runCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "create", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		file := jsonFlag(fs)
		behavior := fs.String("offline", "prefer-online", "when WeChat Pay cannot be reached: prefer-online (queue), require-online (fail), force-offline (queue without trying)")
		return func(ctx context.Context) (action, error) {
			var order v1.NewOrder
			if err := readRequest(ctx, request{path: *file, command: "create", what: "the order", prefix: "order"}, stdin, &order); err != nil {
				return nil, err
			}
			b, ok := map[string]v1.OfflineBehavior{
				"prefer-online":  v1.OfflineBehavior_OFFLINE_BEHAVIOR_PREFER_ONLINE,
				"require-online": v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE,
				"force-offline":  v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE,
			}[*behavior]
			if !ok {
				return nil, fmt.Errorf("%w: --offline %q: want prefer-online, require-online or force-offline", errUsage, *behavior)
			}
			req := &v1.CreateOrderRequest{Order: &order, OfflineBehavior: b}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.CreateOrder(ctx, req) }, nil
		}
	})
}

func runQuery(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "query", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		no := fs.String("out-order-no", "", "the order's out_order_no")
		qid := fs.String("query-id", "", "the order's query_id")
		file := fs.String("json", "", "request as JSON instead of the flags: a file, or - for stdin")
		return func(ctx context.Context) (action, error) {
			var req v1.QueryOrderRequest
			if *file != "" {
				if *no != "" || *qid != "" {
					return nil, fmt.Errorf("%w: give --json or --out-order-no/--query-id, not both", errUsage)
				}
				if err := readRequest(ctx, request{path: *file, command: "query", what: "the query"}, stdin, &req); err != nil {
					return nil, err
				}
			} else {
				if (*no == "") == (*qid == "") {
					return nil, fmt.Errorf("%w: give --out-order-no or --query-id (one of them)", errUsage)
				}
				req.OutOrderNo, req.QueryId = *no, *qid
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.QueryOrder(ctx, &req) }, nil
		}
	})
}

func runCancel(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "cancel", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		file := jsonFlag(fs)
		return func(ctx context.Context) (action, error) {
			var req v1.CancelOrderRequest
			if err := readRequest(ctx, request{path: *file, command: "cancel", what: "the cancel (out_order_no, reason)"}, stdin, &req); err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.CancelOrder(ctx, &req) }, nil
		}
	})
}

func runComplete(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "complete", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		file := jsonFlag(fs)
		return func(ctx context.Context) (action, error) {
			var req v1.CompleteOrderRequest
			if err := readRequest(ctx, request{path: *file, command: "complete", what: "the complete (out_order_no, finish_type, fees, ...)"}, stdin, &req); err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.CompleteOrder(ctx, &req) }, nil
		}
	})
}

func runStatus(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "status", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		return func(ctx context.Context) (action, error) {
			return func(ctx context.Context, c *host.Client) (proto.Message, error) {
				return c.GetStatus(ctx, &v1.GetStatusRequest{})
			}, nil
		}
	})
}
