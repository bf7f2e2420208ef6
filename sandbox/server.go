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

// Listen starts a sandbox on addr (HTTP/1.1, no TLS).
func Listen(addr string, opts Options) (*Server, error) {
	sb, err := New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = sb.Close()
		return nil, fmt.Errorf("sandbox: listen %s: %w", addr, err)
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
