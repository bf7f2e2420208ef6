package forward

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
)

// A model of a fleet draining into one merchant's rate limit, on a
// virtual clock: N kiosks with M queued sales each, their real pace
// (newPace; a request claims its turn when it is due, as the forwarder
// does, and the backlog is what the kiosk has left), forward_concurrency
// 4, a round trip (5 ms unless said), a token bucket, a
// refused sale retried after Retry-After (1 s) times a random 1 to 2 while
// the kiosk's others go on, and a first send jittered over a second. It
// is what the pace's figures were tuned on (the real plugins' figures are
// in BENCHMARKS.md: smartretail bench --only fleet); here it guards them,
// deterministically (seeded, no real time).

type modelClock struct{ t time.Duration }

func (c *modelClock) Now() time.Time         { return time.Unix(0, 0).Add(c.t) }
func (c *modelClock) Elapsed() time.Duration { return c.t }

// modelEvent kinds: a kiosk looks for a sale to send; a request reaches
// the limit; its answer comes back.
const (
	lookForWork = iota
	arrive
	answer
)

type modelEvent struct {
	at, turn time.Duration
	kind, k  int
	sale     int
	ok       bool
}

type modelQueue []modelEvent

func (q modelQueue) Len() int           { return len(q) }
func (q modelQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q modelQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *modelQueue) Push(x any)        { *q = append(*q, x.(modelEvent)) }
func (q *modelQueue) Pop() any {
	o := *q
	x := o[len(o)-1]
	*q = o[:len(o)-1]
	return x
}

type modelKiosk struct {
	p       *pace
	pending []int
	later   map[int]time.Duration
	busy    int
	wakeAt  time.Duration
}

// modelFleet drains n kiosks of m sales into rate a second (burst) and
// says when the last sale went and how many requests the limit got.
func modelFleet(n, m int, rate, burst float64, seed uint64) (drain time.Duration, requests int) {
	return modelFleetAt(5*time.Millisecond, n, m, rate, burst, seed)
}

// modelFleetAt is modelFleet with a round trip of rtt.
func modelFleetAt(rtt time.Duration, n, m int, rate, burst float64, seed uint64) (drain time.Duration, requests int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	vc := &modelClock{}
	cl := clock.New(vc)
	q := &modelQueue{}
	ks := make([]*modelKiosk, n)
	for i := range ks {
		k := &modelKiosk{p: newPace(cl, 0, 0, nil), later: map[int]time.Duration{}}
		k.p.backlog = func() int { return len(k.pending) + k.busy }
		ks[i] = k
		for j := 0; j < m; j++ {
			ks[i].pending = append(ks[i].pending, j)
		}
		heap.Push(q, modelEvent{at: time.Duration(rng.Int64N(int64(time.Second))), kind: lookForWork, k: i})
	}
	const concurrency = 4
	tokens, filled := burst, time.Duration(0)
	for q.Len() > 0 {
		e := heap.Pop(q).(modelEvent)
		vc.t = e.at
		k := ks[e.k]
		switch e.kind {
		case arrive:
			tokens = min(burst, tokens+(e.at-filled).Seconds()*rate)
			filled = e.at
			e.ok = tokens >= 1
			if e.ok {
				tokens--
			}
			requests++
			e.at, e.kind = e.at+rtt, answer
			heap.Push(q, e)
			continue
		case answer:
			k.busy--
			if e.ok {
				k.p.took()
				drain = e.at
			} else {
				k.p.refused(e.turn)
				d := time.Second + time.Duration(rng.Int64N(int64(time.Second)))
				k.later[e.sale] = e.at + d
				k.pending = append(k.pending, e.sale)
				heap.Push(q, modelEvent{at: e.at + d, kind: lookForWork, k: e.k})
			}
		}
		for k.busy < concurrency {
			i := 0
			for i < len(k.pending) && k.later[k.pending[i]] > vc.t {
				i++
			}
			if i == len(k.pending) {
				break
			}
			at, now, _ := k.p.claim(0)
			if at > now {
				if k.wakeAt <= now || at < k.wakeAt {
					k.wakeAt = at
					heap.Push(q, modelEvent{at: at, kind: lookForWork, k: e.k})
				}
				break
			}
			sale := k.pending[i]
			k.pending = append(k.pending[:i], k.pending[i+1:]...)
			k.busy++
			heap.Push(q, modelEvent{at: at, turn: at, kind: arrive, k: e.k, sale: sale})
		}
	}
	return drain, requests
}

// Issue 15's fleets, in the model, averaged over 32 seeds: the drain
// against the ideal (sales over the rate) and the requests per sale stay
// near the targets the real plugins are held to.
func TestAModelFleetDrainsIntoOneLimit(t *testing.T) {
	for _, tc := range []struct {
		kiosks               int
		burst                float64
		maxRatio, maxPerSale float64
	}{
		{10, 100, 1.1, 1.2},
		{100, 100, 1.1, 1.25},
		{100, 10, 1.15, 1.25},
		// No target is set for 30 kiosks: it is this pace's weak spot
		// (BENCHMARKS.md: a kiosk cut low in the first second climbs back
		// at 0.1 a second). Held where it is, so a change that makes it
		// worse shows.
		{30, 100, 1.35, 1.2},
	} {
		var ratio, perSale float64
		const seeds = 32
		for seed := uint64(1); seed <= seeds; seed++ {
			d, r := modelFleet(tc.kiosks, 50, 100, tc.burst, seed)
			ratio += d.Seconds() / (float64(tc.kiosks*50) / 100) / seeds
			perSale += float64(r) / float64(tc.kiosks*50) / seeds
		}
		t.Logf("%d kiosks, burst %v: drain x%.2f the ideal, %.2f requests a sale", tc.kiosks, tc.burst, ratio, perSale)
		if ratio > tc.maxRatio || perSale > tc.maxPerSale {
			t.Errorf("%d kiosks, burst %v: drain x%.2f (at most %v), %.2f requests a sale (at most %v)",
				tc.kiosks, tc.burst, ratio, tc.maxRatio, perSale, tc.maxPerSale)
		}
	}
}

// A kiosk alone with a long backlog (5,000 sales, a 24 ms round trip: 4 at
// a time make 166 a second, 30 s) against a WeChat Pay with no limit: its
// slow start doubles fast, so the drain loses little more than the first
// send's jitter (up to a second) to it. At paceDouble throughout it lost
// 2 s more (32.5 s).
func TestAModelKioskAloneWithALongBacklogRampsFast(t *testing.T) {
	const seeds = 4
	var drain time.Duration
	for seed := uint64(1); seed <= seeds; seed++ {
		d, _ := modelFleetAt(24*time.Millisecond, 1, 5000, 1e9, 1e9, seed)
		drain += d / seeds
	}
	t.Logf("5,000 sales alone: %v (30 s at full speed)", drain)
	if drain > 31300*time.Millisecond {
		t.Errorf("5,000 sales alone drained in %v, want under 31.3 s (30 s at full speed, and the first send's jitter)", drain)
	}
}
