package main

import (
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Every command's -h prints its usage, an example and its own flags on
// stdout and exits 0: before, it printed the flags on stderr and exited 2.
// An example's request is one the strict reading takes, so the help
// cannot drift from it.
func TestHelpShowsAnExample(t *testing.T) {
	cases := []struct {
		command string
		args    []string
		request proto.Message // the example's JSON request, if it has one
		flags   []string      // its own
		not     []string      // other commands'
	}{
		{"create", nil, &v1.NewOrder{}, []string{"-json", "-offline", "-config", "-timeout", "-v"}, []string{"-openid", "-out-order-no"}},
		{"query", nil, nil, []string{"-out-order-no", "-query-id", "-json"}, []string{"-offline", "-openid"}},
		{"cancel", nil, &v1.CancelOrderRequest{}, []string{"-json"}, []string{"-offline", "-out-order-no"}},
		{"complete", nil, &v1.CompleteOrderRequest{}, []string{"-json"}, []string{"-offline", "-out-order-no"}},
		{"user-state", nil, nil, []string{"-openid"}, []string{"-json", "-offline"}},
		{"status", nil, nil, []string{"-config"}, []string{"-json", "-offline", "-openid"}},
		{"config", []string{"check"}, nil, []string{"-config"}, []string{"-timeout", "-plugin", "-json"}},
		{"version", nil, nil, nil, []string{"-config"}},
	}
	for _, c := range cases {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{c.command}, c.args...), h)
			code, out, errOut := runCLI(t, "", args...)
			if code != 0 || errOut != "" {
				t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
			}
			if !strings.HasPrefix(out, "usage: smartretail "+c.command) || !strings.Contains(out, "\nExample:\n  smartretail "+c.command) {
				t.Errorf("%v: no usage line or example:\n%s", args, out)
			}
			for _, f := range c.flags {
				if !listed(out, f) {
					t.Errorf("%v: flag %s not listed:\n%s", args, f, out)
				}
			}
			for _, f := range c.not {
				if listed(out, f) {
					t.Errorf("%v: lists %s, not its flag:\n%s", args, f, out)
				}
			}
			if c.request != nil {
				_, example, _ := strings.Cut(out, "<<< '")
				example, _, _ = strings.Cut(example, "'")
				if err := decodeStrict([]byte(example), "the example", "", c.request); err != nil {
					t.Errorf("%v: the example's request is refused: %v", args, err)
				}
			}
		}
	}
	if code, out, _ := runCLI(t, "", "help"); code != 0 || !strings.Contains(out, "version") || !strings.Contains(out, "config") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// listed says whether help lists flag as the flag package does.
func listed(help, flag string) bool {
	return regexp.MustCompile(`\n  ` + regexp.QuoteMeta(flag) + `[ \t\n]`).MatchString(help)
}
