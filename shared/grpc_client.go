package shared

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// GRPCClient is the host's Orders over a gRPC connection to the plugin.
// Every error it returns is an *Error (status details decoded).
type GRPCClient struct {
	client v1.OrderServiceClient
}

// NewGRPCClient wraps a connection to a smartretail plugin.
func NewGRPCClient(conn grpc.ClientConnInterface) *GRPCClient {
	return &GRPCClient{client: v1.NewOrderServiceClient(conn)}
}

var _ Orders = (*GRPCClient)(nil)

func (c *GRPCClient) Configure(ctx context.Context, r *v1.ConfigureRequest) (*v1.ConfigureResponse, error) {
	resp, err := c.client.Configure(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) CreateOrder(ctx context.Context, r *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	resp, err := c.client.CreateOrder(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) QueryOrder(ctx context.Context, r *v1.QueryOrderRequest) (*v1.QueryOrderResponse, error) {
	resp, err := c.client.QueryOrder(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) CancelOrder(ctx context.Context, r *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error) {
	resp, err := c.client.CancelOrder(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) CompleteOrder(ctx context.Context, r *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error) {
	resp, err := c.client.CompleteOrder(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) GetUserServiceState(ctx context.Context, r *v1.GetUserServiceStateRequest) (*v1.GetUserServiceStateResponse, error) {
	resp, err := c.client.GetUserServiceState(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) GetStatus(ctx context.Context, r *v1.GetStatusRequest) (*v1.GetStatusResponse, error) {
	resp, err := c.client.GetStatus(ctx, r)
	return resp, FromStatus(err)
}

// WatchEvents receives events until ctx ends, the plugin closes the stream
// (nil) or send fails (its error).
func (c *GRPCClient) WatchEvents(ctx context.Context, r *v1.WatchEventsRequest, send func(*v1.Event) error) error {
	stream, err := c.client.WatchEvents(ctx, r)
	if err != nil {
		return FromStatus(err)
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return FromStatus(err)
		}
		if err := send(ev); err != nil {
			return err
		}
	}
}

func (c *GRPCClient) ListQueue(ctx context.Context, r *v1.ListQueueRequest) (*v1.ListQueueResponse, error) {
	resp, err := c.client.ListQueue(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) RetryFailed(ctx context.Context, r *v1.RetryFailedRequest) (*v1.RetryFailedResponse, error) {
	resp, err := c.client.RetryFailed(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) DropFailed(ctx context.Context, r *v1.DropFailedRequest) (*v1.DropFailedResponse, error) {
	resp, err := c.client.DropFailed(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) Drain(ctx context.Context, r *v1.DrainRequest) (*v1.DrainResponse, error) {
	resp, err := c.client.Drain(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) CompactOutbox(ctx context.Context, r *v1.CompactOutboxRequest) (*v1.CompactOutboxResponse, error) {
	resp, err := c.client.CompactOutbox(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) ModifyOrder(ctx context.Context, r *v1.ModifyOrderRequest) (*v1.ModifyOrderResponse, error) {
	resp, err := c.client.ModifyOrder(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) CollectPayment(ctx context.Context, r *v1.CollectPaymentRequest) (*v1.CollectPaymentResponse, error) {
	resp, err := c.client.CollectPayment(ctx, r)
	return resp, FromStatus(err)
}

func (c *GRPCClient) SyncOrderPaid(ctx context.Context, r *v1.SyncOrderPaidRequest) (*v1.SyncOrderPaidResponse, error) {
	resp, err := c.client.SyncOrderPaid(ctx, r)
	return resp, FromStatus(err)
}
