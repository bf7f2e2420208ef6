package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds what one transaction of the copy writes.
const compactTxSize = 64 << 20

// afterCompactBucket, when set (by tests), runs after the copy of each
// top-level bucket: where a compaction may be cancelled midway.
var afterCompactBucket func()

// Compact is CompactContext with a context that never ends.
func (s *Store) Compact() (before, after int64, err error) {
	return s.CompactContext(context.Background())
}

// CompactContext rewrites the file without its free pages (a bbolt file
// never shrinks by itself) and returns the sizes before and after. Writes
// wait while it runs. When ctx ends before the copy is in place, it stops:
// the outbox stays the file it was, open and working, and the partial copy
// is removed; the error wraps ctx.Err().
func (s *Store) CompactContext(ctx context.Context) (before, after int64, err error) {
	if s.opts.ReadOnly {
		return 0, 0, ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	path := s.opts.Path
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("outbox %s: compaction not started (%w): the outbox is as it was", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		before = fi.Size()
	}
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, BoltOptions(s.opts.LockTimeout))
	if err != nil {
		return 0, 0, fmt.Errorf("outbox compact: %w", err)
	}
	err = compactCopy(ctx, dst, s.db, compactTxSize)
	if err == nil {
		err = dst.Sync()
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // the copy is whole, but nothing is replaced yet: still cheap to stop
	}
	if err != nil {
		dst.Close()
		rmErr := os.Remove(tmp)
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			left := "its partial copy was removed"
			if rmErr != nil {
				left = fmt.Sprintf("its partial copy %s could not be removed (%v; the next open removes it)", tmp, rmErr)
			}
			return 0, 0, fmt.Errorf("outbox %s: compaction stopped before it finished (%w): the outbox is as it was and works on; %s", path, err, left)
		}
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

// compactCopy is bbolt's Compact (every bucket, nested ones included, with
// their sequences, pages filled full, a commit every txMaxSize bytes) that
// stops when ctx ends. What it committed to dst is the caller's to remove.
func compactCopy(ctx context.Context, dst, src *bolt.DB, txMaxSize int64) error {
	tx, err := dst.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	var size int64
	// put copies one key: a value, or (v nil) a bucket with its sequence,
	// into the bucket at path in dst (the root when path is empty).
	put := func(path [][]byte, k, v []byte, seq uint64) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		sz := int64(len(k) + len(v))
		if size+sz > txMaxSize {
			if err := tx.Commit(); err != nil {
				return err
			}
			if tx, err = dst.Begin(true); err != nil {
				return err
			}
			size = 0
		}
		size += sz
		if len(path) == 0 {
			b, err := tx.CreateBucket(k)
			if err != nil {
				return err
			}
			return b.SetSequence(seq)
		}
		b := tx.Bucket(path[0])
		for _, name := range path[1:] {
			b = b.Bucket(name)
		}
		b.FillPercent = 1.0
		if v == nil {
			nb, err := b.CreateBucket(k)
			if err != nil {
				return err
			}
			return nb.SetSequence(seq)
		}
		return b.Put(k, v)
	}
	var walk func(b *bolt.Bucket, path [][]byte) error
	walk = func(b *bolt.Bucket, path [][]byte) error {
		return b.ForEach(func(k, v []byte) error {
			if v != nil {
				return put(path, k, v, 0)
			}
			nb := b.Bucket(k)
			if err := put(path, k, nil, nb.Sequence()); err != nil {
				return err
			}
			return walk(nb, append(path[:len(path):len(path)], k))
		})
	}
	err = src.View(func(stx *bolt.Tx) error {
		return stx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if err := put(nil, name, nil, b.Sequence()); err != nil {
				return err
			}
			if err := walk(b, [][]byte{name}); err != nil {
				return err
			}
			if afterCompactBucket != nil {
				afterCompactBucket()
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}
