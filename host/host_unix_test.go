//go:build unix

package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// A plugin that never shakes hands must not hold Start past its context.
func TestStartIsBoundedByTheContext(t *testing.T) {
	dir := t.TempDir()
	hang := filepath.Join(dir, "hanging-plugin")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nsleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, mk := range map[string]func() (context.Context, context.CancelFunc){
		"deadline": func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		},
		"cancel": func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := mk()
			defer cancel()
			start := time.Now()
			_, err := Start(ctx, Options{PluginPath: hang, Config: &v1.Config{}, StartTimeout: 20 * time.Second})
			if err == nil {
				t.Fatal("Start succeeded with a plugin that never answers")
			}
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not say the context ended", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Start took %v, past its context", took)
			}
		})
	}
}

func TestStartNeedsPluginAndConfig(t *testing.T) {
	ctx := context.Background()
	for _, o := range []Options{{}, {PluginPath: "x"}, {PluginPath: "x", ConfigPath: "a", Config: &v1.Config{}}} {
		if _, err := Start(ctx, o); err == nil {
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
}
