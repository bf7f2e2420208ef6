package bench

import (
	"os"
	"syscall"
)

// datasync is fdatasync: what a commit of appended data needs.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
