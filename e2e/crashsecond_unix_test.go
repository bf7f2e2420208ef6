//go:build unix

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The crash test's random streams, all from its one seed. The main stream
// (faults, kill instants) and the sales goroutines' (one per round, by
// round number) came first; these are apart from both.
const (
	secondStream  = 1<<40 + 1 // which rounds get a second process, and what it does
	sandboxStream = 1<<40 + 2 // the sandbox's per-request fault draws
)

// secondEvery: a second process comes in one round in this many.
const secondEveryEnv = "SMARTRETAIL_CRASH_SECOND"

// retainedOrders is how many sent orders the crash test's outbox starts
// with, kept for the retention period as a kiosk's are after a busy week.
// They make a compaction take long enough (tens of milliseconds) for a
// plugin that wants the outbox meanwhile to come and wait for it.
const retainedOrders = 5000

// prefillOutbox makes the outbox at path hold n sent orders of api,
// quickly (the concurrent enqueues share commits). Their numbers
// (DONE-...) are never sent again.
func prefillOutbox(t *testing.T, path, keyFile, api string, n int) {
	t.Helper()
	s, err := outbox.Open(outbox.Options{Path: path, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, n)
	for i := range n {
		go func() {
			no := fmt.Sprintf("DONE-%05d", i)
			_, _, err := s.Enqueue(&outbox.Order{OutOrderNo: no, Amount: 1000, API: api, Ops: []outbox.Op{{Kind: outbox.OpCreate, Body: retainedCreate(api, no), State: outbox.OpDone, DoneAt: time.Now()}}},
				outbox.Limits{}, outbox.Event{Type: outbox.EventOrderQueued})
			done <- err
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// builtCLI is the CLI buildCLI built, once for all the tests that want it.
var builtCLI struct {
	sync.Mutex
	path string
}

// buildCLI builds the smartretail CLI beside the plugin binary TestMain
// built, where the CLI looks for its plugin first (and in the folder
// TestMain removes at the end), and returns its path.
func buildCLI(t *testing.T) string {
	t.Helper()
	builtCLI.Lock()
	defer builtCLI.Unlock()
	if builtCLI.path != "" {
		return builtCLI.path
	}
	p := filepath.Join(filepath.Dir(pluginPath), "smartretail")
	out, err := exec.Command(goTool(), "build", "-o", p, "github.com/kioskpay/smartretail/cmd/smartretail").CombinedOutput()
	if err != nil {
		t.Fatalf("building the smartretail CLI: %v\n%s", err, out)
	}
	builtCLI.path = p
	return p
}

// lockHolder is the pid a refusal by the outbox's lock names (0: not named).
var lockHolder = regexp.MustCompile(`is locked by another process \(pid (\d+)`)

// lockRefusal says whether err is Configure refused because another
// process holds the outbox, and which pid it names.
func lockRefusal(err error) (bool, int) {
	var se *shared.Error
	if !errors.As(err, &se) {
		return false, 0
	}
	for _, v := range se.Violations {
		if v.Field == "config.outbox_path" && strings.Contains(v.Description, "is locked by another process") {
			pid := 0
			if m := lockHolder.FindStringSubmatch(v.Description); m != nil {
				pid, _ = strconv.Atoi(m[1])
			}
			return true, pid
		}
	}
	return false, 0
}

// kiosk is the kiosk software around the host library: one host.Client at
// a time. The library restarts a plugin that died once; when that restart
// cannot configure (another process holds the outbox, the lock refuses it
// after 2 s) the Client is spent, and the kiosk starts a new host at its
// next step, again until the lock is free.
type kiosk struct {
	opts host.Options

	mu       sync.Mutex
	c        *host.Client // nil: none running; the next step starts one
	lastOK   time.Time    // the last call the plugin answered
	answered chan struct{}
	// What happened to the kiosk's plugin in this round.
	restartRefused int     // the library's restart refused by the outbox's lock
	spent          int     // Clients given up (restart failed, for any reason)
	newHosts       int     // hosts started after one was given up
	startRefused   int     // of those starts, refused by the lock
	startErrs      []error // starts that failed for any other reason
}

func startKiosk(ctx context.Context, opts host.Options) (*kiosk, error) {
	c, err := host.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &kiosk{opts: opts, c: c, answered: make(chan struct{}, 1)}, nil
}

// current is the running Client, or nil.
func (k *kiosk) current() *host.Client {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c
}

// pid is the kiosk's plugin process, or 0.
func (k *kiosk) pid() int {
	if c := k.current(); c != nil {
		return c.PID()
	}
	return 0
}

// client is the Client to call, starting a new host if the last was spent.
func (k *kiosk) client(ctx context.Context) (*host.Client, error) {
	if c := k.current(); c != nil {
		return c, nil
	}
	// Not the step's 3 s: the lock alone may take 2 s to refuse.
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := host.Start(sctx, k.opts)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		if locked, _ := lockRefusal(err); locked {
			k.startRefused++
		} else if ctx.Err() == nil {
			k.startErrs = append(k.startErrs, err)
		}
		return nil, err
	}
	k.c = c
	k.newHosts++
	return c, nil
}

// ok notes that the plugin answered.
func (k *kiosk) ok() {
	k.mu.Lock()
	k.lastOK = time.Now()
	k.mu.Unlock()
	select {
	case k.answered <- struct{}{}:
	default:
	}
}

// spentBy says whether err is the host library giving up on its plugin: its
// one restart failed (now or before), so no call on this Client can work.
// The Client is then closed and dropped. Such an error is about the plugin,
// never an answer to the sale's request.
func (k *kiosk) spentBy(c *host.Client, err error) bool {
	var se *shared.Error
	spent := strings.Contains(err.Error(), "restarting it failed") ||
		errors.As(err, &se) && se.Class == shared.ClassInternal && strings.Contains(se.Message, "already restarted once")
	if !spent {
		return false
	}
	k.mu.Lock()
	if locked, _ := lockRefusal(err); locked {
		k.restartRefused++
	}
	if k.c == c {
		k.c = nil
		k.spent++
	}
	k.mu.Unlock()
	c.Close()
	return true
}

// poll asks the plugin for its status, as a kiosk with nothing to sell does
// now and then; it is how an idle kiosk finds its plugin gone.
func (k *kiosk) poll(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := k.client(cctx)
	if err != nil {
		return
	}
	if _, err := c.GetStatus(cctx, &v1.GetStatusRequest{}); err == nil {
		k.ok()
	} else {
		k.spentBy(c, err)
	}
}

// waitAnswer waits until the plugin has answered a call that began after
// since.
func (k *kiosk) waitAnswer(ctx context.Context, since time.Time) error {
	for {
		k.mu.Lock()
		ok := k.lastOK.After(since)
		k.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-k.answered:
		case <-ctx.Done():
			return fmt.Errorf("the kiosk's plugin has not answered since the second process ended: %w", ctx.Err())
		}
	}
}

func (k *kiosk) close() {
	if c := k.current(); c != nil {
		c.Close()
	}
}

// secondKind is what the second process on the kiosk's outbox is.
type secondKind int

const (
	secondCompact secondKind = iota // an operator's `smartretail queue compact`
	secondStatus                    // an operator's `smartretail queue status`: an inspecting plugin (shared lock)
	secondPlugin                    // another plugin (host.Start): keeps the outbox a while, then compacts it
)

func (k secondKind) String() string {
	return [...]string{"smartretail queue compact", "smartretail queue status", "a second plugin (host.Start) that compacts"}[k]
}

// secondPlan is one round's second process.
type secondPlan struct {
	kind secondKind
	// waits: it starts before the kill, while the kiosk's plugin holds the
	// outbox, and the kill comes once it waits for the lock (two in three);
	// else it starts after the kill, against the kiosk's restarted plugin.
	waits bool
	// at is when it starts: a fraction of the kill instant, or (not waits)
	// of the 300 ms after it.
	at float64
	// lag (waits): how long after it comes to wait the kill comes, so that
	// the kill finds it at any point of opening the outbox, not only at the
	// lock's door.
	lag time.Duration
	// hold (secondPlugin): how long it keeps the outbox before compacting.
	// Past the lock's 2 s, the kiosk's own restart is refused meanwhile.
	hold time.Duration
}

// planSecondProcesses picks the rounds that get a second process (one in
// every, at least one when there are two rounds or more) and what each does:
// the kinds take turns, so that the default run has two of the three.
func planSecondProcesses(seed uint64, rounds, every int) []*secondPlan {
	r := rand.New(rand.NewPCG(seed, secondStream))
	plans := make([]*secondPlan, rounds)
	if every == 0 {
		return plans
	}
	n := rounds / every
	if n == 0 && rounds >= 2 {
		n = 1
	}
	turn := r.IntN(3)
	for i, round := range r.Perm(rounds)[:n] {
		plans[round] = &secondPlan{kind: secondKind((turn + i) % 3), waits: r.IntN(3) != 0, at: r.Float64(),
			lag: time.Duration(r.IntN(300)) * time.Millisecond, hold: time.Duration(r.IntN(3000)) * time.Millisecond}
	}
	return plans
}

// secondRoundsIn says whether any round has a second process.
func secondRoundsIn(plans []*secondPlan) bool {
	for _, p := range plans {
		if p != nil {
			return true
		}
	}
	return false
}

// startAfter is when the second process starts, given the kill instant.
func (p *secondPlan) startAfter(kill time.Duration) time.Duration {
	if p.waits {
		return time.Duration(p.at * float64(kill))
	}
	return kill + time.Duration(p.at*float64(300*time.Millisecond))
}

// awaitSecond returns lag after the second process waits for the outbox (a
// process other than the kiosk's plugin has its lock file open), or once it has
// ended, or limit has passed; it says which. Where that cannot be seen
// (no /proc) it gives the second process half a second to get there.
func awaitSecond(outboxPath string, kioskPID int, lag time.Duration, done <-chan struct{}, limit time.Duration) string {
	if _, ok := openers(outboxPath + ".lock"); !ok {
		select {
		case <-done:
			return "after the second process ended"
		case <-time.After(500 * time.Millisecond):
			return "half a second on (who waits cannot be seen here)"
		}
	}
	deadline := time.After(limit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		pids, _ := openers(outboxPath + ".lock")
		for _, pid := range pids {
			if pid != kioskPID {
				select {
				case <-done:
				case <-time.After(lag):
				}
				return fmt.Sprintf("%v after the second process came to wait for the outbox", lag)
			}
		}
		select {
		case <-done:
			return "after the second process ended"
		case <-deadline:
			return fmt.Sprintf("after %v: the second process never came to wait for the outbox", limit)
		case <-tick.C:
		}
	}
}

// secondResult is what the second process did.
type secondResult struct {
	start, end    time.Duration // since the round began
	refused       bool          // by the outbox's lock, as it should be while the kiosk's plugin holds it
	holder        int           // the pid the refusal named
	compacted     bool
	before, after int64  // compaction's sizes
	queued        int64  // secondStatus: queued_count it saw
	replaced      bool   // the outbox file was replaced (by inode) while it ran
	err           error  // anything else: a failure
	output        string // a failure's output
}

func (r secondResult) String() string {
	var what string
	switch {
	case r.err != nil:
		what = fmt.Sprintf("FAILED: %v %s", r.err, r.output)
	case r.refused:
		what = fmt.Sprintf("refused by the lock (holder pid %d), changed nothing", r.holder)
	case r.compacted:
		what = fmt.Sprintf("got the outbox and compacted it, %d -> %d bytes", r.before, r.after)
	default:
		what = fmt.Sprintf("got the outbox read-only: %d queued", r.queued)
	}
	return fmt.Sprintf("ran %v-%v into the round: %s", r.start.Round(time.Millisecond), r.end.Round(time.Millisecond), what)
}

// runSecond runs the round's second process on the kiosk's config and
// checks that it either was refused by the lock and changed nothing, or did
// its work: the outbox file is replaced exactly when it compacted.
func runSecond(ctx context.Context, t *testing.T, p *secondPlan, cli, configPath, outboxPath string, roundStart time.Time) secondResult {
	res := secondResult{start: time.Since(roundStart)}
	inode := func() uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(outboxPath, &st); err != nil {
			return 0
		}
		return uint64(st.Ino)
	}
	was := inode()
	switch p.kind {
	case secondCompact, secondStatus:
		sub := map[secondKind]string{secondCompact: "compact", secondStatus: "status"}[p.kind]
		cmd := exec.CommandContext(ctx, cli, "queue", sub, "--config", configPath)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil && p.kind == secondCompact:
			var resp v1.CompactOutboxResponse
			if res.err = protojson.Unmarshal(stdout.Bytes(), &resp); res.err == nil {
				res.compacted, res.before, res.after = true, resp.GetSizeBefore(), resp.GetSizeAfter()
			}
		case err == nil:
			var resp v1.GetStatusResponse
			if res.err = protojson.Unmarshal(stdout.Bytes(), &resp); res.err == nil {
				res.queued = resp.GetQueuedCount()
			}
		case errors.As(err, &exit) && exit.ExitCode() == 1 && strings.Contains(stderr.String(), "is locked by another process"):
			res.refused = true
			if m := lockHolder.FindStringSubmatch(stderr.String()); m != nil {
				res.holder, _ = strconv.Atoi(m[1])
			}
		default:
			res.err = err
		}
		if res.err != nil {
			res.output = stdout.String() + stderr.String()
		}
	case secondPlugin:
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		c, err := host.Start(sctx, host.Options{PluginPath: pluginPath, ConfigPath: configPath, Logger: testLogger(t)})
		if err != nil {
			if res.refused, res.holder = lockRefusal(err); !res.refused {
				res.err = err
			}
			break
		}
		// Keeping the outbox is this process's part: it is what makes the
		// kiosk's own plugin wait for it, or be refused.
		select {
		case <-time.After(p.hold):
		case <-ctx.Done():
		}
		var sizes *v1.CompactOutboxResponse
		sizes, res.err = c.CompactOutbox(ctx, &v1.CompactOutboxRequest{})
		res.before, res.after = sizes.GetSizeBefore(), sizes.GetSizeAfter()
		res.compacted = res.err == nil
		c.Close()
	}
	res.end = time.Since(roundStart)
	res.replaced = inode() != was
	if res.err == nil && res.replaced != res.compacted {
		res.err = fmt.Errorf("the outbox file was replaced: %v, but it compacted: %v (only a compaction replaces it)", res.replaced, res.compacted)
	}
	return res
}

