//go:build !windows

package plugin

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
)

// umaskMu keeps two admin sockets from racing on the process's umask.
var umaskMu sync.Mutex

// listenPrivate listens on a Unix socket at path that only this user may
// connect to: made under umask 077, so no moment passes with it open to
// others, then set to 0600.
func listenPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// refused says whether dialling a socket file failed because no process
// listens on it (left behind), not for another reason (permissions).
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
