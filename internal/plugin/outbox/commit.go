package outbox

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

type write struct {
	fn       func(*Tx) error
	result   chan error
	lead     chan struct{} // told to lead the next commits
	answered bool          // set by the committing goroutine, read by it
}

// Close waits for the commit in progress, refuses later writes, and
// closes the file.
func (s *Store) Close() error {
	s.qmu.Lock()
	for s.committing {
		s.idle.Wait()
	}
	s.stopped = true
	s.qmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// Wake every watcher: they find the store closed and end, rather than
	// wait for commits that will never come.
	s.notifyMu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyMu.Unlock()
	err := s.db.Close()
	s.lock.release()
	return err
}

// update runs fn in a write transaction, committed (fsync) before it
// returns. Concurrent updates share a commit; if fn fails, only fn's
// changes are dropped.
//
// Group commit without a timer: a writer that finds no commit running
// becomes the leader and commits, in one transaction, its own write and
// every write queued behind it; writes that arrive meanwhile wait for the
// next commit. Once its own write is committed the leader hands the lead
// to the first writer still waiting, so no caller commits for others for
// long. A lone writer commits at once, on its own goroutine.
func (s *Store) update(fn func(*Tx) error) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	w := &write{fn: fn, result: make(chan error, 1), lead: make(chan struct{}, 1)}
	s.qmu.Lock()
	if s.stopped {
		s.qmu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, w)
	if s.committing {
		s.qmu.Unlock()
		select {
		case err := <-w.result:
			return err // a leader committed it
		case <-w.lead:
			s.qmu.Lock() // our turn to lead
		}
	} else {
		s.committing = true
	}
	for !w.answered && len(s.queue) > 0 {
		n := min(len(s.queue), maxBatch)
		batch := append([]*write(nil), s.queue[:n]...)
		s.queue = s.queue[n:]
		s.qmu.Unlock()
		s.commit(batch)
		s.qmu.Lock()
	}
	if len(s.queue) > 0 {
		s.queue[0].lead <- struct{}{}
	} else {
		s.committing = false
		s.idle.Broadcast()
	}
	s.qmu.Unlock()
	return <-w.result
}

type fnError struct {
	i   int
	err error
}

func (e *fnError) Error() string { return e.err.Error() }

func (s *Store) commit(batch []*write) {
	for len(batch) > 0 {
		s.mu.RLock()
		events := false
		err := s.db.Update(func(btx *bolt.Tx) error {
			for i, w := range batch {
				tx := &Tx{s: s, tx: btx}
				if err := w.fn(tx); err != nil {
					return &fnError{i: i, err: err}
				}
				events = events || tx.events
			}
			return nil
		})
		s.mu.RUnlock()
		var fe *fnError
		if errors.As(err, &fe) {
			batch[fe.i].answered = true
			batch[fe.i].result <- fe.err
			batch = append(batch[:fe.i:fe.i], batch[fe.i+1:]...)
			continue
		}
		for _, w := range batch {
			w.answered = true
			w.result <- err
		}
		if err == nil && events {
			s.notifyMu.Lock()
			close(s.notify)
			s.notify = make(chan struct{})
			s.notifyMu.Unlock()
		}
		return
	}
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(*Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{s: s, tx: btx}) })
}

// Changed returns a channel closed at the next commit that adds events.
func (s *Store) Changed() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notify
}
