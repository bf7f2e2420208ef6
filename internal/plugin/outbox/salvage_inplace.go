package outbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SalvageInPlace replaces the (damaged) outbox at path with a new one that
// holds every order Salvage can still read from it, and keeps the damaged
// file beside it as path.damaged-TIME, returned with the report. It holds
// the outbox's owner lock throughout (waiting up to lockTimeout): no
// plugin works on the outbox meanwhile, and none that starts later finds
// anything but the whole new file.
func SalvageInPlace(path, keyFile string, lockTimeout time.Duration) (rep SalvageReport, kept string, err error) {
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	if _, err := os.Stat(path); err != nil {
		if serr := unfinishedSalvage(path); serr != nil {
			return rep, "", serr
		}
		return rep, "", fmt.Errorf("outbox salvage: %w", err)
	}
	lock, err := acquireLock(context.Background(), path, lockTimeout, false)
	if err != nil {
		return rep, "", err
	}
	defer lock.release()
	tmp := path + ".salvage"
	// A salvage that did not finish leaves its copy: ours now.
	_ = os.Remove(tmp)
	defer os.Remove(tmp + ".lock")
	if rep, err = Salvage(path, tmp, keyFile); err != nil {
		_ = os.Remove(tmp)
		return rep, "", err
	}
	kept = fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, kept); err != nil {
		_ = os.Remove(tmp)
		return rep, "", fmt.Errorf("outbox salvage: keeping the damaged file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		// Put the damaged one back rather than leave no outbox at path.
		_ = os.Rename(kept, path)
		return rep, "", fmt.Errorf("outbox salvage: putting the new outbox in place: %w (the damaged file is back at %s; the copy is %s)", err, path, tmp)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return rep, kept, fmt.Errorf("outbox salvage: the new outbox is at %s and the damaged file at %s, but a power cut may undo the renames: %w", path, kept, err)
	}
	return rep, kept, nil
}

// unfinishedSalvage says, for an outbox path with no file, whether a
// salvage stopped between its two renames: the salvaged outbox waits
// beside it, and a new empty outbox must not be made in its place.
func unfinishedSalvage(path string) error {
	if _, err := os.Stat(path + ".salvage"); err != nil {
		return nil
	}
	return fmt.Errorf("outbox %s is missing, but %s.salvage holds a salvaged outbox (a salvage did not finish): move it to %s, then start the plugin", path, path, path)
}
