package plugin_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/plugin"
	"github.com/kioskpay/smartretail/internal/plugin/clock"
	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// configuredService is a Service configured on a new sandbox, and its
// configuration.
func configuredService(t *testing.T) (*plugin.Service, *v1.Config) {
	t.Helper()
	cfg := testkit.Start(t, sandbox.Options{}).Config(t)
	s := plugin.NewService(nil)
	t.Cleanup(func() { s.Close() })
	if _, err := s.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	return s, cfg
}

// working says whether the plugin is configured to work (not only to
// inspect): Drain is refused otherwise.
func working(t *testing.T, s *plugin.Service) {
	t.Helper()
	if st := testkit.Status(t, s); !st.GetConfigured() {
		t.Fatalf("not configured: %v", st)
	}
	if _, err := s.Drain(testkit.Context(t), &v1.DrainRequest{}); err != nil {
		t.Fatalf("the configuration in place does not work: %v", err)
	}
}

// Issue 11, item 1: a context reaches what it bounds. A host that gives
// up on Configure while it waits for an outbox another process holds is
// not kept waiting out the lock timeout, and the configuration in place
// stays.
func TestConfigureStopsWaitingForALockedOutboxWhenItsContextEnds(t *testing.T) {
	s, cfg := configuredService(t)
	other := proto.Clone(cfg).(*v1.Config)
	other.OutboxPath = filepath.Join(t.TempDir(), "held.db")
	other.OutboxKeyFile = ""
	held, err := outbox.Open(outbox.Options{Path: other.OutboxPath}) // another's, as far as the plugin knows
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = s.Configure(ctx, &v1.ConfigureRequest{Config: other})
	if waited := time.Since(start); waited >= outbox.DefaultLockTimeout {
		t.Errorf("Configure answered %v after it started, its context cancelled after 100ms: it waited out the lock timeout", waited)
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), other.OutboxPath) {
		t.Fatalf("got %v; want context.Canceled, naming %s", err, other.OutboxPath)
	}
	working(t, s)
}

// The same outbox opened another way (to inspect it) is let go of first;
// when Configure's context is over by then, the configuration in place
// comes back, working: its reopening is not the cancelled call's.
func TestConfigureCancelledOnTheSameOutboxKeepsTheConfigurationInPlace(t *testing.T) {
	s, cfg := configuredService(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Configure(ctx, &v1.ConfigureRequest{Config: cfg, Inspect: true})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), cfg.GetOutboxPath()) {
		t.Fatalf("got %v; want context.Canceled, naming %s", err, cfg.GetOutboxPath())
	}
	working(t, s)
}

// CompactOutbox's context reaches the compaction: a call whose context is
// over compacts nothing, says so, and the outbox goes on working.
func TestCompactOutboxHonoursItsContext(t *testing.T) {
	s, cfg := configuredService(t)
	path := cfg.GetOutboxPath()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := s.CompactOutbox(ctx, &v1.CompactOutboxRequest{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "compaction") {
		t.Fatalf("got %v, %v; want context.Canceled naming the compaction of %s", resp, err, path)
	}
	working(t, s)
	if _, err := s.CompactOutbox(testkit.Context(t), &v1.CompactOutboxRequest{}); err != nil {
		t.Fatalf("a compaction after the cancelled one: %v", err)
	}
}

// pruneWatch is an outbox whose prune waits for its context to end.
type pruneWatch struct {
	*outbox.Store
	swept, pruning chan struct{}
	once, pOnce    sync.Once
}

func (p *pruneWatch) Due(n int, skip func(string) bool) ([]*outbox.Order, error) {
	p.once.Do(func() { close(p.swept) })
	return p.Store.Due(n, skip)
}

func (p *pruneWatch) PruneContext(ctx context.Context) (int, int, error) {
	p.pOnce.Do(func() { close(p.pruning) })
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(30 * time.Second):
		return 0, 0, errors.New("the prune's context never ended")
	}
}

// The forwarder's run context reaches its prune: a forwarder told to stop
// while pruning stops, instead of finishing a read of the whole outbox.
func TestForwarderStopsItsPruneWhenItStops(t *testing.T) {
	store, err := outbox.Open(outbox.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	watch := &pruneWatch{Store: store, swept: make(chan struct{}), pruning: make(chan struct{})}
	var clk testkit.Clock
	f := forward.New(forward.Options{Store: watch, WeChat: testkit.Start(t, sandbox.Options{}).WeChat(t), Clock: clock.New(&clk)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		f.Run(ctx)
	}()
	<-watch.swept // Run has read the clock its first prune counts from
	clk.Advance(2 * time.Hour)
	f.Wake()
	select {
	case <-watch.pruning:
	case <-time.After(10 * time.Second):
		t.Fatal("the forwarder did not prune two hours on")
	}
	cancel()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the forwarder did not stop while it pruned: its prune does not see its context")
	}
}
