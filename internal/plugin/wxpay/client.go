// Package wxpay is the WeChat Pay APIv3 client for Pay Score smart-retail
// orders (/v3/payscore/smartretail-orders): create, query, cancel, complete.
//
// It signs requests and verifies answers with wechatpay-go's core.Client, in
// WeChat Pay public-key mode or platform-certificate mode, checks every
// request against WeChat Pay's rules before it leaves, and returns one error
// type, *Error, whose Class tells the caller whether to fix, retry, queue or
// reconcile. It knows nothing of gRPC, go-plugin or the outbox.
package wxpay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/signers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
)

// DefaultBaseURL is WeChat Pay's API (shared/config's DefaultAPIBaseURL
// equals it: plugin's TestConfigDefaultsAreThePackagesDefaults checks);
// DefaultTimeout bounds one call.
const (
	DefaultBaseURL = consts.WechatPayAPIServer
	DefaultTimeout = 10 * time.Second
	ordersPath     = "/v3/payscore/smartretail-orders"
)

// Settings is what a Client needs. Give WeChatPayPublicKeyID and
// WeChatPayPublicKey (public-key mode, what new merchants get), or
// WeChatPayCertificate (platform-certificate mode).
type Settings struct {
	MchID              string
	MerchantSerialNo   string
	MerchantPrivateKey *rsa.PrivateKey

	WeChatPayPublicKeyID string
	WeChatPayPublicKey   *rsa.PublicKey
	WeChatPayCertificate *x509.Certificate

	// AppID and ServiceID fill requests that leave them empty.
	AppID     string
	ServiceID string

	// BaseURL is any http or https URL; empty means DefaultBaseURL. Only
	// path and query are signed, so a local sandbox works as is.
	BaseURL string
	// BackupBaseURL is WeChat Pay's backup domain, used while BaseURL
	// gives no answer; empty for none.
	BackupBaseURL string
	// OnDomainChange is told the base URL requests go to when it changes.
	OnDomainChange func(baseURL string)
	// Timeout bounds each call when the caller's context has no earlier
	// deadline; 0 means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a new client with
	// http.DefaultTransport. Its Transport is wrapped, not changed.
	HTTPClient *http.Client
	// Clock is the time requests are signed and answers judged on, and
	// learns WeChat Pay's time from the answers; nil means a new one on the
	// machine's clocks.
	Clock *clock.Clock
}

// Client calls the smart-retail endpoints. It is safe for concurrent use.
type Client struct {
	core      *core.Client
	verifier  auth.Verifier
	clock     *clock.Clock
	domains   domains
	onDomain  func(string)
	timeout   time.Duration
	appID     string
	serviceID string
}