// secondRounds is the run's tally of second processes.
type secondRounds struct {
	rounds, refused, compacted, looked            int
	restartRefused, spent, newHosts, startRefused int
}

func (s secondRounds) String() string {
	return fmt.Sprintf("%d rounds with a second process on the outbox (%d refused by the lock, %d compacted it, %d looked); the kiosk's own plugin restart was refused by the lock %d times, %d hosts were given up and %d new ones started (%d starts refused by the lock)",
		s.rounds, s.refused, s.compacted, s.looked, s.restartRefused, s.spent, s.newHosts, s.startRefused)
}

func (s *secondRounds) add(r secondResult, k *kiosk) {
	s.rounds++
	switch {
	case r.refused:
		s.refused++
	case r.compacted:
		s.compacted++
	case r.err == nil:
		s.looked++
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	s.restartRefused += k.restartRefused
	s.spent += k.spent
	s.newHosts += k.newHosts
	s.startRefused += k.startRefused
}

// secondEvery reads SMARTRETAIL_CRASH_SECOND: a second process in one
// round in that many (default 3; 0: none).
func secondEvery(t *testing.T) int {
	t.Helper()
	v := os.Getenv(secondEveryEnv)
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number, 0 for no second processes, or N for one round in N", secondEveryEnv, v)
	}
	return n
}
