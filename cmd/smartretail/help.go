package main

import (
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
	return printError(stderr, fmt.Errorf("%w: smartretail %s: %v (smartretail %s -h lists its flags)", errUsage, fs.Name(), err, fs.Name())), false
}

// commandHelp prints a command's usage line, what it does and an example.
func commandHelp(name string) func(io.Writer) {
	return func(w io.Writer) {
		for _, c := range commands() {
			if c.name != name {
				continue
			}
			fmt.Fprintf(w, "usage: %s\n\n%s.\n", c.usage, strings.ToUpper(c.summary[:1])+c.summary[1:])
			if c.example != "" {
				fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(c.example, "\n", "\n  "))
			}
		}
	}
}

// errUsageArgs is the error for arguments left after the flags. They are
// not echoed: one may be personal data (an openid given without its flag).
func errUsageArgs(command string, n int) error {
	return fmt.Errorf("%w: smartretail %s: %d unexpected arguments after the flags: give every value with its flag (smartretail %s -h lists them)", errUsage, command, n, command)
}
