// Package host is the Go library kiosk software imports to run the
// smartretail plugin: Start launches the plugin binary through go-plugin
// (gRPC, AutoMTLS), configures it, and returns a Client with typed calls.
//
//	c, err := host.Start(ctx, host.Options{PluginPath: "smartretail-plugin", ConfigPath: "config.json"})
//	...
//	defer c.Close()
//	resp, err := c.Create(ctx, &smartretailv1.NewOrder{OutOrderNo: "K1-0001", ...})
//
// Errors from calls are *shared.Error: switch on Class, read Violations,
// WeChatPay and RetryAfter.
package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// DefaultStartTimeout bounds how long Start waits for the plugin's handshake.
const DefaultStartTimeout = 20 * time.Second

// Options says which plugin to run and how to configure it.
type Options struct {
	// PluginPath is the smartretail-plugin binary.
	PluginPath string
	// PluginArgs are passed to the binary (rarely needed).
	PluginArgs []string
	// ConfigPath is a config file; its relative paths are resolved against
	// its folder. Or give Config directly (paths absolute).
	ConfigPath string
	Config     *v1.Config
	// Checksum is the SHA-256 of the plugin binary; when set, a binary
	// that does not match is refused before it runs.
	Checksum []byte
	// Logger gets go-plugin's and the plugin's logs; nil discards them.
	Logger hclog.Logger
	// StartTimeout bounds the handshake; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// DisableAutoMTLS turns off the TLS that go-plugin sets up between
	// host and plugin. Leave it on: on Windows the plugin listens on
	// loopback TCP, where any local process could connect.
	DisableAutoMTLS bool
}

// Client is a running, configured plugin. Safe for concurrent use.
type Client struct {
	opts Options
	cfg  *v1.Config

	mu       sync.Mutex
	proc     *goplugin.Client
	cmd      *exec.Cmd
	orders   shared.Orders
	restarts int
	closed   bool
}

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("smartretail host: client is closed")

