package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/host"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// runUserState is `smartretail user-state --openid OPENID`: whether the
// customer has authorised the service, WeChat Pay's answer printed as JSON.
// The openid is personal data: it is printed only in that answer, never in
// an error or the log.
func runUserState(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "user-state", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		openid := fs.String("openid", "", "the customer's openid (required)")
		return func(ctx context.Context) (action, error) {
			if *openid == "" {
				return nil, fmt.Errorf("%w: --openid is required", errUsage)
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) {
				return c.GetUserServiceState(ctx, &v1.GetUserServiceStateRequest{Openid: *openid})
			}, nil
		}
	})
}
