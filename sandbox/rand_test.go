package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

// With Options.Rand, which requests get a fault is drawn from it, one draw
// per request: a seeded test can say in advance (and so replay) which of its
// requests will fail.
func TestFaultsAreDrawnFromOptionsRand(t *testing.T) {
	const seed1, seed2 = 7, 11
	srv := startServer(t, Options{Rand: rand.New(rand.NewPCG(seed1, seed2)), Logf: func(string, ...any) {}})
	if err := srv.Sandbox.SetFaults(Faults{Mode: FaultError, Probability: 0.5}); err != nil {
		t.Fatal(err)
	}
	cl := pubKeyClient(t, srv.Credentials)
	twin := rand.New(rand.NewPCG(seed1, seed2)) // what the sandbox should draw
	var got, want []bool
	for i := range 40 {
		_, err := cl.Post(context.Background(), ordersURL(srv), createBody(srv.Credentials, fmt.Sprintf("r-%02d", i)))
		var ae *core.APIError
		switch {
		case err == nil:
			got = append(got, false)
		case errors.As(err, &ae) && ae.StatusCode == 500:
			got = append(got, true)
		default:
			t.Fatalf("request %d: %v", i, err)
		}
		want = append(want, twin.Float64() < 0.5)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("faulted requests:\n got %v\nwant %v (drawn from the same seed)", got, want)
	}
}

// The sandbox serves requests concurrently; Options.Rand is not safe for
// concurrent use, so the sandbox must serialise its draws (-race sees it if
// not). Every draw is still taken from it: as many as requests, no more.
func TestOptionsRandIsUsedSafelyByConcurrentRequests(t *testing.T) {
	src := rand.NewPCG(1, 2)
	s, err := New(Options{Credentials: testCreds(t), Rand: rand.New(src)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetFaults(Faults{Mode: FaultOffline, Probability: 0.25}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	faulted := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for range each {
				if _, fault := s.pickFault(); fault == FaultOffline {
					n++
				}
			}
			mu.Lock()
			faulted += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	// The same number of draws from a twin gives the same count, whatever
	// the interleaving: the draws are the same numbers in some order.
	twin := rand.New(rand.NewPCG(1, 2))
	want := 0
	for range workers * each {
		if twin.Float64() < 0.25 {
			want++
		}
	}
	if faulted != want {
		t.Fatalf("%d of %d requests faulted; the seeded source says %d", faulted, workers*each, want)
	}
	// The source is exactly where the twin's is: no draw lost or doubled.
	if got, next := src.Uint64(), twin.Uint64(); got != next {
		t.Fatal("the sandbox took a different number of draws from Options.Rand than it served requests")
	}
}
