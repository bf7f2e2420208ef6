package sandbox

import (
	"sync"
	"testing"
)

// Every caller, however many at once, gets the one set generated first.
func TestDefaultCredentialsAreGeneratedOnce(t *testing.T) {
	var wg sync.WaitGroup
	got := make([]*Credentials, 8)
	for i := range got {
		wg.Go(func() {
			c, err := DefaultCredentials()
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	wg.Wait()
	for _, c := range got {
		if c == nil || c != got[0] {
			t.Fatalf("callers got different credentials: %p and %p", c, got[0])
		}
	}
}
