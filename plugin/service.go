// Package plugin is the inside of the smartretail-plugin binary: Service
// implements the contract (shared.Orders) on the WeChat Pay client, and
// Serve runs it under go-plugin with signal handling and a parent watch.
package plugin

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kioskpay/smartretail/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Version is the plugin's version, reported by Configure and GetStatus.
var Version = "0.1.0-dev"

// Service implements shared.Orders.
type Service struct {
	log     hclog.Logger
	started time.Time

	mu  sync.RWMutex
	cur *configured // nil until Configure succeeds
}

// configured is one accepted configuration and the client built from it.
type configured struct {
	cfg        *config.Config
	client     *wxpay.Client
	verifyMode string
}

var _ shared.Orders = (*Service)(nil)

// NewService returns an unconfigured Service. log gets no secrets and no
// openid, ever.
func NewService(log hclog.Logger) *Service {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Service{log: log, started: time.Now()}
}

// Close releases what the Service holds. Safe to call more than once.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil
	return nil
}

func (s *Service) current() (*configured, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cur == nil {
		return nil, errNotConfigured
	}
	return s.cur, nil
}

// Configure checks the configuration (keys, key files) and makes it current.
// A refused configuration leaves the previous one in place.
func (s *Service) Configure(_ context.Context, r *v1.ConfigureRequest) (*v1.ConfigureResponse, error) {
	if r.GetConfig() == nil {
		return nil, &shared.Error{Class: shared.ClassInvalid, Message: "configuration refused",
			Violations: []shared.FieldViolation{{Field: "config", Description: "is required"}}}
	}
	cfg := config.FromProto(r.GetConfig())
	if err := cfg.Validate(); err != nil {
		return nil, fromConfig(err)
	}
	keys, err := cfg.LoadKeys()
	if err != nil {
		return nil, fromConfig(err)
	}
	client, err := wxpay.New(wxpay.Settings{
		MchID:                cfg.MchID,
		MerchantSerialNo:     cfg.MerchantSerialNo,
		MerchantPrivateKey:   keys.MerchantPrivateKey,
		WeChatPayPublicKeyID: cfg.WeChatPayPublicKeyID,
		WeChatPayPublicKey:   keys.WeChatPayPublicKey,
		WeChatPayCertificate: keys.WeChatPayCertificate,
		AppID:                cfg.AppID,
		ServiceID:            cfg.ServiceID,
		BaseURL:              cfg.APIBaseURL,
	})
	if err != nil {
		return nil, fromConfig(err)
	}
	mode := "public_key"
	if keys.WeChatPayCertificate != nil {
		mode = "certificate"
	}
	s.mu.Lock()
	s.cur = &configured{cfg: cfg, client: client, verifyMode: mode}
	s.mu.Unlock()
	s.log.Info("configured", "mchid", cfg.MchID, "api_base_url", redactURL(cfg.APIBaseURL), "verify_mode", mode)
	return &v1.ConfigureResponse{VerifyMode: mode, PluginVersion: Version}, nil
}

// CreateOrder sends a create to WeChat Pay. An empty out_order_no is
// generated here and returned in the answer.
func (s *Service) CreateOrder(ctx context.Context, r *v1.CreateOrderRequest) (*v1.CreateOrderResponse, error) {
	c, err := s.current()
	if err != nil {
		return nil, err
	}
	req := createToWx(r.GetOrder())
	if req.OutOrderNo == "" {
		req.OutOrderNo = NewOutOrderNo(time.Now())
	}
	resp, err := c.client.Create(ctx, req)
	if err != nil {
		s.logFailure("create", req.OutOrderNo, err)
		return nil, fromWxpay(err, "order")
	}
	s.log.Info("order created", "out_order_no", resp.OutOrderNo, "order_id", resp.OrderID)
	return &v1.CreateOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: createdFromWx(resp)}, nil
}

// QueryOrder asks WeChat Pay for an order's state.
func (s *Service) QueryOrder(ctx context.Context, r *v1.QueryOrderRequest) (*v1.QueryOrderResponse, error) {
	c, err := s.current()
	if err != nil {
		return nil, err
	}
	o, err := c.client.Query(ctx, queryToWx(r))
	if err != nil {
		return nil, fromWxpay(err, "")
	}
	return &v1.QueryOrderResponse{Order: orderFromWx(o)}, nil
}

// CancelOrder revokes an order not yet completed.
func (s *Service) CancelOrder(ctx context.Context, r *v1.CancelOrderRequest) (*v1.CancelOrderResponse, error) {
	c, err := s.current()
	if err != nil {
		return nil, err
	}
	ref, err := c.client.Cancel(ctx, cancelToWx(r))
	if err != nil {
		s.logFailure("cancel", r.GetOutOrderNo(), err)
		return nil, fromWxpay(err, "")
	}
	s.log.Info("order cancelled", "out_order_no", ref.OutOrderNo)
	return &v1.CancelOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: refFromWx(ref)}, nil
}

// CompleteOrder finishes (and charges) or cancels an accepted order.
func (s *Service) CompleteOrder(ctx context.Context, r *v1.CompleteOrderRequest) (*v1.CompleteOrderResponse, error) {
	c, err := s.current()
	if err != nil {
		return nil, err
	}
	ref, err := c.client.Complete(ctx, completeToWx(r))
	if err != nil {
		s.logFailure("complete", r.GetOutOrderNo(), err)
		return nil, fromWxpay(err, "")
	}
	s.log.Info("order completed", "out_order_no", ref.OutOrderNo, "finish_type", r.GetFinishType())
	return &v1.CompleteOrderResponse{Disposition: v1.Disposition_DISPOSITION_SUBMITTED, Order: refFromWx(ref)}, nil
}

// logFailure logs a failed call: a refused request is the host's to handle
// and only worth a debug line; anything else is a warning.
func (s *Service) logFailure(op, outOrderNo string, err error) {
	if wxpay.ClassOf(err) == wxpay.Invalid {
		s.log.Debug(op+" refused", "out_order_no", outOrderNo, "error", err)
		return
	}
	s.log.Warn(op+" failed", "out_order_no", outOrderNo, "error", err)
}

// GetStatus answers even before Configure: it is how a host learns that it
// still has to configure.
func (s *Service) GetStatus(context.Context, *v1.GetStatusRequest) (*v1.GetStatusResponse, error) {
	resp := &v1.GetStatusResponse{PluginVersion: Version, StartedAt: timestamppb.New(s.started)}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cur != nil {
		resp.Configured = true
		resp.Mchid = s.cur.cfg.MchID
		resp.ApiBaseUrl = s.cur.cfg.APIBaseURL
		resp.VerifyMode = s.cur.verifyMode
	}
	return resp, nil
}

// WatchEvents holds the stream open until the host cancels. Events (queued,
// submitted, failed orders, network changes) are produced by the outbox
// and forwarder; until then there are none to send.
func (s *Service) WatchEvents(ctx context.Context, _ *v1.WatchEventsRequest, _ func(*v1.Event) error) error {
	if _, err := s.current(); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// NewOutOrderNo mints an out_order_no for a host that gave none: "SR", the
// CST time to the second and 80 random bits, 32 characters in all, within
// WeChat Pay's charset. It is minted once and then stored with the order:
// a retry never mints another.
func NewOutOrderNo(now time.Time) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails: the runtime aborts first
	return "SR" + wxpay.FormatTime(now) + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// redactURL hides a password in a URL before it is logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
