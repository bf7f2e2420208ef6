package outbox

// Stats summarise the outbox for status.
type Stats struct {
	QueuedCount   int    // orders whose create waits
	QueuedAmount  int64  // their amounts, fen
	FailedCount   int    // orders on the failed list
	WorkCount     int    // orders with any operation waiting
	Oldest        *Order // the oldest of those (its AgeStamp dates it); nil if none
	CorruptCount  int    // records set aside
	LastEventSeq  uint64 // the newest event's sequence number
	FirstEventSeq uint64 // the oldest event still kept; 0 when none
}

// Stats reads the counters; it does not scan the records.
func (s *Store) Stats() (Stats, error) {
	var out Stats
	err := s.view(func(tx *Tx) error {
		st := tx.stats()
		out.QueuedCount, out.QueuedAmount, out.FailedCount, out.WorkCount = st.QueuedCount, st.QueuedAmount, st.FailedCount, st.WorkCount
		if k, v := tx.tx.Bucket(bucketQueue).Cursor().First(); k != nil {
			if o, err := tx.get(string(v)); err == nil && o != nil {
				out.Oldest = o
			}
		}
		out.CorruptCount = tx.tx.Bucket(bucketCorrupt).Stats().KeyN // small: set-aside records only
		events := tx.tx.Bucket(bucketEvents)
		out.LastEventSeq = events.Sequence()
		if k, _ := events.Cursor().First(); k != nil {
			out.FirstEventSeq = seqOf(k)
		}
		return nil
	})
	return out, err
}

// WorkCount is how many orders have an operation waiting (Stats'
// WorkCount), read from the counters alone: cheap enough to ask often.
func (s *Store) WorkCount() (int, error) {
	var n int
	err := s.view(func(tx *Tx) error {
		n = tx.stats().WorkCount
		return nil
	})
	return n, err
}
