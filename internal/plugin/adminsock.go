package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The admin socket (config admin_socket) is how an operator reaches a
// running kiosk's plugin: the plugin holds the outbox's lock, so a second
// plugin started by the CLI is refused it. The plugin serves its own
// service there, Configure excepted, over plain gRPC: the socket file is
// mode 0600 in a folder the plugin does not loosen, so only the kiosk's
// user (and root) can connect. On Windows (AF_UNIX, Windows 10 and later)
// mode bits mean nothing: the folder's ACL protects the socket.

// adminProbeTimeout bounds the check that nothing answers on a socket
// file left behind before it is replaced.
const adminProbeTimeout = time.Second

// adminStopGrace is how long calls on the admin socket may finish when it
// closes; a WatchEvents stream would otherwise hold it open.
const adminStopGrace = time.Second

// adminServer serves a Service on one admin socket.
type adminServer struct {
	path string
	ln   net.Listener
	id   os.FileInfo // the socket file as made, so that only it is removed
	srv  *grpc.Server
	done chan struct{} // closed when Serve returns
}

// listenAdmin makes the admin socket at path, replacing a socket file no
// process answers on, and refusing one a process answers on. It does not
// serve yet: see serve.
func listenAdmin(path string) (*adminServer, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, adminError(path, "it exists and is not a socket: the plugin will not replace it")
		}
		switch err := probeAdmin(path); {
		case err == nil:
			return nil, adminError(path, "a process answers on it already, most likely another smartretail plugin: one plugin per admin socket; give this one another admin_socket or stop that one")
		case !refused(err):
			return nil, adminError(path, "cannot tell whether a process answers on it, so it is left alone: %v", err)
		}
		// Left behind by a plugin that was killed: nothing answers on it.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, adminError(path, "removing the socket file left behind: %v", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, adminError(path, "%v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, adminError(path, "making its folder: %v", err)
	}
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, adminError(path, "%v", err)
	}
	// Removed by stop, and only while it is still ours.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, adminError(path, "%v", err)
	}
	return &adminServer{path: path, ln: ln, id: fi, done: make(chan struct{})}, nil
}

// probeAdmin says whether a process answers on the socket at path (nil).
func probeAdmin(path string) error {
	conn, err := net.DialTimeout("unix", path, adminProbeTimeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

func adminError(path, format string, args ...any) error {
	return &shared.Error{Class: shared.ClassInvalid, Message: "configuration refused: the admin socket cannot be served",
		Violations: []shared.FieldViolation{{Field: "config.admin_socket", Description: path + ": " + fmt.Sprintf(format, args...)}}}
}

// serve starts serving s's service on the socket.
func (a *adminServer) serve(s *Service, log hclog.Logger) {
	a.srv = grpc.NewServer(shared.GRPCServerOptions()...)
	v1.RegisterOrderServiceServer(a.srv, &adminService{GRPCServer: &shared.GRPCServer{Impl: s}})
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(a.ln); err != nil {
			log.Error("admin socket stopped serving", "path", a.path, "error", err)
		}
	}()
	log.Info("serving on the admin socket", "path", a.path)
}

// stop stops serving (calls in hand get adminStopGrace to finish), closes
// the socket and removes its file, unless another has replaced it.
func (a *adminServer) stop() {
	if a.srv == nil {
		a.ln.Close() // never served
	} else {
		stopped := make(chan struct{})
		go func() {
			a.srv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(adminStopGrace):
			a.srv.Stop()
			<-stopped
		}
		<-a.done
	}
	if fi, err := os.Lstat(a.path); err == nil && os.SameFile(fi, a.id) {
		_ = os.Remove(a.path)
	}
}

// adminService is the service as the admin socket serves it: every call
// but Configure.
type adminService struct {
	*shared.GRPCServer
}

func (adminService) Configure(context.Context, *v1.ConfigureRequest) (*v1.ConfigureResponse, error) {
	return nil, &shared.Error{Class: shared.ClassInvalid, Reason: shared.ReasonConfiguredByHost,
		Message: "Configure is refused on the admin socket: the kiosk's host configures its plugin (change its config file and restart the kiosk's software); every other call is served here"}
}
