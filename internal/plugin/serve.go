package plugin

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/kioskpay/smartretail/shared"
)

// parentPollInterval is how often the plugin checks that its host lives.
const parentPollInterval = 500 * time.Millisecond

// IsPluginLaunch reports whether this process was started by a go-plugin
// host (the handshake cookie is in its environment). A binary that is both
// a command and the plugin, like the smartretail CLI, checks it first.
func IsPluginLaunch() bool {
	return os.Getenv(shared.Handshake.MagicCookieKey) == shared.Handshake.MagicCookieValue
}

// Serve runs the plugin until the host shuts it down, a SIGTERM or SIGINT
// arrives, or the host process dies; then it closes the Service and exits.
// It writes nothing to stdout (go-plugin owns it): logs are JSON on stderr.
func Serve() {
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "smartretail-plugin",
		Level:      hclog.LevelFromString(envOr("SMARTRETAIL_LOG_LEVEL", "info")),
		Output:     os.Stderr,
		JSONFormat: true,
	})
	svc := NewService(log)
	stopProfile := startCPUProfile(log)

	// A dead host leaves our stderr a broken pipe: a log write would then
	// kill us with SIGPIPE before the outbox is closed. Ignored, the write
	// fails instead and shutdown goes on.
	signal.Ignore(syscall.SIGPIPE)

	var once sync.Once
	shutdown := func(reason string, code int) {
		once.Do(func() {
			// Close first: the log line may go nowhere.
			err := svc.Close()
			stopProfile()
			log.Info("plugin stopping", "reason", reason)
			if err != nil {
				log.Error("close failed", "error", err)
				code = 1
			}
			os.Exit(code)
		})
	}

	// go-plugin ignores SIGINT (a Ctrl-C in the host's terminal reaches
	// the plugin too) and does not handle SIGTERM at all (go-plugin #203);
	// both would skip our deferred closes. Stop cleanly on either.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	go func() {
		sig := <-sigs
		shutdown("signal "+sig.String(), 0)
	}()

	// go-plugin does not notice a host that died (go-plugin #10, #210): the
	// plugin would run on as an orphan and hold the outbox lock forever.
	ppid := os.Getppid()
	if hostAlreadyGone(ppid) {
		shutdown("host process exited before the plugin started", 0)
	}
	go watchParent(ppid, parentPollInterval, func() { shutdown("host process exited", 0) })

	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.VersionedPlugins(svc),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, shared.GRPCServerOptions()...)...)
		},
		Logger: log,
	})
	// Serve returns after GRPCController.Shutdown, or when the handshake
	// was refused (it has then said why on stderr).
	if !IsPluginLaunch() {
		os.Exit(1)
	}
	shutdown("host asked to shut down", 0)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// startCPUProfile writes a CPU profile to $SMARTRETAIL_CPU_PROFILE from now
// until the plugin stops, for finding where time goes (go tool pprof).
func startCPUProfile(log hclog.Logger) func() {
	path := os.Getenv("SMARTRETAIL_CPU_PROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Error("cpu profile", "error", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Error("cpu profile", "error", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
