package main

import (
	"context"
	"flag"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/host"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The commands of the calls only Pay Score service orders have
// (payscore_api serviceorder); on the smart-retail API the plugin answers
// them UNIMPLEMENTED, saying what to do instead.

func runModify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "modify", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		file := jsonFlag(fs)
		return func(ctx context.Context) (action, error) {
			var req v1.ModifyOrderRequest
			if err := readRequest(ctx, request{path: *file, command: "modify", what: "the modify (out_order_no, fees, reason, ...)"}, stdin, &req); err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.ModifyOrder(ctx, &req) }, nil
		}
	})
}

func runCollect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "collect", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		file := jsonFlag(fs)
		return func(ctx context.Context) (action, error) {
			var req v1.CollectPaymentRequest
			if err := readRequest(ctx, request{path: *file, command: "collect", what: "the collect (out_order_no)"}, stdin, &req); err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.CollectPayment(ctx, &req) }, nil
		}
	})
}

func runSyncPaid(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return orderCommand(ctx, "sync-paid", args, stdout, stderr, func(fs *flag.FlagSet) func(ctx context.Context) (action, error) {
		file := jsonFlag(fs)
		return func(ctx context.Context) (action, error) {
			var req v1.SyncOrderPaidRequest
			if err := readRequest(ctx, request{path: *file, command: "sync-paid", what: "the sync (out_order_no, paid_time)"}, stdin, &req); err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *host.Client) (proto.Message, error) { return c.SyncOrderPaid(ctx, &req) }, nil
		}
	})
}
