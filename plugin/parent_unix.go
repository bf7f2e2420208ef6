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
