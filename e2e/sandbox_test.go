package e2e

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// sandboxEnv is a sandbox served for one test and the merchant's config
// file for it.
type sandboxEnv struct {
	srv    *testkit.Sandbox
	dir    string // the config file's folder, which holds the outbox
	config string
}

// newSandbox serves a sandbox made with opts (the process's default
// credentials unless opts names others) and writes its config file.
func newSandbox(t *testing.T, opts sandbox.Options) *sandboxEnv {
	t.Helper()
	srv := testkit.Start(t, opts)
	config, dir := srv.ConfigFile(t)
	return &sandboxEnv{srv: srv, dir: dir, config: config}
}

func sandboxFaults(mode string) sandbox.Faults { return sandbox.Faults{Mode: mode} }

func cloneConfig(c *v1.Config) *v1.Config { return proto.Clone(c).(*v1.Config) }

func sandboxLatency(ms int) sandbox.Faults { return sandbox.Faults{Mode: "none", LatencyMS: ms} }
