package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
)

// adminDialTimeout bounds the look for the kiosk's plugin on its admin
// socket: a plugin that does not answer by then is passed over.
const adminDialTimeout = 5 * time.Second

// connect reaches the plugin a command works through: the kiosk's own,
// over its admin socket, when the config names one and a plugin answers
// there; else one this command starts (start).
func (h *hostFlags) connect(ctx context.Context, stderr io.Writer) (*host.Client, error) {
	sock := ""
	if cfg, err := config.Load(h.config); err == nil {
		sock = cfg.AdminSocket
	} // else start says what is wrong with the config
	if sock == "" {
		return h.start(ctx, stderr)
	}
	dctx, cancel := context.WithTimeout(ctx, adminDialTimeout)
	c, dialErr := host.Dial(dctx, sock)
	cancel()
	if dialErr == nil {
		if h.verbose {
			fmt.Fprintf(stderr, "smartretail: through the kiosk's plugin on admin_socket %s\n", sock)
		}
		return c, nil
	}
	if h.verbose {
		fmt.Fprintf(stderr, "smartretail: %v; starting a plugin\n", dialErr)
	}
	c, err := h.start(ctx, stderr)
	var se *shared.Error
	if err != nil && errors.As(err, &se) && se.Reason == shared.ReasonOutboxLocked {
		// The plugin said why the outbox is taken; this says why the
		// socket was no way in.
		se.Message += " (" + dialErr.Error() + ")"
	}
	return c, err
}
