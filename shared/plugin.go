// Package shared is the plugin contract both sides import: the go-plugin
// handshake, the plugin set per protocol version, the Go interface of the
// service, its gRPC client and server adapters, and the error type that
// crosses the wire as a gRPC status with details.
//
// The messages are the generated ones in shared/proto/smartretail/v1; the
// .proto files there are all a host in another language needs.
package shared

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Handshake is what host and plugin must agree on. The cookie only tells a
// person who runs the plugin binary by hand that it is not a command; it is
// not security (see SecureConfig and AutoMTLS for that).
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "SMARTRETAIL_PLUGIN",
	MagicCookieValue: "a2d1f8c4-smartretail-orders",
}

// PluginName is the name of the one plugin in each set.
const PluginName = "orders"

// MaxRequestBytes bounds a message from host to plugin: the plugin refuses
// a larger one on receipt, without holding it, and a Go host refuses to send
// it (RESOURCE_EXHAUSTED, class INVALID). The largest valid request (a
// complete with 100 fees, 5 discounts and every text at its bound in 4-byte
// characters) is 27 KB (e2e TestLargestValidRequestsPass); a config names
// files, not their contents. With 16 MiB here, six 15 MiB creates at once
// took the plugin to 850 MiB.
const MaxRequestBytes = 256 << 10

// MaxAnswerBytes bounds a message from plugin to host: above gRPC's default
// 4 MiB, so a ListQueue of many orders or a large query answer never fails.
const MaxAnswerBytes = 16 << 20

// Orders is protocol version 1 as a Go interface: the plugin implements it,
// the host calls it. Messages are the proto ones, so there is one set of
// types at this boundary. Errors are *Error.
type Orders interface {
	Configure(context.Context, *v1.ConfigureRequest) (*v1.ConfigureResponse, error)
	CreateOrder(context.Context, *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error)
	QueryOrder(context.Context, *v1.QueryOrderRequest) (*v1.QueryOrderResponse, error)
	CancelOrder(context.Context, *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error)
	CompleteOrder(context.Context, *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error)
	GetUserServiceState(context.Context, *v1.GetUserServiceStateRequest) (*v1.GetUserServiceStateResponse, error)
	GetStatus(context.Context, *v1.GetStatusRequest) (*v1.GetStatusResponse, error)
	// WatchEvents calls send for each event after req.AfterSequence until
	// ctx ends or send fails.
	WatchEvents(ctx context.Context, req *v1.WatchEventsRequest, send func(*v1.Event) error) error
	ListQueue(context.Context, *v1.ListQueueRequest) (*v1.ListQueueResponse, error)
	RetryFailed(context.Context, *v1.RetryFailedRequest) (*v1.RetryFailedResponse, error)
	DropFailed(context.Context, *v1.DropFailedRequest) (*v1.DropFailedResponse, error)
	Drain(context.Context, *v1.DrainRequest) (*v1.DrainResponse, error)
	CompactOutbox(context.Context, *v1.CompactOutboxRequest) (*v1.CompactOutboxResponse, error)
	// The service-order API's own: UNSUPPORTED on the smart-retail API.
	ModifyOrder(context.Context, *v1.ModifyOrderRequest) (*v1.ModifyOrderResponse, error)
	CollectPayment(context.Context, *v1.CollectPaymentRequest) (*v1.CollectPaymentResponse, error)
	SyncOrderPaid(context.Context, *v1.SyncOrderPaidRequest) (*v1.SyncOrderPaidResponse, error)
}

// OrdersPlugin is the go-plugin glue: gRPC only.
type OrdersPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	// Impl is the plugin side's implementation; nil on the host side.
	Impl Orders
}

// GRPCServer registers the service on the plugin's gRPC server.
func (p *OrdersPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	v1.RegisterOrderServiceServer(s, &GRPCServer{Impl: p.Impl})
	return nil
}

// GRPCClient gives the host an Orders that calls over conn.
func (p *OrdersPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return NewGRPCClient(conn), nil
}

// VersionedPlugins is the plugin set per protocol version. Version 2, when
// it comes, is added beside 1 so hosts of either version keep working.
func VersionedPlugins(impl Orders) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		1: {PluginName: &OrdersPlugin{Impl: impl}},
	}
}

// GRPCServerOptions are the options the plugin's gRPC server adds to
// go-plugin's own.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRequestBytes),
		grpc.MaxSendMsgSize(MaxAnswerBytes),
	}
}

// GRPCDialOptions are the options a Go host dials the plugin with.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxAnswerBytes), grpc.MaxCallSendMsgSize(MaxRequestBytes)),
	}
}
