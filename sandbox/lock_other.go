//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris || windows)

package sandbox

import (
	"fmt"
	"os"
	"runtime"
)

// Without a file lock a second sandbox could replace the first one's
// order log, so a folder is refused rather than shared unguarded.
func tryLock(*os.File) (bool, error) {
	return false, fmt.Errorf("locking a folder is not supported on %s; use a sandbox without Dir", runtime.GOOS)
}

func unlock(*os.File) {}
