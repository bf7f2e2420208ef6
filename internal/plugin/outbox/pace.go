package outbox

import (
	"encoding/binary"
	"math"
)

// keyPace holds the forwarder's pace, the last rate of requests WeChat
// Pay took (float64 bits, requests a second): a restart starts from it,
// neither at full speed into a merchant's rate limit nor from nothing.
var keyPace = []byte("pace")

// Pace is the rate SetPace recorded; 0 when none (nothing ever limited).
func (s *Store) Pace() (float64, error) {
	var r float64
	err := s.view(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketMeta).Get(keyPace); len(v) == 8 {
			r = math.Float64frombits(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return 0, nil // not a rate: as if none was kept
	}
	return r, err
}

// SetPace records the forwarder's pace (0: none).
func (s *Store) SetPace(rate float64) error {
	return s.update(func(tx *Tx) error {
		return tx.tx.Bucket(bucketMeta).Put(keyPace, binary.BigEndian.AppendUint64(nil, math.Float64bits(rate)))
	})
}
