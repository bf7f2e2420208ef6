package plugin

import (
	"context"
	"errors"

	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// GetUserServiceState asks WeChat Pay whether the customer has authorised
// the service: always online (an answer from the outbox would be a guess),
// and, like a query, it tells the forwarder whether WeChat Pay answers. The
// wxpay client keeps the openid out of its errors; nothing here logs it.
func (s *Service) GetUserServiceState(ctx context.Context, r *v1.GetUserServiceStateRequest) (*v1.GetUserServiceStateResponse, error) {
	c, err := s.working()
	if err != nil {
		return nil, err
	}
	got, err := c.client.UserServiceState(ctx, wxpay.UserServiceStateRequest{
		OpenID: r.GetOpenid(), AppID: r.GetAppid(), ServiceID: r.GetServiceId()})
	if !refusedBeforeSending(err) {
		c.fwd.Observe(err)
	}
	if err != nil {
		return nil, fromWxpay(err, "")
	}
	return &v1.GetUserServiceStateResponse{Appid: got.AppID, ServiceId: got.ServiceID,
		Openid: got.OpenID, UseServiceState: got.UseServiceState}, nil
}

// refusedBeforeSending is an error from a request that never left: it says
// nothing of whether WeChat Pay answers, so it must not set the network
// status (Observe counts any *wxpay.Error that is not a network failure as
// WeChat Pay answering).
func refusedBeforeSending(err error) bool {
	var we *wxpay.Error
	return errors.As(err, &we) && we.StatusCode == 0 && (we.Class == wxpay.Invalid || we.Class == wxpay.Internal)
}
