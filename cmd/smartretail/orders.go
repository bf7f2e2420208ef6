package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/shared"
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
	fs.BoolVar(&h.verbose, "v", false, "show the plugin's log on stderr")
}

// start launches and configures the plugin.
func (h *hostFlags) start(ctx context.Context, stderr io.Writer) (*host.Client, error) {
	path, how, err := findPlugin(ctx, h.plugin)
	if err != nil {
		return nil, err
	}
	level := hclog.Warn
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
	prepare func(fs *flag.FlagSet) func() (action, error)) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	h := hostFlags{inspect: name == "status"} // looking changes nothing
	h.register(fs)
	ready := prepare(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		// Not echoed: it may be personal data (an openid given without its flag).
		return printError(stderr, fmt.Errorf("%w: %d unexpected arguments after the flags: give every value with its flag (e.g. --openid OPENID)", errUsage, fs.NArg()))
	}
	act, err := ready()
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

// readRequest reads a JSON request (WeChat's field names) from --json FILE
// or stdin into m; unknown fields are an error that names them.
func readRequest(path string, stdin io.Reader, m proto.Message) error {
	var data []byte
	var err error
	if path == "" || path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
		path = "stdin"
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("%w: reading the request: %v", errUsage, err)
	}
	if err := protojson.Unmarshal(data, m); err != nil {
		return fmt.Errorf("%w: request from %s: %v", errUsage, path, err)
	}
	return nil
}

func jsonFlag(fs *flag.FlagSet) *string {
	return fs.String("json", "", "request as JSON with WeChat Pay's field names (default: read stdin)")
}

func runCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "create", args, stdout, stderr, func(fs *flag.FlagSet) func() (action, error) {
		file := jsonFlag(fs)
		behavior := fs.String("offline", "prefer-online", "when WeChat Pay cannot be reached: prefer-online (queue), require-online (fail), force-offline (queue without trying)")
		return func() (action, error) {
			var order v1.NewOrder
			if err := readRequest(*file, stdin, &order); err != nil {
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
	return orderCommand(ctx, "query", args, stdout, stderr, func(fs *flag.FlagSet) func() (action, error) {
		no := fs.String("out-order-no", "", "the order's out_order_no")
		qid := fs.String("query-id", "", "the order's query_id")
		file := fs.String("json", "", "request as JSON instead of the flags")
		return func() (action, error) {
			var req v1.QueryOrderRequest
			if *file != "" {
				if err := readRequest(*file, stdin, &req); err != nil {
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
	return orderCommand(ctx, "cancel", args, stdout, stderr, func(fs *flag.FlagSet) func() (action, error) {
		file := jsonFlag(fs)
		return func() (action, error) {
			var req v1.CancelOrderRequest
			if err := readRequest(*file, stdin, &req); err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.CancelOrder(ctx, &req) }, nil
		}
	})
}

func runComplete(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "complete", args, stdout, stderr, func(fs *flag.FlagSet) func() (action, error) {
		file := jsonFlag(fs)
		return func() (action, error) {
			var req v1.CompleteOrderRequest
			if err := readRequest(*file, stdin, &req); err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.CompleteOrder(ctx, &req) }, nil
		}
	})
}

func runStatus(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "status", args, stdout, stderr, func(fs *flag.FlagSet) func() (action, error) {
		return func() (action, error) {
			return func(ctx context.Context, c *host.Client) (proto.Message, error) {
				return c.GetStatus(ctx, &v1.GetStatusRequest{})
			}, nil
		}
	})
}

var jsonOut = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}

func printJSON(stdout, stderr io.Writer, m proto.Message) int {
	data, err := jsonOut.Marshal(m)
	if err != nil {
		return printError(stderr, err)
	}
	// protojson's spacing is deliberately unstable; re-indent for people.
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return printError(stderr, err)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(stdout, string(out))
	return 0
}

// cliError is the JSON a failed command prints on stderr.
type cliError struct {
	Error struct {
		Class         string                  `json:"class"`
		Code          string                  `json:"code,omitempty"` // gRPC status code
		Message       string                  `json:"message"`
		WeChatCode    string                  `json:"wechat_code,omitempty"`
		WeChatMessage string                  `json:"wechat_message,omitempty"`
		Field         string                  `json:"field,omitempty"`
		Violations    []shared.FieldViolation `json:"violations,omitempty"`
		Reason        string                  `json:"reason,omitempty"`
		OutOrderNo    string                  `json:"out_order_no,omitempty"`
		RetryAfterMS  int64                   `json:"retry_after_ms,omitempty"`
		ReachedServer bool                    `json:"reached_server,omitempty"`
	} `json:"error"`
}

func printError(stderr io.Writer, err error) int {
	var out cliError
	e := &out.Error
	e.Message = err.Error()
	code := 1
	var se *shared.Error
	switch {
	case errors.As(err, &se):
		e.Class, e.Message = string(se.Class), se.Message
		if se.Code != 0 {
			e.Code = se.Code.String()
		}
		if se.WeChatPay != nil {
			e.WeChatCode, e.WeChatMessage = se.WeChatPay.Code, se.WeChatPay.Message
		}
		if len(se.Violations) > 0 {
			e.Field, e.Violations = se.Violations[0].Field, se.Violations
		}
		e.RetryAfterMS = se.RetryAfter.Milliseconds()
		e.Reason, e.OutOrderNo = se.Reason, se.OutOrderNo
		e.ReachedServer = se.ReachedServer
	case errors.Is(err, errUsage):
		e.Class = "USAGE"
		code = exitUsage
	default:
		e.Class = "HOST"
	}
	data, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(stderr, string(data))
	return code
}
