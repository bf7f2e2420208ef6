//go:build unix

package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// rawPlugin is the plugin started the way a host in another language
// starts it: environment variables in, handshake line out.
type rawPlugin struct {
	cmd        *exec.Cmd
	handshake  []string
	socket     string
	serverCert *x509.Certificate // from handshake field 6, when mTLS is on
	clientCert tls.Certificate
	done       chan error
	// stdoutAfter is what the plugin wrote to stdout after the handshake
	// line: go-plugin owns stdout, so it must stay empty. stdoutDone is
	// closed once all of it is read (the pipe ended).
	stdoutAfter *lockedBuffer
	stdoutDone  chan struct{}
}

func startRaw(t *testing.T, mtls bool) *rawPlugin {
	t.Helper()
	p := &rawPlugin{cmd: exec.Command(pluginPath), done: make(chan error, 1), stdoutAfter: &lockedBuffer{}, stdoutDone: make(chan struct{})}
	p.cmd.Env = append(os.Environ(),
		shared.Handshake.MagicCookieKey+"="+shared.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1")
	if mtls {
		var certPEM []byte
		p.clientCert, certPEM = clientCertificate(t)
		p.cmd.Env = append(p.cmd.Env, "PLUGIN_CLIENT_CERT="+string(certPEM))
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedBuffer{}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	line := make(chan string, 1)
	go func() {
		defer close(p.stdoutDone)
		r := bufio.NewReader(stdout)
		l, _ := r.ReadString('\n')
		line <- l
		_, _ = r.WriteTo(p.stdoutAfter) // keep draining, and keep what came
	}()
	select {
	case l := <-line:
		p.handshake = strings.Split(strings.TrimSpace(l), "|")
	case <-time.After(20 * time.Second):
		t.Fatalf("no handshake line; stderr: %s", p.cmd.Stderr)
	}
	// core-version | app-version | network | address | protocol [| cert]
	if len(p.handshake) < 5 || p.handshake[0] != "1" || p.handshake[1] != "1" || p.handshake[2] != "unix" || p.handshake[4] != "grpc" {
		t.Fatalf("handshake %q", p.handshake)
	}
	p.socket = p.handshake[3]
	if len(p.handshake) > 5 && p.handshake[5] != "" {
		der, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(p.handshake[5], "="))
		if err != nil {
			t.Fatalf("handshake certificate: %v", err)
		}
		if p.serverCert, err = x509.ParseCertificate(der); err != nil {
			t.Fatalf("handshake certificate: %v", err)
		}
	}
	return p
}

// clientCertificate makes a host certificate as go-plugin's own host does.
func clientCertificate(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost", Organization: []string{"kiosk host"}},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM
}

func (p *rawPlugin) dial(t *testing.T, useTLS bool) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if useTLS {
		pool := x509.NewCertPool()
		pool.AddCert(p.serverCert)
		creds = credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{p.clientCert}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient("unix://"+p.socket, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func health(ctx context.Context, conn *grpc.ClientConn) error {
	resp, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
	if err == nil && resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		return fmt.Errorf("health %v", resp.GetStatus())
	}
	return err
}

// waitExit waits for the plugin to exit and returns its exit code.
func (p *rawPlugin) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Fatalf("plugin was killed by %v, want a clean exit", ws.Signal())
			}
			return ee.ExitCode()
		}
		t.Fatal(err)
	case <-time.After(within):
		t.Fatalf("plugin still running after %v", within)
	}
	return -1
}

func TestForeignHostOnTheWireWithMTLS(t *testing.T) {
	p := startRaw(t, true)
	if p.serverCert == nil {
		t.Fatal("mTLS was asked for (PLUGIN_CLIENT_CERT) but the handshake has no certificate")
	}
	if pk, ok := p.serverCert.PublicKey.(*ecdsa.PublicKey); !ok || pk.Curve != elliptic.P521() {
		t.Errorf("plugin certificate key %T, want ECDSA P-521", p.serverCert.PublicKey)
	}
	ctx := testkit.Context(t)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := health(short, p.dial(t, false)); err == nil {
		t.Fatal("a plain-text connection was served although mTLS is on")
	}
	conn := p.dial(t, true)
	if err := health(ctx, conn); err != nil {
		t.Fatal(err)
	}
	client := v1.NewOrderServiceClient(conn)

	// Configure first: everything else answers FAILED_PRECONDITION.
	_, err := client.CreateOrder(ctx, &v1.CreateOrderRequest{Order: &v1.NewOrder{}})
	testkit.WantError(t, shared.FromStatus(err), codes.FailedPrecondition, shared.ClassNotConfigured)
	_, err = client.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "X"})
	testkit.WantError(t, shared.FromStatus(err), codes.FailedPrecondition, shared.ClassNotConfigured)
	st, err := client.GetStatus(ctx, &v1.GetStatusRequest{})
	if err != nil || st.GetConfigured() {
		t.Fatalf("status before configure: %v, %v", st, err)
	}

	cfg := testkit.Start(t, sandbox.Options{}).Config(t)
	if _, err := client.Configure(ctx, &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	created, err := client.CreateOrder(ctx, &v1.CreateOrderRequest{Order: newSale("WIRE-1", 100, nil)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: "WIRE-1"})
	if err != nil || got.GetOrder().GetState() != "CREATED" || created.GetOrder().GetOrderId() == "" {
		t.Fatalf("query: %v, %v", got, err)
	}

	// Shut down as go-plugin's host does: GRPCController.Shutdown, then exit 0.
	err = conn.Invoke(ctx, "/plugin.GRPCController/Shutdown", &emptypb.Empty{}, &emptypb.Empty{})
	if err != nil && status.Code(err) != codes.Unavailable {
		t.Fatalf("shutdown: %v", err)
	}
	if code := p.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d after Shutdown, want 0; stderr: %s", code, p.cmd.Stderr)
	}
	select {
	case <-p.stdoutDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin's stdout did not end after it exited")
	}
	if out := p.stdoutAfter.String(); out != "" {
		t.Errorf("the plugin wrote to stdout after its handshake: %q", out)
	}
	if !strings.Contains(p.cmd.Stderr.(*lockedBuffer).String(), `"@message":"configured"`) {
		t.Errorf("no JSON log on stderr: %s", p.cmd.Stderr)
	}
}

func TestPluginExitsCleanlyOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startRaw(t, false)
			if err := health(testkit.Context(t), p.dial(t, false)); err != nil {
				t.Fatal(err)
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.waitExit(t, 10*time.Second); code != 0 {
				t.Errorf("exit code %d after %v, want 0", code, sig)
			}
			if !strings.Contains(p.cmd.Stderr.(*lockedBuffer).String(), "plugin stopping") {
				t.Errorf("the plugin did not log its clean stop: %s", p.cmd.Stderr)
			}
		})
	}
}

func TestRunByHandItSaysSo(t *testing.T) {
	out, err := exec.Command(pluginPath).CombinedOutput()
	if err == nil {
		t.Fatal("the plugin ran without a host")
	}
	if !strings.Contains(string(out), "plugin") {
		t.Errorf("output %q does not explain itself", out)
	}
}
