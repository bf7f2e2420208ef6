package outbox

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Compact rewrites the file without its free pages (a bbolt file never
// shrinks by itself) and returns the sizes before and after. Writes wait
// while it runs.
func (s *Store) Compact() (before, after int64, err error) {
	if s.opts.ReadOnly {
		return 0, 0, ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	path := s.opts.Path
	if fi, err := os.Stat(path); err == nil {
		before = fi.Size()
	}
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, BoltOptions(s.opts.LockTimeout))
	if err != nil {
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	dst.Close()
	if err := s.db.Close(); err != nil {
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	renameErr := os.Rename(tmp, path)
	if renameErr == nil {
		if err := s.opts.dirSync(filepath.Dir(path)); err != nil {
			// A power cut may yet bring back the old file, without what
			// is written from now on: write nothing until a restart.
			s.closed = true
			s.lock.release()
			return 0, 0, fmt.Errorf("outbox compact: the compacted file is in place, but its rename may not survive a power cut: %w (the outbox is closed: restart the plugin)", err)
		}
	}
	// Reopen the compacted file, or the intact old one if the rename failed.
	db, err := openDB(path, s.opts.LockTimeout, false, nil)
	if err != nil {
		// Nothing to work on: the store is closed, and says why.
		s.closed = true
		s.lock.release()
		return 0, 0, fmt.Errorf("outbox compact: reopening %s: %w (the outbox is closed: restart the plugin)", path, err)
	}
	s.db = db
	if renameErr != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("outbox compact: %w", renameErr)
	}
	if fi, err := os.Stat(path); err == nil {
		after = fi.Size()
	}
	return before, after, nil
}
