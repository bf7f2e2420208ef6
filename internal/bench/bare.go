package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// BarePluginArg makes this binary, started by go-plugin, serve the bare
// plugin: the least a plugin can do for each call, served the way the real
// one is. Its times are the floors under ours that go-plugin, bbolt and
// wechatpay-go set on this machine, measured the same way:
//   - Configure and GetStatus do nothing (the start floor);
//   - a FORCE_OFFLINE CreateOrder is one bbolt commit of the request, padded
//     to the size of a sealed outbox record (the floor of a bbolt outbox);
//     with the further argument oneSyncArg, it is instead one write into a
//     preallocated file and one fdatasync: the least any durable store can
//     do per order, with nothing checked, sealed or indexed;
//   - any other CreateOrder is one bare core.Client create (the online floor).
const (
	BarePluginArg = "bench-bare-plugin"
	oneSyncArg    = "one-sync"
)

// oneSyncFileSize is preallocated (written) so that a sync does not also
// have to record the file growing.
const oneSyncFileSize = 16 << 20

// recordSizeArg=N pads the bare plugin's records to N bytes: the bench
// passes the size of our sealed record (see recordSize).
const recordSizeArg = "record-size="

// bareOrders is the bare plugin. Keys and files are loaded at the first
// call that needs them, so that Configure stays free for the start floor.
type bareOrders struct {
	oneSync    bool
	recordSize int

	mu     sync.Mutex
	cfg    *config.Config
	db     *bolt.DB
	file   *os.File // oneSync: the preallocated file
	off    int64
	client *core.Client
}

func (p *bareOrders) Configure(_ context.Context, r *v1.ConfigureRequest) (*v1.ConfigureResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = config.FromProto(r.GetConfig())
	return &v1.ConfigureResponse{}, nil
}

func (p *bareOrders) CreateOrder(ctx context.Context, r *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	if r.GetOfflineBehavior() == v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE {
		if p.oneSync {
			return p.sync(r)
		}
		return p.commit(r)
	}
	client, cfg, err := p.wechat(ctx)
	if err != nil {
		return nil, err
	}
	req := createRequest(cfg.AppID, cfg.ServiceID, r.GetOrder())
	if _, err := client.Post(ctx, cfg.APIBaseURL+ordersPath, req); err != nil {
		return nil, err
	}
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED}, nil
}

// commit is one bbolt commit (two syncs) of the request, nothing else,
// with the options the outbox uses.
func (p *bareOrders) commit(r *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	p.mu.Lock()
	if p.db == nil {
		if p.cfg == nil {
			p.mu.Unlock()
			return nil, errors.New("bare plugin: not configured")
		}
		db, err := bolt.Open(p.cfg.OutboxPath+".bare", 0o600, outbox.BoltOptions(time.Second))
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.db = db
	}
	db := p.db
	p.mu.Unlock()
	rec, err := proto.Marshal(r)
	if err != nil {
		return nil, err
	}
	rec = append(rec, make([]byte, max(0, p.recordSize-len(rec)))...)
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("orders"))
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(binary.BigEndian.AppendUint64(nil, seq), rec)
	})
	if err != nil {
		return nil, err
	}
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_QUEUED}, nil
}

