package sandbox

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a Sandbox listening on a real TCP socket, like httptest.Server.
type Server struct {
	URL         string // base URL, e.g. http://127.0.0.1:41234 (no trailing slash)
	Sandbox     *Sandbox
	Credentials *Credentials
	Listener    net.Listener

	srv *http.Server
}

// NewServer starts a sandbox on 127.0.0.1 with a free port.
func NewServer(opts Options) (*Server, error) {
	return Listen("127.0.0.1:0", opts)
}

// Listen starts a sandbox on addr (HTTP/1.1, no TLS). It binds first, so
// that a failed bind (an address in use) creates and changes no file in
// opts.Dir.
func Listen(addr string, opts Options) (*Server, error) { return listen(addr, opts, false) }

// ListenDir is Listen for a sandbox that lives in a folder, as
// `smartretail sandbox` runs it: after binding addr it locks opts.Dir for
// the server's life, and nil opts.Credentials are loaded from there
// (LoadOrCreateCredentials, under the lock) instead of DefaultCredentials.
// Write the merchant's config with WriteConfig(opts.Dir) afterwards.
func ListenDir(addr string, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("sandbox: ListenDir needs Options.Dir")
	}
	return listen(addr, opts, true)
}

func listen(addr string, opts Options, credsFromDir bool) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	sb, err := newSandbox(opts, credsFromDir)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	srv := &http.Server{
		Handler:           sb,
		ReadHeaderTimeout: 10 * time.Second,
		// Plain TCP without TLS serves HTTP/1.1 only (no h2c), so fault
		// injection can hijack and reset the connection.
	}
	s := &Server{
		URL:         "http://" + ln.Addr().String(),
		Sandbox:     sb,
		Credentials: sb.creds,
		Listener:    ln,
		srv:         srv,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			sb.logf("sandbox: serve: %v", err)
		}
	}()
	return s, nil
}

// Close stops listening, drops open connections and closes the sandbox.
func (s *Server) Close() error {
	err := s.srv.Close()
	if cerr := s.Sandbox.Close(); err == nil {
		err = cerr
	}
	return err
}
