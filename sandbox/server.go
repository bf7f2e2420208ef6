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
	// BackupURL is the backup domain's base URL once ListenBackup or
	// ServeBackup has run, "" until then; WriteConfig names it.
	BackupURL string

	srv, backup *http.Server
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
	srv := newHTTPServer(sb)
	s := &Server{
		URL:         "http://" + ln.Addr().String(),
		Sandbox:     sb,
		Credentials: sb.creds,
		Listener:    ln,
		srv:         srv,
	}
	go serve(srv, ln, sb, "sandbox")
	return s, nil
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// Plain TCP without TLS serves HTTP/1.1 only (no h2c), so fault
		// injection can hijack and reset the connection.
	}
}

func serve(srv *http.Server, ln net.Listener, sb *Sandbox, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		sb.logf("%s: serve: %v", name, err)
	}
}

// ListenBackup serves the sandbox's backup domain (Sandbox.Backup: the
// same orders and clock, faults of its own) on addr as well, and sets
// BackupURL. Close stops both. Like the rest of Server, it is not safe to
// call concurrently with Close.
func (s *Server) ListenBackup(addr string) error {
	if s.backup != nil {
		return errors.New("sandbox: the backup listener is already serving at " + s.BackupURL)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: backup: listen %s: %w", addr, err)
	}
	return s.ServeBackup(ln)
}

// ServeBackup is ListenBackup on a listener the caller has bound, so that
// it can bind both addresses before anything else (as `smartretail
// sandbox` does, to touch no file when either is busy). The Server owns ln
// afterwards, even when it refuses it.
func (s *Server) ServeBackup(ln net.Listener) error {
	if s.backup != nil {
		_ = ln.Close()
		return errors.New("sandbox: the backup listener is already serving at " + s.BackupURL)
	}
	s.backup = newHTTPServer(s.Sandbox.Backup())
	s.BackupURL = "http://" + ln.Addr().String()
	go serve(s.backup, ln, s.Sandbox, "sandbox backup")
	return nil
}

// Close stops listening (both listeners), drops open connections and
// closes the sandbox.
func (s *Server) Close() error {
	var err error
	for _, srv := range []*http.Server{s.srv, s.backup} {
		if srv == nil {
			continue
		}
		if cerr := srv.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := s.Sandbox.Close(); err == nil {
		err = cerr
	}
	return err
}
