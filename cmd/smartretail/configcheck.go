package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kioskpay/smartretail/shared/config"
)

// runConfig is `smartretail config check --config FILE`: the config as
// the plugin would use it (defaults filled, paths resolved), the APIv3 key
// never printed, and exit 1 on any problem the loader or the key files
// have. It starts no plugin and sends nothing.
func runConfig(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	help := commandHelp("config")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		args = []string{"check", "-h"}
	}
	if len(args) == 0 || args[0] != "check" {
		return printError(stderr, fmt.Errorf("%w: smartretail config takes the subcommand check (smartretail config -h)", errUsage))
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	path := fs.String("config", cmp.Or(os.Getenv("SMARTRETAIL_CONFIG"), "config.json"), "config file (env SMARTRETAIL_CONFIG)")
	if code, ok := parseFlags(fs, args[1:], stdout, stderr, help); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return printError(stderr, errUsageArgs("config check", fs.NArg()))
	}
	c, err := config.Load(*path)
	if err != nil {
		return printError(stderr, err)
	}
	abs, _ := filepath.Abs(*path)
	mode := "public_key" // as the plugin's status says
	if c.WeChatPayCertificateFile != "" {
		mode = "certificate"
	}
	_, keysErr := c.LoadKeys()
	// The config is printed even when a key file is wrong: it says which
	// files were looked at.
	if code := writeJSON(stdout, object{{"config_file", abs}, {"verify_mode", mode}, {"config", effectiveConfig(c)}}); code != 0 {
		return code
	}
	if keysErr != nil {
		return printError(stderr, fmt.Errorf("config %s: %w", *path, keysErr))
	}
	return 0
}

// effectiveConfig is every key of the config file with the value the
// plugin uses: defaults filled, paths absolute, the APIv3 key redacted.
// The keys come from the Config message, so a new key is printed as
// written until it has a default here.
func effectiveConfig(c *config.Config) object {
	orders, orderAmount, totalAmount := c.Limits()
	effective := map[protoreflect.Name]any{
		"apiv3_key":                fmt.Sprintf("(%d bytes, not shown)", len(c.APIv3Key)),
		"outbox_retention":         c.Retention().String(),
		"offline_max_orders":       orders,
		"offline_max_order_amount": orderAmount,
		"offline_max_total_amount": totalAmount,
		"offline_max_age":          c.MaxAge().String(),
		"forward_concurrency":      c.Concurrency(),
		"api_backup_base_url":      cmp.Or(c.BackupBaseURL(), config.NoBackup),
		"clock_skew_threshold":     c.SkewThreshold().String(),
	}
	m := c.Proto().ProtoReflect()
	fields := m.Descriptor().Fields()
	out := object{}
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		v, ok := effective[fd.Name()]
		if !ok {
			v, _ = singularJSON(fd, m.Get(fd)) // the config's fields are strings, integers and booleans
		}
		out = append(out, member{string(fd.Name()), v})
	}
	return out
}
