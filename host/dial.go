package host

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Dial connects to the plugin a running kiosk's host started, on the admin
// socket its config names (admin_socket), for an operator's tools: the
// kiosk's plugin holds the outbox, so another plugin could not open it.
// The Client has the same methods as one from Start and answers the same;
// the plugin refuses Configure there (its host configures it). Close closes
// only the connection; the plugin is never restarted or stopped from here.
//
// The connection is plain gRPC, without TLS: the socket is a local file of
// mode 0600 that only the kiosk's user can open (on Windows, its folder's
// ACL decides). Dial answers once the plugin has answered GetStatus within
// ctx, configured; an error says that no configured plugin answers there.
func Dial(ctx context.Context, socketPath string) (*Client, error) {
	if socketPath == "" {
		return nil, fmt.Errorf("smartretail host: Dial needs the admin socket's path")
	}
	// Nothing listening is said at once, in the words of the OS, rather
	// than as gRPC's retries ending with the context.
	var d net.Dialer
	probe, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("smartretail host: no plugin answers on admin socket %s: %w", socketPath, err)
	}
	probe.Close()
	conn, err := grpc.NewClient("passthrough:///smartretail-admin", append(shared.GRPCDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		}))...)
	if err != nil {
		return nil, fmt.Errorf("smartretail host: admin socket %s: %w", socketPath, err)
	}
	orders := shared.NewGRPCClient(conn)
	st, err := orders.GetStatus(ctx, &v1.GetStatusRequest{})
	if err == nil && !st.GetConfigured() {
		err = fmt.Errorf("the plugin there is not configured")
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("smartretail host: no configured plugin answers on admin socket %s: %w", socketPath, err)
	}
	return &Client{conn: conn, orders: orders}, nil
}
