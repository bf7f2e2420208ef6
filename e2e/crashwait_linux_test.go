package e2e

import (
	"os"
	"strconv"
)

// openers lists the processes that have the file at path open (through
// /proc), and true: on Linux a test can see who waits for a lock, and who
// still writes to a file that was replaced (path+" (deleted)").
func openers(path string) ([]int, bool) {
	var pids []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + p.Name() + "/fd")
		for _, fd := range fds {
			if target, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name()); err == nil && target == path {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, true
}
