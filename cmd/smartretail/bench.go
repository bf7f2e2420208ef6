package main

import (
	"context"
	"io"

	"github.com/kioskpay/smartretail/internal/bench"
)

// runBench is "smartretail bench" (internal/bench), finding the plugin as
// the other commands do.
func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return bench.Run(ctx, args, stdout, stderr, func(ctx context.Context, flag string) (string, error) {
		path, _, err := findPlugin(ctx, flag)
		return path, err
	})
}