// sync writes the request, padded, at the next place in a preallocated
// file and fdatasyncs it: one sync per order, nothing else.
func (p *bareOrders) sync(r *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	rec, err := proto.Marshal(r)
	if err != nil {
		return nil, err
	}
	rec = append(rec, make([]byte, max(0, p.recordSize-len(rec)))...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.file == nil {
		if p.cfg == nil {
			return nil, errors.New("bare plugin: not configured")
		}
		f, err := os.OpenFile(p.cfg.OutboxPath+".one-sync", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(make([]byte, oneSyncFileSize)); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		p.file = f
	}
	if p.off+int64(len(rec)) > oneSyncFileSize {
		p.off = 0 // a floor, not a store: going round again costs the same
	}
	if _, err := p.file.WriteAt(rec, p.off); err != nil {
		return nil, err
	}
	p.off += int64(len(rec))
	if err := datasync(p.file); err != nil {
		return nil, err
	}
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_QUEUED}, nil
}

func (p *bareOrders) wechat(ctx context.Context) (*core.Client, *config.Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg == nil {
		return nil, nil, errors.New("bare plugin: not configured")
	}
	if p.client == nil {
		keys, err := p.cfg.LoadKeys()
		if err != nil {
			return nil, nil, err
		}
		if keys.WeChatPayPublicKey == nil {
			return nil, nil, errors.New("bare plugin: needs a config in public-key mode")
		}
		p.client, err = core.NewClient(ctx, option.WithWechatPayPublicKeyAuthCipher(p.cfg.MchID, p.cfg.MerchantSerialNo,
			keys.MerchantPrivateKey, p.cfg.WeChatPayPublicKeyID, keys.WeChatPayPublicKey))
		if err != nil {
			return nil, nil, err
		}
	}
	return p.client, p.cfg, nil
}

func (*bareOrders) QueryOrder(context.Context, *v1.QueryOrderRequest) (*v1.QueryOrderResponse, error) {
	return &v1.QueryOrderResponse{}, nil
}
func (*bareOrders) CancelOrder(context.Context, *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error) {
	return &v1.CancelOrderResponse{}, nil
}
func (*bareOrders) CompleteOrder(context.Context, *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error) {
	return &v1.CompleteOrderResponse{}, nil
}
func (*bareOrders) ModifyOrder(context.Context, *v1.ModifyOrderRequest) (*v1.ModifyOrderResponse, error) {
	return &v1.ModifyOrderResponse{}, nil
}
func (*bareOrders) CollectPayment(context.Context, *v1.CollectPaymentRequest) (*v1.CollectPaymentResponse, error) {
	return &v1.CollectPaymentResponse{}, nil
}
func (*bareOrders) SyncOrderPaid(context.Context, *v1.SyncOrderPaidRequest) (*v1.SyncOrderPaidResponse, error) {
	return &v1.SyncOrderPaidResponse{}, nil
}
func (*bareOrders) GetStatus(context.Context, *v1.GetStatusRequest) (*v1.GetStatusResponse, error) {
	return &v1.GetStatusResponse{}, nil
}
func (*bareOrders) WatchEvents(ctx context.Context, _ *v1.WatchEventsRequest, _ func(*v1.Event) error) error {
	<-ctx.Done()
	return nil
}
func (*bareOrders) ListQueue(context.Context, *v1.ListQueueRequest) (*v1.ListQueueResponse, error) {
	return &v1.ListQueueResponse{}, nil
}
func (*bareOrders) RetryFailed(context.Context, *v1.RetryFailedRequest) (*v1.RetryFailedResponse, error) {
	return &v1.RetryFailedResponse{}, nil
}
func (*bareOrders) DropFailed(context.Context, *v1.DropFailedRequest) (*v1.DropFailedResponse, error) {
	return &v1.DropFailedResponse{}, nil
}
func (*bareOrders) Drain(context.Context, *v1.DrainRequest) (*v1.DrainResponse, error) {
	return &v1.DrainResponse{}, nil
}
func (*bareOrders) CompactOutbox(context.Context, *v1.CompactOutboxRequest) (*v1.CompactOutboxResponse, error) {
	return &v1.CompactOutboxResponse{}, nil
}

// GetUserServiceState: the bare plugin answers without WeChat Pay, like its
// other calls.
func (*bareOrders) GetUserServiceState(context.Context, *v1.GetUserServiceStateRequest) (*v1.GetUserServiceStateResponse, error) {
	return &v1.GetUserServiceStateResponse{}, nil
}

// ServeBare serves bareOrders the way the real plugin is served: the
// binary's entry point calls it when go-plugin started it with
// BarePluginArg first, passing the arguments after it.
func ServeBare(args []string) {
	p := &bareOrders{recordSize: 600}
	for _, a := range args {
		switch {
		case a == oneSyncArg:
			p.oneSync = true
		case strings.HasPrefix(a, recordSizeArg):
			if n, err := strconv.Atoi(strings.TrimPrefix(a, recordSizeArg)); err == nil && n > 0 {
				p.recordSize = n
			}
		}
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.VersionedPlugins(p),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, shared.GRPCServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Warn, JSONFormat: true}),
	})
	// Its files are a floor's, not data: they go with it.
	p.mu.Lock()
	if p.db != nil {
		path := p.db.Path() // bbolt forgets it at Close
		p.db.Close()
		os.Remove(path)
	}
	if p.file != nil {
		p.file.Close()
		os.Remove(p.file.Name())
	}
	p.mu.Unlock()
}
