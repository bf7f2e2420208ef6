// Package host is the Go library kiosk software imports to run the
// smartretail plugin: Start launches the plugin binary through go-plugin
// (gRPC, AutoMTLS), configures it, and returns a Client with one method
// per RPC of the plugin's service, named after it, taking its request
// message and returning its whole response message.
//
//	c, err := host.Start(ctx, host.Options{PluginPath: "smartretail-plugin", ConfigPath: "config.json"})
//	...
//	defer c.Close()
//	resp, err := c.CreateOrder(ctx, &smartretailv1.CreateOrderRequest{Order: &smartretailv1.NewOrder{OutOrderNo: "K1-0001", ...}})
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
	"google.golang.org/grpc"

	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
	"google.golang.org/grpc/codes"
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
	// Inspect configures the plugin only to look at its outbox: it sends,
	// expires, prunes and repairs nothing, shares the outbox with other
	// inspectors, and answers only GetStatus and ListQueue (operators' tools).
	Inspect bool
	// DisableAutoMTLS turns off the TLS that go-plugin sets up between
	// host and plugin. Leave it on: on Windows the plugin listens on
	// loopback TCP, where any local process could connect.
	DisableAutoMTLS bool
}

// Client is a running, configured plugin. Safe for concurrent use.
type Client struct {
	opts Options
	cfg  *v1.Config

	// conn is the connection of a Client made by Dial: a plugin another
	// process runs, which this Client neither restarts nor stops.
	conn *grpc.ClientConn

	mu       sync.Mutex
	proc     *goplugin.Client
	cmd      *exec.Cmd
	orders   shared.Orders
	restarts int
	closed   bool
	starting chan struct{} // closed when a restart in progress ends
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
	var err error
	if c.proc, c.cmd, c.orders, err = c.launch(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// launch starts a plugin process and configures it, within ctx.
func (c *Client) launch(ctx context.Context) (*goplugin.Client, *exec.Cmd, shared.Orders, error) {
	proc, cmd, orders, err := c.handshake(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := orders.Configure(ctx, &v1.ConfigureRequest{Config: c.cfg, Inspect: c.opts.Inspect}); err != nil {
		proc.Kill()
		return nil, nil, nil, err
	}
	return proc, cmd, orders, nil
}

// PluginVersion starts the binary at opts.PluginPath, asks its version
// (GetStatus answers before Configure) and stops it. Nothing is configured:
// the outbox is not opened and nothing is sent, so a tool can ask any
// binary before choosing it. Only PluginPath, PluginArgs, Checksum, Logger,
// StartTimeout and DisableAutoMTLS are used.
func PluginVersion(ctx context.Context, opts Options) (string, error) {
	if opts.PluginPath == "" {
		return "", errors.New("smartretail host: Options.PluginPath is required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	c := &Client{opts: opts}
	proc, _, orders, err := c.handshake(ctx)
	if err != nil {
		return "", err
	}
	defer proc.Kill()
	st, err := orders.GetStatus(ctx, &v1.GetStatusRequest{})
	if err != nil {
		return "", fmt.Errorf("smartretail host: asking plugin %s its version: %w", opts.PluginPath, err)
	}
	return st.GetPluginVersion(), nil
}

// handshake starts a plugin process and dispenses its Orders, within ctx.
func (c *Client) handshake(ctx context.Context) (*goplugin.Client, *exec.Cmd, shared.Orders, error) {
	cmd := exec.Command(c.opts.PluginPath, c.opts.PluginArgs...)
	timeout := c.opts.StartTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		// go-plugin's handshake wait takes no context: bound it by ours.
		timeout = max(time.Until(d), time.Millisecond)
	}
	cc := &goplugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.VersionedPlugins(nil),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         !c.opts.DisableAutoMTLS,
		Logger:           c.opts.Logger,
		StartTimeout:     timeout,
		GRPCDialOptions:  shared.GRPCDialOptions(),
	}
	if len(c.opts.Checksum) > 0 {
		cc.SecureConfig = &goplugin.SecureConfig{Checksum: c.opts.Checksum, Hash: sha256.New()}
	}
	proc := goplugin.NewClient(cc)
	type started struct {
		orders shared.Orders
		err    error
	}
	ch := make(chan started, 1)
	go func() {
		rpc, err := proc.Client()
		if err != nil {
			ch <- started{err: err}
			return
		}
		raw, err := rpc.Dispense(shared.PluginName)
		if err != nil {
			ch <- started{err: err}
			return
		}
		ch <- started{orders: raw.(shared.Orders)}
	}()
	var st started
	select {
	case st = <-ch:
	case <-ctx.Done():
		// Give up now; the handshake wait ends by itself, then the process goes.
		go func() { <-ch; proc.Kill() }()
		return nil, nil, nil, fmt.Errorf("smartretail host: starting plugin %s: %w", c.opts.PluginPath, ctx.Err())
	}
	if st.err != nil {
		proc.Kill()
		if errors.Is(st.err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, nil, nil, fmt.Errorf("smartretail host: %s is not the expected plugin binary (SHA-256 checksum does not match): %w", c.opts.PluginPath, st.err)
		}
		return nil, nil, nil, fmt.Errorf("smartretail host: starting plugin %s: %w", c.opts.PluginPath, st.err)
	}
	return proc, cmd, st.orders, nil
}

// plugin returns the running plugin's Orders, restarting a plugin that has
// exited: once per Client, with the same configuration. A second exit is
// an error that says how the process ended. A restart runs without the
// lock, so Close and other calls are never held behind it.
func (c *Client) plugin(ctx context.Context) (shared.Orders, error) {
	c.mu.Lock()
	for {
		switch {
		case c.closed:
			c.mu.Unlock()
			return nil, ErrClosed
		case c.conn != nil:
			o := c.orders
			c.mu.Unlock()
			return o, nil
		case c.starting != nil:
			wait := c.starting
			c.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			c.mu.Lock()
			continue
		case !c.proc.Exited():
			o := c.orders
			c.mu.Unlock()
			return o, nil
		}
		how := exitDescription(c.cmd)
		if c.restarts >= 1 {
			c.mu.Unlock()
			return nil, &shared.Error{Class: shared.ClassInternal,
				Message: fmt.Sprintf("smartretail plugin exited (%s) and was already restarted once; see its log on stderr", how)}
		}
		c.restarts++
		c.starting = make(chan struct{})
		c.mu.Unlock()
		c.opts.Logger.Warn("smartretail plugin exited; restarting it", "how", how)
		proc, cmd, orders, err := c.launch(ctx)
		c.mu.Lock()
		close(c.starting)
		c.starting = nil
		if err != nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("smartretail plugin exited (%s); restarting it failed: %w", how, err)
		}
		if c.closed {
			c.mu.Unlock()
			proc.Kill()
			return nil, ErrClosed
		}
		c.proc, c.cmd, c.orders = proc, cmd, orders
		c.mu.Unlock()
		return orders, nil
	}
}

func exitDescription(cmd *exec.Cmd) string {
	if cmd != nil && cmd.ProcessState != nil {
		return cmd.ProcessState.String()
	}
	return "process gone"
}

// call runs f on the plugin. When the call ends without the plugin's own
// answer (the plugin died, the deadline passed), a call that changes an
// order (mutates) reports that its outcome is unknown, never that it failed:
// the request may have reached WeChat Pay.
func call[T any](ctx context.Context, c *Client, mutates bool, f func(shared.Orders) (T, error)) (T, error) {
	var zero T
	o, err := c.plugin(ctx)
	if err != nil {
		return zero, err
	}
	resp, err := f(o)
	if err == nil {
		return resp, nil
	}
	c.mu.Lock()
	exited, cmd := c.proc != nil && c.proc.Exited(), c.cmd
	c.mu.Unlock()
	var se *shared.Error
	fromPlugin := errors.As(err, &se) && se.Class != shared.ClassInternal
	switch {
	case fromPlugin:
		return zero, err
	case exited:
		e := &shared.Error{Class: shared.ClassInternal,
			Message: fmt.Sprintf("smartretail plugin exited during the call (%s); the next call restarts it: %v", exitDescription(cmd), err)}
		if mutates {
			e.Class, e.ReachedServer = shared.ClassNetwork, true
			e.Message += "; the request may have reached WeChat Pay: query by out_order_no before sending it again"
		}
		return zero, e
	case mutates && se != nil && (se.Code == codes.DeadlineExceeded || se.Code == codes.Canceled || se.Code == codes.Unavailable):
		return zero, &shared.Error{Class: shared.ClassNetwork, ReachedServer: true, Code: se.Code,
			Message: "no answer from the plugin before the call ended (" + se.Message + "); the request may have reached WeChat Pay: query by out_order_no before sending it again"}
	}
	return zero, err
}

// Each RPC of the plugin's service has one method here, named after it,
// taking its request and returning its whole response: a Go host sees
// everything a host in another language sees.

// CreateOrder creates an order: online first and queued when WeChat Pay
// cannot be reached, unless req.OfflineBehavior says otherwise.
// out_order_no is the idempotency key: keep it with the sale and reuse it
// for any retry.
func (c *Client) CreateOrder(ctx context.Context, req *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	return call(ctx, c, true, func(o shared.Orders) (*v1.CreateOrderResponse, error) { return o.CreateOrder(ctx, req) })
}

// QueryOrder reads an order by out_order_no or query_id. For an order
// whose create has not reached WeChat Pay, Queued says where it is in the
// outbox (local_state, and for a failed one failure_code and message).
func (c *Client) QueryOrder(ctx context.Context, req *v1.QueryOrderRequest) (*v1.QueryOrderResponse, error) {
	return call(ctx, c, false, func(o shared.Orders) (*v1.QueryOrderResponse, error) { return o.QueryOrder(ctx, req) })
}

// GetUserServiceState asks WeChat Pay whether the customer (openid) has
// authorised the Pay Score service, for the config's appid and service_id:
// the official smart-retail flow asks before it creates an order, and
// creates only when use_service_state is "AVAILABLE". It is always online
// (a NETWORK error when WeChat Pay cannot be reached); the openid
// is in no error. It changes nothing, so it is safe to repeat.
func (c *Client) GetUserServiceState(ctx context.Context, req *v1.GetUserServiceStateRequest) (*v1.GetUserServiceStateResponse, error) {
	return call(ctx, c, false, func(o shared.Orders) (*v1.GetUserServiceStateResponse, error) { return o.GetUserServiceState(ctx, req) })
}

// CancelOrder revokes an order that has not been completed.
func (c *Client) CancelOrder(ctx context.Context, req *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error) {
	return call(ctx, c, true, func(o shared.Orders) (*v1.CancelOrderResponse, error) { return o.CancelOrder(ctx, req) })
}

// CompleteOrder finishes (finish_type 2, charging the fees) or cancels
// (finish_type 1) an order the user accepted.
func (c *Client) CompleteOrder(ctx context.Context, req *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error) {
	return call(ctx, c, true, func(o shared.Orders) (*v1.CompleteOrderResponse, error) { return o.CompleteOrder(ctx, req) })
}

// ModifyOrder lowers a completed service order's amount while its payment
// is pending (payscore_api serviceorder; UNSUPPORTED on smart retail).
func (c *Client) ModifyOrder(ctx context.Context, req *v1.ModifyOrderRequest) (*v1.ModifyOrderResponse, error) {
	return call(ctx, c, true, func(o shared.Orders) (*v1.ModifyOrderResponse, error) { return o.ModifyOrder(ctx, req) })
}

// CollectPayment asks WeChat Pay to collect a completed service order's
// payment again (UNSUPPORTED on smart retail).
func (c *Client) CollectPayment(ctx context.Context, req *v1.CollectPaymentRequest) (*v1.CollectPaymentResponse, error) {
	return call(ctx, c, true, func(o shared.Orders) (*v1.CollectPaymentResponse, error) { return o.CollectPayment(ctx, req) })
}

// SyncOrderPaid tells WeChat Pay a service order was paid by other means
// (UNSUPPORTED on smart retail).
func (c *Client) SyncOrderPaid(ctx context.Context, req *v1.SyncOrderPaidRequest) (*v1.SyncOrderPaidResponse, error) {
	return call(ctx, c, true, func(o shared.Orders) (*v1.SyncOrderPaidResponse, error) { return o.SyncOrderPaid(ctx, req) })
}

// GetStatus reports the plugin's state.
func (c *Client) GetStatus(ctx context.Context, req *v1.GetStatusRequest) (*v1.GetStatusResponse, error) {
	return call(ctx, c, false, func(o shared.Orders) (*v1.GetStatusResponse, error) { return o.GetStatus(ctx, req) })
}

// WatchEvents calls fn for every event after req.AfterSequence, in order,
// until ctx ends (nil) or fn returns an error (that error). Events come
// from the plugin's durable log: if the stream breaks (the plugin
// restarted, or was reconfigured) it is resumed after the last event fn
// saw, so none is missed or repeated. Keep the last sequence seen across
// host restarts too, and pass it back here.
func (c *Client) WatchEvents(ctx context.Context, req *v1.WatchEventsRequest, fn func(*v1.Event) error) error {
	last := req.GetAfterSequence()
	var fnErr error
	for {
		_, err := call(ctx, c, false, func(o shared.Orders) (struct{}, error) {
			return struct{}{}, o.WatchEvents(ctx, &v1.WatchEventsRequest{AfterSequence: last}, func(ev *v1.Event) error {
				if err := fn(ev); err != nil {
					fnErr = err
					return err
				}
				last = ev.GetSequence()
				return nil
			})
		})
		switch {
		case fnErr != nil:
			return fnErr
		case ctx.Err() != nil:
			return nil
		case err == nil:
			continue // the plugin ended the stream: watch again
		}
		var se *shared.Error
		if errors.As(err, &se) && (se.Code == codes.DeadlineExceeded || se.Code == codes.Canceled) {
			// gRPC's timer for ctx's deadline can fire a moment before ctx
			// reports it: that is the caller's end, not a failure.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
				return err
			}
		}
		if errors.As(err, &se) && (se.Class == shared.ClassNotConfigured || se.Code == codes.Unavailable) {
			// Reconfigured, or the plugin went away: a moment, then resume.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		return err
	}
}

// ListQueue lists the orders waiting in the plugin's outbox, or (Failed)
// its failed list.
func (c *Client) ListQueue(ctx context.Context, req *v1.ListQueueRequest) (*v1.ListQueueResponse, error) {
	return call(ctx, c, false, func(o shared.Orders) (*v1.ListQueueResponse, error) { return o.ListQueue(ctx, req) })
}

// RetryFailed puts a failed order back in the queue.
func (c *Client) RetryFailed(ctx context.Context, req *v1.RetryFailedRequest) (*v1.RetryFailedResponse, error) {
	return call(ctx, c, true, func(o shared.Orders) (*v1.RetryFailedResponse, error) { return o.RetryFailed(ctx, req) })
}

// DropFailed deletes a failed order from the outbox for good.
func (c *Client) DropFailed(ctx context.Context, req *v1.DropFailedRequest) (*v1.DropFailedResponse, error) {
	return call(ctx, c, true, func(o shared.Orders) (*v1.DropFailedResponse, error) { return o.DropFailed(ctx, req) })
}

// Drain asks the plugin to send its queue now; the answer's pending_count
// is how many orders still have work.
func (c *Client) Drain(ctx context.Context, req *v1.DrainRequest) (*v1.DrainResponse, error) {
	return call(ctx, c, false, func(o shared.Orders) (*v1.DrainResponse, error) { return o.Drain(ctx, req) })
}

// CompactOutbox rewrites the outbox file; the answer holds its sizes
// before and after.
func (c *Client) CompactOutbox(ctx context.Context, req *v1.CompactOutboxRequest) (*v1.CompactOutboxResponse, error) {
	return call(ctx, c, false, func(o shared.Orders) (*v1.CompactOutboxResponse, error) { return o.CompactOutbox(ctx, req) })
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
// two seconds) and waits for it to exit. On a Client made by Dial it only
// closes the connection: the plugin is its host's.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	proc := c.proc
	c.mu.Unlock()
	if c.conn != nil {
		return c.conn.Close()
	}
	proc.Kill() // a restart in progress sees closed and kills its own
	return nil
}