// New checks s and builds a Client. It makes no network call.
func New(s Settings) (*Client, error) {
	switch {
	case s.MchID == "":
		return nil, errors.New("wxpay: mchid is required")
	case s.MerchantSerialNo == "":
		return nil, errors.New("wxpay: merchant_serial_no is required")
	case s.MerchantPrivateKey == nil:
		return nil, errors.New("wxpay: merchant private key is required")
	}
	base, err := baseURL(s.BaseURL)
	if err != nil {
		return nil, err
	}
	var backup string
	if s.BackupBaseURL != "" {
		if backup, err = baseURL(s.BackupBaseURL); err != nil {
			return nil, err
		}
	}
	var (
		authOpt  core.ClientOption
		verifier auth.Verifier
	)
	switch {
	case s.WeChatPayPublicKey != nil && s.WeChatPayPublicKeyID != "":
		authOpt = option.WithWechatPayPublicKeyAuthCipher(s.MchID, s.MerchantSerialNo,
			s.MerchantPrivateKey, s.WeChatPayPublicKeyID, s.WeChatPayPublicKey)
		verifier = verifiers.NewSHA256WithRSAPubkeyVerifier(s.WeChatPayPublicKeyID, *s.WeChatPayPublicKey)
	case s.WeChatPayCertificate != nil:
		certs := []*x509.Certificate{s.WeChatPayCertificate}
		// WithWechatPayAuthCipher is deprecated in favour of options that
		// download certificates at setup; with a certificate list it needs none.
		authOpt = option.WithWechatPayAuthCipher(s.MchID, s.MerchantSerialNo, s.MerchantPrivateKey, certs)
		verifier = verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList(certs))
	case s.WeChatPayPublicKey != nil || s.WeChatPayPublicKeyID != "":
		return nil, errors.New("wxpay: public-key mode needs both the WeChat Pay public key and its id")
	default:
		return nil, errors.New("wxpay: a WeChat Pay public key (with its id) or platform certificate is required")
	}
	hc := &http.Client{}
	if s.HTTPClient != nil {
		c := *s.HTTPClient
		hc = &c
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	clk := s.Clock
	if clk == nil {
		clk = clock.New(nil)
	}
	signer := &signers.SHA256WithRSASigner{MchID: s.MchID, PrivateKey: s.MerchantPrivateKey, CertificateSerialNo: s.MerchantSerialNo}
	serial, err := verifier.GetSerial(context.Background())
	if err != nil {
		return nil, fmt.Errorf("wxpay: %w", err)
	}
	hc.Transport = signingTransport{base: observingTransport{base: rt}, clock: clk, signer: signer, serial: serial}
	// Answers are checked in call, on WeChat Pay's time: not by core.Client
	// on the kiosk's.
	cc, err := core.NewClient(context.Background(), authOpt, option.WithHTTPClient(hc), option.WithoutValidator())
	if err != nil {
		return nil, fmt.Errorf("wxpay: %w", err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{
		core:      cc,
		verifier:  verifier,
		clock:     clk,
		domains:   domains{main: base, backup: backup},
		onDomain:  s.OnDomainChange,
		timeout:   timeout,
		appID:     s.AppID,
		serviceID: s.ServiceID,
	}, nil
}

func baseURL(raw string) (string, error) {
	if raw == "" {
		return DefaultBaseURL, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("wxpay: api base url %q: want an http:// or https:// URL with a host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("wxpay: api base url %q: must not have a query or fragment", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func (c *Client) defaults(appID, serviceID *string) {
	if *appID == "" {
		*appID = c.appID
	}
	if *serviceID == "" {
		*serviceID = c.serviceID
	}
}

// send validates a request (check) and sends it; the verified answer is
// decoded into a new Out. One shape for every endpoint of both APIs.
func send[Out any](ctx context.Context, c *Client, check func() error, op, method, path string, body any) (*Out, error) {
	if err := check(); err != nil {
		return nil, err
	}
	var out Out
	if err := c.call(ctx, op, method, path, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// queryPath is an order query's path and query string: appid, service_id,
// and exactly one of out_order_no and query_id (r.Validate checks).
func queryPath(base string, r QueryRequest) string {
	q := url.Values{"appid": {r.AppID}, "service_id": {r.ServiceID}}
	if r.OutOrderNo != "" {
		q.Set("out_order_no", r.OutOrderNo)
	} else {
		q.Set("query_id", r.QueryID)
	}
	return base + "?" + q.Encode()
}

// Create creates an order. out_order_no is the idempotency key: after an
// ambiguous failure, query it or send the same request again unchanged.
func (c *Client) Create(ctx context.Context, r CreateRequest) (*CreateResponse, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[CreateResponse](ctx, c, r.Validate, "create", http.MethodPost, ordersPath, r)
}

// Query reads an order by out_order_no or by query_id.
func (c *Client) Query(ctx context.Context, r QueryRequest) (*Order, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[Order](ctx, c, r.Validate, "query", http.MethodGet, queryPath(ordersPath, r), nil)
}

// Cancel revokes an order that is not yet completed.
func (c *Client) Cancel(ctx context.Context, r CancelRequest) (*OrderRef, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	return send[OrderRef](ctx, c, r.Validate, "cancel", http.MethodPost, ordersPath+"/"+url.PathEscape(r.OutOrderNo)+"/cancel", r)
}

// Complete ends an order the user accepted: finish and charge, or cancel.
func (c *Client) Complete(ctx context.Context, r CompleteRequest) (*OrderRef, error) {
	c.defaults(&r.AppID, &r.ServiceID)
	// finish_ticket too: WeChat Pay wants it.
	return send[OrderRef](ctx, c, r.ValidateToSend, "complete", http.MethodPost, ordersPath+"/"+url.PathEscape(r.OutOrderNo)+"/complete", r)
}

// call sends one signed request and decodes the verified answer into out.
// A request WeChat Pay refused for its timestamp alone was not processed:
// it goes once more, signed on the time the refusal said.
func (c *Client) call(ctx context.Context, op, method, pathAndQuery string, body, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	err := c.sendFailingOver(ctx, op, method, pathAndQuery, body, out)
	if e, ok := err.(*Error); ok && e.Clock != nil && e.Clock.RequestRefused && ctx.Err() == nil {
		err = c.sendFailingOver(ctx, op, method, pathAndQuery, body, out)
	}
	return err
}

// send sends one signed request to base and decodes the verified answer.
func (c *Client) send(ctx context.Context, base, op, method, pathAndQuery string, body, out any) error {
	u := base + pathAndQuery
	var (
		res *core.APIResult
		err error
	)
	if method == http.MethodGet {
		res, err = c.core.Get(ctx, u)
	} else {
		res, err = c.core.Post(ctx, u, body)
	}
	if err != nil {
		return c.classify(ctx, op, res, err)
	}
	data, _ := io.ReadAll(res.Response.Body) // in memory already: observingTransport read it
	verdict, verr := c.checkAnswer(ctx, res.Response, data)
	if verr != nil || verdict != clock.Fresh {
		// Whoever sent it, it is not WeChat Pay's word on this request. The
		// request did go out, so what became of it is unknown until a
		// verified answer says.
		e := &Error{Class: Auth, Op: op, StatusCode: res.Response.StatusCode, ReachedServer: true,
			RequestID: res.Response.Header.Get(consts.RequestID), Message: "answer signature does not verify", Err: verr}
		if verr == nil {
			e.Message, e.Clock = "stale answer", c.clockFault(false)
		}
		return e
	}
	if _, ref := out.(*OrderRef); ref && len(bytes.TrimSpace(data)) == 0 {
		return nil // cancel and complete: a verified empty success is a success
	}
	if err := json.Unmarshal(data, out); err != nil {
		// Verified, so WeChat Pay's, but not what a success looks like:
		// it may have acted, so the outcome is unknown.
		return &Error{Class: Transient, Op: op, StatusCode: res.Response.StatusCode,
			RequestID: res.Response.Header.Get(consts.RequestID), ReachedServer: true,
			Message: "answer is not the expected JSON", Err: err}
	}
	if a, ok := out.(interface{ answeredAt(time.Time) }); ok {
		if ts, err := strconv.ParseInt(strings.TrimSpace(res.Response.Header.Get(consts.WechatPayTimestamp)), 10, 64); err == nil {
			a.answeredAt(time.Unix(ts, 0)) // verified by checkAnswer
		}
	}
	return nil
}

// classify turns what core.Client returned into an *Error with its class.
func (c *Client) classify(ctx context.Context, op string, res *core.APIResult, err error) error {
	var apiErr *core.APIError
	if errors.As(err, &apiErr) {
		return c.fromAPIError(ctx, op, res, apiErr)
	}
	if res == nil || res.Response == nil {
		var se *sendError
		if !errors.As(err, &se) {
			if ctx.Err() != nil {
				return &Error{Class: Network, Op: op, Err: err} // gave up before sending
			}
			// Nothing was sent: the request could not be built or signed.
			return &Error{Class: Internal, Op: op, Message: "request not sent", Err: err}
		}
		return &Error{Class: Network, Op: op, ReachedServer: se.reachedServer, Err: err}
	}
	// An answer core.Client would not take (it checks no signature here).
	return &Error{Class: Auth, Op: op, StatusCode: res.Response.StatusCode, ReachedServer: true,
		RequestID: res.Response.Header.Get(consts.RequestID),
		Message:   "answer not understood", Err: err}
}

func (c *Client) fromAPIError(ctx context.Context, op string, res *core.APIResult, apiErr *core.APIError) error {
	e := &Error{
		Op:         op,
		StatusCode: apiErr.StatusCode,
		Code:       apiErr.Code,
		Message:    apiErr.Message,
		RequestID:  apiErr.Header.Get(consts.RequestID),
	}
	if e.Code == "" && e.Message == "" {
		e.Message = truncate(apiErr.Body, 200)
	}
	if d, ok := apiErr.Detail.(map[string]any); ok {
		e.Detail = &Detail{Value: d["value"]}
		e.Detail.Field, _ = d["field"].(string)
		e.Detail.Issue, _ = d["issue"].(string)
		e.Detail.Location, _ = d["location"].(string)
	}
	// core.Client verifies only 2xx answers. Error answers are verified
	// too, so a forged or unsigned refusal (a proxy, a captive portal)
	// cannot make us report an order failed or absent. Only 401, 413, 429,
	// 431 and 5xx may come unsigned: WeChat Pay's edge sends those before it
	// knows the merchant. 413 and 431 say the request was too large to be
	// read at all, so it was not acted on and can never pass unchanged.
	if res != nil && res.Response != nil {
		mayBeUnsigned := apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusTooManyRequests ||
			tooLarge(apiErr.StatusCode) || apiErr.StatusCode >= 500
		verdict, verr := c.checkAnswer(ctx, res.Response, []byte(apiErr.Body))
		switch {
		case errors.Is(verr, errUnsigned) && mayBeUnsigned:
			if apiErr.StatusCode == http.StatusUnauthorized && c.hintFromDate(res.Response) {
				e.Class, e.Clock = Auth, c.clockFault(true) // its timestamp refused: not processed
				return e
			}
		case verr != nil:
			e.Class, e.ReachedServer, e.Message, e.Err = Auth, true, "answer signature does not verify", verr
			return e
		case verdict == clock.TimeRefused:
			e.Class, e.Clock = Auth, c.clockFault(true) // not processed: nothing reached its orders
			return e
		case verdict == clock.Stale:
			e.Class, e.ReachedServer, e.Message, e.Clock = Auth, true, "stale answer", c.clockFault(false)
			return e
		}
	}
	e.Class = classOf(apiErr.StatusCode, apiErr.Code)
	if e.Class == NotFound && op == "create" {
		e.Class = Invalid // a create cannot miss an order: the URL is wrong
	}
	if e.Class == RateLimited {
		e.RetryAfter = retryAfter(apiErr.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// classOf is the one table from WeChat Pay's answer to a class.
func classOf(status int, code string) Class {
	switch {
	case tooLarge(status):
		return Invalid // the request must change
	case code == "SIGN_ERROR" || code == "NO_AUTH" || status == http.StatusUnauthorized:
		return Auth
	case code == "FREQUENCY_LIMITED" || status == http.StatusTooManyRequests:
		return RateLimited
	case code == "SYSTEM_ERROR" || status >= 500:
		return Transient
	case status == http.StatusNotFound:
		return NotFound
	default:
		return Invalid
	}
}

// tooLarge is an HTTP answer that the request (body, or URL and headers)
// is too large: 413 Content Too Large, 431 Request Header Fields Too Large.
func tooLarge(status int) bool {
	return status == http.StatusRequestEntityTooLarge || status == http.StatusRequestHeaderFieldsTooLarge
}

// retryAfter reads Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
