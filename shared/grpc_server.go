package shared

import (
	"context"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// GRPCServer adapts an Orders to the generated OrderServiceServer. Errors
// become gRPC statuses here, in one place (see Error.GRPCStatus).
type GRPCServer struct {
	v1.UnimplementedOrderServiceServer
	Impl Orders
}

func (s *GRPCServer) Configure(ctx context.Context, r *v1.ConfigureRequest) (*v1.ConfigureResponse, error) {
	resp, err := s.Impl.Configure(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) CreateOrder(ctx context.Context, r *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	resp, err := s.Impl.CreateOrder(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) QueryOrder(ctx context.Context, r *v1.QueryOrderRequest) (*v1.QueryOrderResponse, error) {
	resp, err := s.Impl.QueryOrder(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) CancelOrder(ctx context.Context, r *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error) {
	resp, err := s.Impl.CancelOrder(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) CompleteOrder(ctx context.Context, r *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error) {
	resp, err := s.Impl.CompleteOrder(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) GetUserServiceState(ctx context.Context, r *v1.GetUserServiceStateRequest) (*v1.GetUserServiceStateResponse, error) {
	resp, err := s.Impl.GetUserServiceState(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) GetStatus(ctx context.Context, r *v1.GetStatusRequest) (*v1.GetStatusResponse, error) {
	resp, err := s.Impl.GetStatus(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) WatchEvents(r *v1.WatchEventsRequest, stream v1.OrderService_WatchEventsServer) error {
	return ToStatus(s.Impl.WatchEvents(stream.Context(), r, stream.Send))
}

func (s *GRPCServer) ListQueue(ctx context.Context, r *v1.ListQueueRequest) (*v1.ListQueueResponse, error) {
	resp, err := s.Impl.ListQueue(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) RetryFailed(ctx context.Context, r *v1.RetryFailedRequest) (*v1.RetryFailedResponse, error) {
	resp, err := s.Impl.RetryFailed(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) DropFailed(ctx context.Context, r *v1.DropFailedRequest) (*v1.DropFailedResponse, error) {
	resp, err := s.Impl.DropFailed(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) Drain(ctx context.Context, r *v1.DrainRequest) (*v1.DrainResponse, error) {
	resp, err := s.Impl.Drain(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) CompactOutbox(ctx context.Context, r *v1.CompactOutboxRequest) (*v1.CompactOutboxResponse, error) {
	resp, err := s.Impl.CompactOutbox(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) ModifyOrder(ctx context.Context, r *v1.ModifyOrderRequest) (*v1.ModifyOrderResponse, error) {
	resp, err := s.Impl.ModifyOrder(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) CollectPayment(ctx context.Context, r *v1.CollectPaymentRequest) (*v1.CollectPaymentResponse, error) {
	resp, err := s.Impl.CollectPayment(ctx, r)
	return resp, ToStatus(err)
}

func (s *GRPCServer) SyncOrderPaid(ctx context.Context, r *v1.SyncOrderPaidRequest) (*v1.SyncOrderPaidResponse, error) {
	resp, err := s.Impl.SyncOrderPaid(ctx, r)
	return resp, ToStatus(err)
}
