package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the lock a Sandbox holds on its Options.Dir for its whole
// life. It is never deleted: deleting it would let a second sandbox lock a
// new file at the path while the first still holds the old one. It holds
// the holder's process id, for the error a second sandbox gets.
const LockFile = "sandbox.lock"

// DirInUseError is returned when another sandbox (in this process or
// another) holds the folder's lock.
type DirInUseError struct {
	Dir string
	PID int // the holder's process id; 0 when it could not be read
}

func (e *DirInUseError) Error() string {
	holder := "another sandbox"
	if e.PID > 0 {
		holder = fmt.Sprintf("another sandbox (pid %d)", e.PID)
	}
	return fmt.Sprintf("sandbox: folder %s is in use by %s: stop it or use another folder", e.Dir, holder)
}

// dirLock is a held LockFile; release (or the process ending) frees it.
type dirLock struct{ f *os.File }

// lockAttempts bounds the retries when the lock file is replaced between
// opening and locking it; only an outside hand deletes it, so more than a
// couple of retries means something keeps doing so.
const lockAttempts = 5

// afterLockOpen, when set by a test, runs between opening the lock file and
// locking it: the window in which the file at the path can be replaced.
var afterLockOpen func(path string)

// lockDir creates dir if needed and takes its lock without waiting: a
// second sandbox is refused at once rather than left hanging.
func lockDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: create dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	for range lockAttempts {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sandbox: lock %s: %w", dir, err)
		}
		if afterLockOpen != nil {
			afterLockOpen(path)
		}
		locked, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("sandbox: lock %s: %w", path, err)
		}
		if !locked {
			pid := readPID(f)
			f.Close()
			return nil, &DirInUseError{Dir: dir, PID: pid}
		}
		// A lock on a file no longer at the path protects nothing: whoever
		// opens the path next gets the new file and its free lock.
		if same, err := isFileAt(f, path); err != nil {
			unlock(f)
			f.Close()
			return nil, fmt.Errorf("sandbox: lock %s: %w", path, err)
		} else if !same {
			unlock(f)
			f.Close()
			continue
		}
		l := &dirLock{f: f}
		if err := l.writePID(); err != nil {
			l.release()
			return nil, fmt.Errorf("sandbox: lock %s: %w", path, err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("sandbox: lock %s: the file was replaced %d times while being locked", path, lockAttempts)
}

func isFileAt(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	at, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, at), nil
}

// writePID replaces the file's content with this process's id. The lock
// does not cover these bytes (see tryLock), so others can read them.
func (l *dirLock) writePID() error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID is the holder's pid, or 0 if the file does not hold one (yet).
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

func (l *dirLock) release() error {
	if l == nil {
		return nil
	}
	unlock(l.f)
	return l.f.Close()
}
