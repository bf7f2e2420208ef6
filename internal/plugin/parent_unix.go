//go:build !windows

package plugin

import (
	"os"
	"time"
)

// watchParent calls gone once the process that started us has exited. On
// Unix an orphan is re-parented (to init or a subreaper), so a changed
// parent pid means the host is gone.
func watchParent(ppid int, every time.Duration, gone func()) {
	for {
		time.Sleep(every)
		if os.Getppid() != ppid {
			gone()
			return
		}
	}
}

// hostAlreadyGone: a plugin is never started by init, so a parent pid of 1
// means the host died before we looked (and we were re-parented to init).
func hostAlreadyGone(ppid int) bool { return ppid == 1 && IsPluginLaunch() }