// Start launches the plugin, waits for its handshake and configures it.
// ctx bounds the whole start; the plugin itself runs until Close.
func Start(ctx context.Context, opts Options) (*Client, error) {
	if opts.PluginPath == "" {
		return nil, errors.New("smartretail host: Options.PluginPath is required")
	}
	cfg := opts.Config
	switch {
	case opts.ConfigPath != "" && cfg != nil:
		return nil, errors.New("smartretail host: give Options.ConfigPath or Options.Config, not both")
	case opts.ConfigPath != "":
		c, err := config.Load(opts.ConfigPath)
		if err != nil {
			return nil, err
		}
		cfg = c.Proto()
	case cfg == nil:
		return nil, errors.New("smartretail host: Options.ConfigPath or Options.Config is required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	c := &Client{opts: opts, cfg: cfg}
	if err := c.launch(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// launch starts a plugin process and configures it. Called with c.mu held
// or before c is shared.
func (c *Client) launch(ctx context.Context) error {
	cmd := exec.Command(c.opts.PluginPath, c.opts.PluginArgs...)
	cc := &goplugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.VersionedPlugins(nil),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         !c.opts.DisableAutoMTLS,
		Logger:           c.opts.Logger,
		StartTimeout:     c.opts.StartTimeout,
		GRPCDialOptions:  shared.GRPCDialOptions(),
	}
	if len(c.opts.Checksum) > 0 {
		cc.SecureConfig = &goplugin.SecureConfig{Checksum: c.opts.Checksum, Hash: sha256.New()}
	}
	proc := goplugin.NewClient(cc)
	rpc, err := proc.Client()
	if err != nil {
		proc.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return fmt.Errorf("smartretail host: %s is not the expected plugin binary (SHA-256 checksum does not match): %w", c.opts.PluginPath, err)
		}
		return fmt.Errorf("smartretail host: starting plugin %s: %w", c.opts.PluginPath, err)
	}
	raw, err := rpc.Dispense(shared.PluginName)
	if err != nil {
		proc.Kill()
		return fmt.Errorf("smartretail host: plugin %s: %w", c.opts.PluginPath, err)
	}
	orders := raw.(shared.Orders)
	if _, err := orders.Configure(ctx, &v1.ConfigureRequest{Config: c.cfg}); err != nil {
		proc.Kill()
		return err
	}
	c.proc, c.cmd, c.orders = proc, cmd, orders
	return nil
}

// plugin returns the running plugin's Orders, restarting a plugin that has
// exited: once per Client, with the same configuration. A second exit is
// an error that says how the process ended.
func (c *Client) plugin(ctx context.Context) (shared.Orders, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if !c.proc.Exited() {
		return c.orders, nil
	}
	how := exitDescription(c.cmd)
	if c.restarts >= 1 {
		return nil, &shared.Error{Class: shared.ClassInternal,
			Message: fmt.Sprintf("smartretail plugin exited (%s) and was already restarted once; see its log on stderr", how)}
	}
	c.restarts++
	c.opts.Logger.Warn("smartretail plugin exited; restarting it", "how", how)
	if err := c.launch(ctx); err != nil {
		return nil, fmt.Errorf("smartretail plugin exited (%s); restarting it failed: %w", how, err)
	}
	return c.orders, nil
}

func exitDescription(cmd *exec.Cmd) string {
	if cmd != nil && cmd.ProcessState != nil {
		return cmd.ProcessState.String()
	}
	return "process gone"
}

// call runs f on the plugin. If the plugin died during the call, the error
// says so instead of a bare transport error.
func call[T any](ctx context.Context, c *Client, f func(shared.Orders) (T, error)) (T, error) {
	var zero T
	o, err := c.plugin(ctx)
	if err != nil {
		return zero, err
	}
	resp, err := f(o)
	if err != nil {
		c.mu.Lock()
		exited, cmd := c.proc.Exited(), c.cmd
		c.mu.Unlock()
		if exited {
			return zero, &shared.Error{Class: shared.ClassInternal,
				Message: fmt.Sprintf("smartretail plugin exited during the call (%s); the next call restarts it: %v", exitDescription(cmd), err)}
		}
		return zero, err
	}
	return resp, nil
}

// Create creates an order. out_order_no is the idempotency key: keep it
// with the sale and reuse it for any retry.
func (c *Client) Create(ctx context.Context, order *v1.NewOrder) (*v1.CreateOrderResponse, error) {
	return call(ctx, c, func(o shared.Orders) (*v1.CreateOrderResponse, error) {
		return o.CreateOrder(ctx, &v1.CreateOrderRequest{Order: order})
	})
}

// Query reads an order by out_order_no or query_id.
func (c *Client) Query(ctx context.Context, req *v1.QueryOrderRequest) (*v1.Order, error) {
	resp, err := call(ctx, c, func(o shared.Orders) (*v1.QueryOrderResponse, error) { return o.QueryOrder(ctx, req) })
	if err != nil {
		return nil, err
	}
	return resp.GetOrder(), nil
}

// Cancel revokes an order that has not been completed.
func (c *Client) Cancel(ctx context.Context, req *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error) {
	return call(ctx, c, func(o shared.Orders) (*v1.CancelOrderResponse, error) { return o.CancelOrder(ctx, req) })
}

// Complete finishes (finish_type 2, charging the fees) or cancels
// (finish_type 1) an order the user accepted.
func (c *Client) Complete(ctx context.Context, req *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error) {
	return call(ctx, c, func(o shared.Orders) (*v1.CompleteOrderResponse, error) { return o.CompleteOrder(ctx, req) })
}

// Status reports the plugin's state.
func (c *Client) Status(ctx context.Context) (*v1.GetStatusResponse, error) {
	return call(ctx, c, func(o shared.Orders) (*v1.GetStatusResponse, error) { return o.GetStatus(ctx, &v1.GetStatusRequest{}) })
}

// Events calls fn for every event after afterSequence until ctx ends or fn
// returns an error. Keep the last sequence seen: passing it back after a
// reconnect resumes without a gap.
func (c *Client) Events(ctx context.Context, afterSequence uint64, fn func(*v1.Event) error) error {
	_, err := call(ctx, c, func(o shared.Orders) (struct{}, error) {
		return struct{}{}, o.WatchEvents(ctx, &v1.WatchEventsRequest{AfterSequence: afterSequence}, fn)
	})
	return err
}

// PID is the plugin process's id (for diagnostics), or 0.
func (c *Client) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil && c.cmd.Process != nil {
		return c.cmd.Process.Pid
	}
	return 0
}

// Close shuts the plugin down (GRPCController.Shutdown, then a kill after
// two seconds) and waits for it to exit.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.proc.Kill()
	return nil
}
