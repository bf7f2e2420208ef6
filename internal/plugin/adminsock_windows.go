//go:build windows

package plugin

import (
	"errors"
	"net"

	"golang.org/x/sys/windows"
)

// listenPrivate listens on an AF_UNIX socket at path (Windows 10 and
// later). Windows has no mode bits for it: the folder's ACL decides who
// may connect, so admin_socket belongs in a folder only the kiosk's
// account can open.
func listenPrivate(path string) (net.Listener, error) {
	return net.Listen("unix", path)
}

// refused says whether dialling a socket file failed because no process
// listens on it (left behind), not for another reason (permissions).
func refused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }
