package e2e

import (
	"google.golang.org/protobuf/proto"

	"sync"
	"testing"

	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"

	"github.com/kioskpay/smartretail/sandbox"
)

var (
	credsOnce         sync.Once
	creds, otherCreds *sandbox.Credentials
)

type sandboxEnv struct {
	srv    *sandbox.Server
	dir    string
	config string
}

// newSandbox starts a sandbox with the test merchant's credentials.
func newSandbox(t *testing.T) *sandboxEnv {
	t.Helper()
	loadCreds()
	return newSandboxWith(t, creds)
}

// newOtherSandbox starts one with another merchant's and platform's keys.
func newOtherSandbox(t *testing.T) *sandboxEnv {
	t.Helper()
	loadCreds()
	return newSandboxWith(t, otherCreds)
}

func loadCreds() {
	credsOnce.Do(func() {
		var err error
		if creds, err = sandbox.GenerateCredentials(); err != nil {
			panic(err)
		}
		if otherCreds, err = sandbox.GenerateCredentials(); err != nil {
			panic(err)
		}
	})
}

func newSandboxWith(t *testing.T, c *sandbox.Credentials) *sandboxEnv {
	t.Helper()
	srv, err := sandbox.NewServer(sandbox.Options{Credentials: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	cfg, err := srv.WriteConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &sandboxEnv{srv: srv, dir: dir, config: cfg}
}

func sandboxFaults(mode string) sandbox.Faults { return sandbox.Faults{Mode: mode} }

// loadConfig reads a config file as the Configure message.
func loadConfig(path string) (*v1.Config, error) {
	c, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return c.Proto(), nil
}

func cloneConfig(c *v1.Config) *v1.Config { return proto.Clone(c).(*v1.Config) }

func sandboxLatency(ms int) sandbox.Faults { return sandbox.Faults{Mode: "none", LatencyMS: ms} }
