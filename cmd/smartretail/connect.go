package main

import (
	"context"
	"io"

	"github.com/kioskpay/smartretail/host"
)

// connect reaches the plugin a command works through: the kiosk's own,
// over its admin socket, when the config names one and a plugin answers
// there; else one this command starts (start).
func (h *hostFlags) connect(ctx context.Context, stderr io.Writer) (*host.Client, error) {
	return h.start(ctx, stderr)
}
