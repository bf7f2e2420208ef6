// Command kiosk is the smallest Go kiosk host: it starts the smartretail
// plugin with the host library, creates an order, queries it, and stops.
//
//	go run ./examples/kiosk --plugin ./bin/smartretail-plugin --config smartretail-sandbox/config.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

func main() {
	pluginPath := flag.String("plugin", "smartretail-plugin", "the smartretail-plugin binary")
	configPath := flag.String("config", "config.json", "the config file")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, *pluginPath, *configPath, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kiosk:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, pluginPath, configPath string, out io.Writer) error {
	kiosk, err := host.Start(ctx, host.Options{PluginPath: pluginPath, ConfigPath: configPath})
	if err != nil {
		return err
	}
	defer kiosk.Close()

	// A sale: the kiosk names the order itself, so a retry after a crash
	// or a timeout reuses the same out_order_no and is never charged twice.
	no := fmt.Sprintf("K17-%d", time.Now().UnixNano())
	created, err := kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: &v1.NewOrder{
		OutOrderNo:           no,
		ServiceStartTime:     "OnAccept", // WeChat Pay requires the start time, place and introduction
		ServiceStartLocation: "柜机 K-17",
		ServiceIntroduction:  "智慧零售柜",
		RiskAmount:           20000, // 200.00 CNY: the most the customer may take (required, > 0)
	}})
	var se *shared.Error
	switch {
	case errors.As(err, &se) && se.Class == shared.ClassInvalid:
		return fmt.Errorf("fix the request: %v (fields: %v)", se, se.Violations)
	case err != nil:
		return err
	}
	fmt.Fprintf(out, "created %s: order_id %s, show the customer package %s\n", no, created.GetOrder().GetOrderId(), created.GetOrder().GetPackage())

	got, err := kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "state %s\n", got.GetOrder().GetState())
	// queued is set while the plugin's outbox still holds the order (WeChat
	// Pay could not be reached): where it is, and why if it failed.
	if q := got.GetQueued(); q != nil {
		fmt.Fprintf(out, "in the outbox: %s %s %s\n", q.GetLocalState(), q.GetFailureCode(), q.GetFailureMessage())
	}
	return nil
}
