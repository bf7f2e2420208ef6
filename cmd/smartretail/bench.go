package main

import (
	"context"
	"io"

	"github.com/kioskpay/smartretail/internal/bench"
)

// runBench is "smartretail bench" (internal/bench), finding the plugin as
// the other commands do. The command line is checked against the bench's
// own flags first, so that -h and a bad flag answer as every command does,
// before the bench sets anything up.
func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := bench.Flags()
	if code, ok := parseFlags(fs, args, stdout, stderr, commandHelp("bench")); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return printError(stderr, errUsageArgs("bench", fs.NArg()))
	}
	if err := bench.CheckArgs(args); err != nil {
		return printError(stderr, errUsageFlags("bench", err))
	}
	return bench.Run(ctx, args, stdout, stderr, func(ctx context.Context, flag string) (string, error) {
		path, _, err := findPlugin(ctx, flag)
		return path, err
	})
}
