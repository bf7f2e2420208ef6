package outbox

import (
	"encoding/binary"
	"time"
)

// keySeen holds the newest trusted time the outbox has seen (unix
// nanoseconds): a kiosk's clock behind it at the next start was set back
// (package clock, Clock.Seen).
var keySeen = []byte("newest_seen")

// NewestSeen is the newest time NoteSeen recorded; zero when none.
func (s *Store) NewestSeen() (time.Time, error) {
	var t time.Time
	err := s.view(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketMeta).Get(keySeen); len(v) == 8 {
			t = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	return t, err
}

// NoteSeen records t as seen when it is newer than the time recorded.
func (s *Store) NoteSeen(t time.Time) error {
	return s.update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketMeta)
		if v := b.Get(keySeen); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= t.UnixNano() {
			return nil
		}
		return b.Put(keySeen, binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())))
	})
}
