package bench

import (
	"os"
	"sync"
	"time"
)

// syncProbe writes records of one size and fdatasyncs each one: appended
// to a file that grows (the physical limit the targets name), or
// overwriting a preallocated file (cheaper for the disk: no new size to
// record). It runs in turns, between the things it is compared with.
type syncProbe struct {
	f        *os.File
	rec      []byte
	prealloc bool
	off      int64

	n       int
	took    time.Duration
	slowest float64 // the rate of the slowest turn
	fastest float64
}

// syncProbePrealloc is how much a preallocated probe writes before it goes
// round again.
const syncProbePrealloc = 16 << 20

func newSyncProbe(dir string, size int, prealloc bool) (*syncProbe, error) {
	f, err := os.CreateTemp(dir, "fdatasync-")
	if err != nil {
		return nil, err
	}
	p := &syncProbe{f: f, rec: make([]byte, size), prealloc: prealloc}
	if prealloc {
		_, err := f.Write(make([]byte, syncProbePrealloc))
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			p.close()
			return nil, err
		}
	}
	return p, nil
}

// run writes and syncs n records, one at a time.
func (p *syncProbe) run(n int) error {
	if n <= 0 {
		return nil
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		var err error
		if p.prealloc {
			if p.off+int64(len(p.rec)) > syncProbePrealloc {
				p.off = 0
			}
			_, err = p.f.WriteAt(p.rec, p.off)
			p.off += int64(len(p.rec))
		} else {
			_, err = p.f.Write(p.rec)
		}
		if err == nil {
			err = datasync(p.f)
		}
		if err != nil {
			return err
		}
	}
	d := time.Since(start)
	r := float64(n) / d.Seconds()
	if p.n == 0 || r < p.slowest {
		p.slowest = r
	}
	if r > p.fastest {
		p.fastest = r
	}
	p.n, p.took = p.n+n, p.took+d
	return nil
}

// rate is syncs per second over every turn.
func (p *syncProbe) rate() float64 { return float64(p.n) / p.took.Seconds() }

func (p *syncProbe) close() {
	p.f.Close()
	os.Remove(p.f.Name())
}

// firstError keeps the first error of many goroutines.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}
