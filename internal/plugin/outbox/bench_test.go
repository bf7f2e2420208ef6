package outbox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox's cost per queued order against its floors, all in one
// folder: go test -bench . ./plugin/outbox/

var benchSeq atomic.Int64

func benchOrder() *Order {
	no := fmt.Sprintf("B%d", benchSeq.Add(1))
	return newOrder(no, 20000)
}

func BenchmarkEnqueue(b *testing.B) {
	s, err := Open(Options{Path: filepath.Join(b.TempDir(), "outbox.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.Enqueue(benchOrder(), Limits{}, Event{Type: EventOrderQueued}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnqueueParallel: many callers share commits (group commit).
func BenchmarkEnqueueParallel(b *testing.B) {
	s, err := Open(Options{Path: filepath.Join(b.TempDir(), "outbox.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0))) // 16 callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.Enqueue(benchOrder(), Limits{}, Event{Type: EventOrderQueued}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBoltUpdate is the floor under Enqueue: one bbolt commit of a
// value of the same size, nothing else.
func BenchmarkBoltUpdate(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bolt.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 700)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put(u64(uint64(i)), val)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFdatasync is the physical floor: append a record and sync it.
func BenchmarkFdatasync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := make([]byte, 700)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(rec); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnqueueDuringPrune: offline sales while the hourly prune reads
// an outbox of 50,000 orders. worst-ms is the longest a sale waited: one
// of Prune's small transactions at most, not its whole scan.
func BenchmarkEnqueueDuringPrune(b *testing.B) {
	s, err := Open(Options{Path: filepath.Join(b.TempDir(), "outbox.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 50000; i += 32 {
				if _, _, err := s.Enqueue(benchOrder(), Limits{}, Event{Type: EventOrderQueued}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	stop := make(chan struct{})
	pruned := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				pruned <- nil
				return
			default:
			}
			if _, _, err := s.Prune(); err != nil {
				pruned <- err
				return
			}
		}
	}()
	var worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, _, err := s.Enqueue(benchOrder(), Limits{}, Event{Type: EventOrderQueued}); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(start))
	}
	b.StopTimer()
	close(stop)
	if err := <-pruned; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "worst-ms")
}
