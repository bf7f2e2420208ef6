package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const crashSeedEnv = "SMARTRETAIL_CRASH_SEED"

// crashSeed is the crash test's random seed: SMARTRETAIL_CRASH_SEED when
// set, else a new one. A failure is only worth as much as its replay, so
// the seed is logged at the start (seen with -v) and again, as a command,
// when the test fails.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	seed, err := parseCrashSeed(os.Getenv(crashSeedEnv))
	if err != nil {
		t.Fatal(err)
	}
	// The other SMARTRETAIL_CRASH_ knobs shape the run too: a replay
	// sets them alike.
	knobs := []string{fmt.Sprintf("%s=%d", crashSeedEnv, seed)}
	var others []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SMARTRETAIL_CRASH_") && !strings.HasPrefix(kv, crashSeedEnv+"=") {
			others = append(others, kv)
		}
	}
	sort.Strings(others)
	replay := fmt.Sprintf("%s go test ./e2e -run '^%s$' -v", strings.Join(append(knobs, others...), " "), t.Name())
	t.Logf("seed %d; replay: %s", seed, replay)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("to replay the same faults and kill instants (as far as process timing allows): %s", replay)
		}
	})
	return seed
}

// parseCrashSeed reads SMARTRETAIL_CRASH_SEED's value; "" draws a new seed.
func parseCrashSeed(v string) (uint64, error) {
	if v == "" {
		return rand.Uint64(), nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a seed: want a whole number from 0 to 18446744073709551615, as a failed crash test prints", crashSeedEnv, v)
	}
	return n, nil
}

func TestReplaySeedIsReadFromTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{{"0", 0}, {"42", 42}, {"18446744073709551615", 1<<64 - 1}} {
		if got, err := parseCrashSeed(tc.in); err != nil || got != tc.want {
			t.Errorf("%q: got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"abc", "-1", "1.5", " 7", "18446744073709551616"} {
		_, err := parseCrashSeed(in)
		if err == nil || !strings.Contains(err.Error(), crashSeedEnv) || !strings.Contains(err.Error(), strconv.Quote(in)) {
			t.Errorf("%q: got %v; want an error naming %s and the value", in, err, crashSeedEnv)
		}
	}
	a, _ := parseCrashSeed("")
	b, _ := parseCrashSeed("")
	if a == b {
		t.Errorf("two unset seeds are both %d: want a new one each run", a)
	}
}
