package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/kioskpay/smartretail/internal/bench"
)

// benchFlags are internal/bench's flags (Run parses them again), here so
// that -h and a bad flag answer as every command does, before the bench
// sets anything up. TestBenchFlagsAreTheBenchs keeps them the same.
func benchFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Bool("quick", false, "small sizes: shows the command works, measures little")
	fs.Bool("json", false, "one JSON object per row instead of a table")
	fs.String("dir", "", "folder for outboxes and the fdatasync baseline (default: a new temporary folder)")
	fs.String("plugin", os.Getenv("SMARTRETAIL_PLUGIN_PATH"), "smartretail-plugin binary (default: beside this CLI, then PATH, then the CLI itself)")
	fs.String("only", "", "run only these, comma-separated: enqueue, online, drain, start, scale")
	fs.String("cpu-profile", "", "write this process's CPU profile (the host side) to this file; SMARTRETAIL_CPU_PROFILE does the same for the plugin")
	return fs
}

// runBench is "smartretail bench" (internal/bench), finding the plugin as
// the other commands do.
func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := benchFlags()
	if code, ok := parseFlags(fs, args, stdout, stderr, commandHelp("bench")); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return printError(stderr, errUsageArgs("bench", fs.NArg()))
	}
	return bench.Run(ctx, args, stdout, stderr, func(ctx context.Context, flag string) (string, error) {
		path, _, err := findPlugin(ctx, flag)
		return path, err
	})
}
