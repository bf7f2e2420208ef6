package main

import (
	"context"
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// noopPluginArg makes this binary, started by go-plugin, serve a plugin
// that does nothing: the floor go-plugin itself sets, for "bench start".
const noopPluginArg = "bench-noop-plugin"

// noopOrders answers every call at once and does nothing.
type noopOrders struct{}

func (noopOrders) Configure(context.Context, *v1.ConfigureRequest) (*v1.ConfigureResponse, error) {
	return &v1.ConfigureResponse{}, nil
}
func (noopOrders) CreateOrder(context.Context, *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	return &v1.CreateOrderResponse{}, nil
}
func (noopOrders) QueryOrder(context.Context, *v1.QueryOrderRequest) (*v1.QueryOrderResponse, error) {
	return &v1.QueryOrderResponse{}, nil
}
func (noopOrders) CancelOrder(context.Context, *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error) {
	return &v1.CancelOrderResponse{}, nil
}
func (noopOrders) CompleteOrder(context.Context, *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error) {
	return &v1.CompleteOrderResponse{}, nil
}
func (noopOrders) GetStatus(context.Context, *v1.GetStatusRequest) (*v1.GetStatusResponse, error) {
	return &v1.GetStatusResponse{}, nil
}
func (noopOrders) WatchEvents(ctx context.Context, _ *v1.WatchEventsRequest, _ func(*v1.Event) error) error {
	<-ctx.Done()
	return nil
}
func (noopOrders) ListQueue(context.Context, *v1.ListQueueRequest) (*v1.ListQueueResponse, error) {
	return &v1.ListQueueResponse{}, nil
}
func (noopOrders) RetryFailed(context.Context, *v1.RetryFailedRequest) (*v1.RetryFailedResponse, error) {
	return &v1.RetryFailedResponse{}, nil
}
func (noopOrders) DropFailed(context.Context, *v1.DropFailedRequest) (*v1.DropFailedResponse, error) {
	return &v1.DropFailedResponse{}, nil
}
func (noopOrders) Drain(context.Context, *v1.DrainRequest) (*v1.DrainResponse, error) {
	return &v1.DrainResponse{}, nil
}
func (noopOrders) CompactOutbox(context.Context, *v1.CompactOutboxRequest) (*v1.CompactOutboxResponse, error) {
	return &v1.CompactOutboxResponse{}, nil
}

// serveNoop serves noopOrders the way the real plugin is served.
func serveNoop() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.VersionedPlugins(noopOrders{}),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, shared.GRPCServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Warn, JSONFormat: true}),
	})
}
