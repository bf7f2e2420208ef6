package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// lockFile is the outbox's owner lock: an exclusive lock on Path+".lock",
// taken before the bbolt file is opened and held until Close, across
// compaction included. bbolt's own lock is on the database file, and
// compaction replaces that file: a process waiting on bbolt's lock would
// get it on the old, deleted file once compaction closed it, and every sale
// it queued would be lost. The lock file is never replaced or deleted, so
// whoever holds it owns whatever file is at Path.
type lockFile struct {
	f      *os.File
	shared bool
}

// errLocked: another process holds the lock (tryLock's answer).
var errLocked = errors.New("locked")

// lockPollInterval is how often a waiting Open tries the lock again.
const lockPollInterval = 20 * time.Millisecond

// acquireLock takes the owner lock of the outbox at path, waiting up to
// timeout for another process to let go of it, and no longer than ctx
// lasts: a caller that gave up is not kept waiting. A shared lock (a
// reader that changes nothing) excludes an owner, not other readers.
func acquireLock(ctx context.Context, path string, timeout time.Duration, shared bool) (*lockFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("outbox %s: not opened: %w", path, err)
	}
	lockPath := path + ".lock"
	deadline := time.Now().Add(timeout)
	var f *os.File
	for {
		if f == nil {
			var err error
			if f, err = os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
				return nil, fmt.Errorf("outbox %s: lock file: %w", path, err)
			}
		}
		err := lock(f, shared)
		if err == nil {
			// Locked: but is it still the file at lockPath? Someone may
			// have removed or replaced it since we opened it; a lock on a
			// file no longer at the path excludes nobody.
			fi, ferr := f.Stat()
			pi, perr := os.Stat(lockPath)
			if ferr == nil && perr == nil && os.SameFile(fi, pi) {
				if shared {
					return &lockFile{f: f, shared: true}, nil
				}
				// Say who holds it, for the next process that finds it taken.
				if err := f.Truncate(0); err == nil {
					_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
				}
				return &lockFile{f: f}, nil
			}
			_ = f.Close()
			f = nil // try again on the file now there
			continue
		}
		if !errors.Is(err, errLocked) {
			_ = f.Close()
			return nil, fmt.Errorf("outbox %s: lock file %s: %w", path, lockPath, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, &LockError{Path: path, PID: lockOwner(lockPath)}
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("stopped waiting for the lock (%w): %w", ctx.Err(), &LockError{Path: path, PID: lockOwner(lockPath)})
		case <-time.After(lockPollInterval):
		}
	}
}

// release lets go of the lock. The file stays: deleting it would let a
// waiter lock a file no longer at the path.
func (l *lockFile) release() {
	if l == nil || l.f == nil {
		return
	}
	if !l.shared {
		_ = l.f.Truncate(0)
	}
	_ = unlock(l.f)
	_ = l.f.Close()
	l.f = nil
}

// lockOwner reads the pid the lock holder wrote, if it still runs.
func lockOwner(lockPath string) int {
	data, err := os.ReadFile(lockPath)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || !processRunning(pid) {
		return 0
	}
	return pid
}
