package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseFlags parses a command's flags. -h prints its help on stdout (exit
// 0); a flag that cannot be parsed is a USAGE error, JSON on stderr (exit
// 2). ok is false when the command is done.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, help func(io.Writer)) (code int, ok bool) {
	fs.SetOutput(io.Discard) // the flag package's own messages are not JSON
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		help(stdout)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stdout, "\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
		return 0, false
	}
	return printError(stderr, errUsageFlags(fs.Name(), err)), false
}

// errUsageFlags is a usage error in command's flags: what err says, and
// where to look.
func errUsageFlags(command string, err error) error {
	return fmt.Errorf("%w: smartretail %s: %v (smartretail %s -h lists its flags)", errUsage, command, err, command)
}

// helpExtra completes a command's help: what more it says after the
// summary, and the example of a command whose entry in commands() has none.
var helpExtra = map[string]struct{ details, example string }{
	"demo": {
		details: "It starts a sandbox and a plugin of its own, walks a kiosk's day (a sale, a walk-away, a bad request,\n" +
			"a wrong clock, a domain down, offline, a customer who cannot pay) and prints each check; it exits 1 if one\n" +
			"failed. --api serviceorder walks it on Pay Score service orders, with the merchant's notification server.",
		example: "smartretail demo --api serviceorder",
	},
	"sandbox": {
		details: "It serves WeChat Pay's smart-retail API on --addr until SIGINT or SIGTERM.\n" +
			"On first start it generates merchant and platform keys in DIR and reuses them afterwards;\n" +
			"each start writes DIR/config.json pointing at the sandbox. Orders survive restarts.\n" +
			"DIR is locked while the sandbox runs: a second sandbox on it is refused.",
		example: "smartretail sandbox --addr 127.0.0.1:8765 --dir ./sbx",
	},
	"bench": {
		details: "README.md, Benchmarks, says what each row measures and against which limit.",
		example: "smartretail bench --quick",
	},
}

// commandHelp prints a command's usage line, what it does and an example.
func commandHelp(name string) func(io.Writer) {
	return func(w io.Writer) {
		for _, c := range commands() {
			if c.name != name {
				continue
			}
			fmt.Fprintf(w, "usage: %s\n\n%s.\n", c.usage, strings.ToUpper(c.summary[:1])+c.summary[1:])
			extra := helpExtra[name]
			if extra.details != "" {
				fmt.Fprintf(w, "\n%s\n", extra.details)
			}
			example := cmp.Or(c.example, extra.example)
			if example != "" {
				fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(example, "\n", "\n  "))
			}
		}
	}
}

// commandWord is s quoted when it looks like a command's word, else "a
// word": a command line may hold personal data (an openid), never echoed.
func commandWord(s string) string {
	if len(s) <= 20 && s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz-") == "" {
		return fmt.Sprintf("%q", s)
	}
	return "a word"
}

// errUsageArgs is the error for arguments left after the flags. They are
// not echoed: one may be personal data (an openid given without its flag).
func errUsageArgs(command string, n int) error {
	return fmt.Errorf("%w: smartretail %s: %d unexpected arguments after the flags: give every value with its flag (smartretail %s -h lists them)", errUsage, command, n, command)
}
