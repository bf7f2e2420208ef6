package plugin_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// An outbox that cannot open over its key file is refused on
// config.outbox_key_file, the key to fix, not on outbox_path.
func TestOutboxKeyFileProblemsNameTheKeyFile(t *testing.T) {
	for name, prepare := range map[string]func(t *testing.T, keyFile string){
		"not a key": func(t *testing.T, keyFile string) {
			if err := os.WriteFile(keyFile, []byte("not hex\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"unreadable": func(t *testing.T, keyFile string) {
			if err := os.Mkdir(keyFile, 0o700); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, dir := testkit.Start(t, sandbox.Options{}).Config(t), t.TempDir()
			cfg.OutboxPath = filepath.Join(dir, "fresh.db")
			cfg.OutboxKeyFile = filepath.Join(dir, "fresh.key")
			prepare(t, cfg.OutboxKeyFile)
			svc := plugin.NewService(nil)
			t.Cleanup(func() { svc.Close() })
			_, err := svc.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg})
			var se *shared.Error
			if !errors.As(err, &se) || se.Class != shared.ClassInvalid {
				t.Fatalf("got %v, want a refusal of class %s", err, shared.ClassInvalid)
			}
			if len(se.Violations) != 1 || se.Violations[0].Field != "config.outbox_key_file" {
				t.Fatalf("violations %+v, want one on config.outbox_key_file", se.Violations)
			}
		})
	}
}
