//go:build windows

package plugin

import (
	"errors"
	"time"

	"golang.org/x/sys/windows"
)

// watchParent calls gone once the process that started us has exited.
// Windows does not re-parent orphans, so wait on the parent's handle.
func watchParent(ppid int, every time.Duration, gone func()) {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(ppid))
	if err != nil {
		// No such process: the host exited before we looked. Any other
		// error (access denied) means we cannot watch; run on.
		if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
			gone()
		}
		return
	}
	defer windows.CloseHandle(h)
	for {
		ev, err := windows.WaitForSingleObject(h, uint32(every/time.Millisecond))
		if err != nil || ev == windows.WAIT_OBJECT_0 {
			gone()
			return
		}
	}
}

// hostAlreadyGone: Windows keeps the parent pid of a dead parent; the
// watch finds it gone at once.
func hostAlreadyGone(int) bool { return false }
