package sandbox

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// Notification event types the sandbox posts (the fact sheet's section 5).
const (
	EventUserConfirm = "PAYSCORE.USER_CONFIRM" // the customer confirmed (需确认)
	EventUserPaid    = "PAYSCORE.USER_PAID"    // the deduction succeeded
)

// NotifyAssociatedData is the associated_data of every resource the
// sandbox encrypts (no source gives Pay Score's; payments use "transaction").
const NotifyAssociatedData = "payscore"

// NotifyTimeout bounds one delivery: WeChat Pay wants an answer within 5 s
// [V-off O-cb-*].
const NotifyTimeout = 5 * time.Second

// DefaultNotifyRetryDelays are the waits before each retry when
// Options.NotifyRetryDelays is nil: the first four of WeChat Pay's
// schedule (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h, 24h4m
// in all [V-sdk IM]), so that a sandbox gives up within about 4 minutes.
var DefaultNotifyRetryDelays = []time.Duration{15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute}

// Notification is one notification the sandbox posted or is posting to a
// service order's notify_url, as Sandbox.Notifications and
// Options.OnNotify report it.
type Notification struct {
	ID         string          `json:"id"`           // the envelope's id
	EventType  string          `json:"event_type"`   // EventUserConfirm or EventUserPaid
	OutOrderNo string          `json:"out_order_no"` // the order it is about
	URL        string          `json:"url"`          // the order's notify_url
	Body       json.RawMessage `json:"body"`         // the envelope, exactly as posted
	Header     http.Header     `json:"header"`       // Content-Type and the Wechatpay-* headers of the last attempt
	Plaintext  json.RawMessage `json:"plaintext"`    // the resource before encryption: the order as JSON
	Attempts   int             `json:"attempts"`     // deliveries tried so far
	Delivered  bool            `json:"delivered"`    // an attempt was answered 2xx
	Status     int             `json:"status"`       // the last attempt's HTTP status; 0 when it had no answer
	Err        string          `json:"error"`        // why the last attempt failed ("" once delivered)
	Done       bool            `json:"done"`         // no more attempts will be made
}

// notifyEnvelope is what is posted [V-off O-cb-*].
type notifyEnvelope struct {
	ID           string         `json:"id"`
	CreateTime   string         `json:"create_time"`
	EventType    string         `json:"event_type"`
	ResourceType string         `json:"resource_type"`
	Summary      string         `json:"summary"`
	Resource     notifyResource `json:"resource"`
}

type notifyResource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	Nonce          string `json:"nonce"`
	AssociatedData string `json:"associated_data"`
	OriginalType   string `json:"original_type"`
}

// notifier posts notifications, each in a goroutine of its own with its
// retries; stop cancels them all and waits.
type notifier struct {
	s        *Sandbox
	client   *http.Client
	loopOnly bool // the default client: loopback addresses only
	delays   []time.Duration
	onNotify func(Notification)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	list   []*Notification
	closed bool
}

func newNotifier(s *Sandbox, opts Options) *notifier {
	n := &notifier{s: s, client: opts.NotifyClient, delays: opts.NotifyRetryDelays, onNotify: opts.OnNotify}
	if n.delays == nil {
		n.delays = DefaultNotifyRetryDelays
	}
	n.delays = append([]time.Duration(nil), n.delays...)
	if n.client == nil {
		n.client, n.loopOnly = loopbackClient(), true
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n
}

var errNotLoopback = errors.New("the sandbox posts notifications only to loopback addresses (set Options.NotifyClient to reach others)")

// loopbackClient dials loopback addresses only: a sandbox sends no order
// data off the machine unless told to (Options.NotifyClient).
func loopbackClient() *http.Client {
	d := &net.Dialer{Timeout: NotifyTimeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return errNotLoopback
		}
		return nil
	}}
	return &http.Client{
		Timeout:   NotifyTimeout,
		Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext, DisableKeepAlives: true},
	}
}

// post sends event about o to its notify_url, in the background. Callers
// may hold s.mu: nothing here takes it, and Options.OnNotify is called
// from the delivering goroutine.
func (n *notifier) post(o *ServiceOrder, event string) {
	nt, err := n.build(o, event)
	if err != nil {
		n.s.logf("sandbox: notification %s for %s: %v", event, o.OutOrderNo, err)
		return
	}
	// With the default client a host that is not loopback is not tried at
	// all: no DNS lookup, no connection off the machine.
	u, err := url.Parse(nt.URL)
	skip := n.loopOnly && (err != nil || !loopbackHost(u.Hostname()))
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.list = append(n.list, nt)
	n.wg.Add(1)
	go n.deliver(nt, skip)
}

// build makes the envelope: the order encrypted with the APIv3 key
// (AEAD_AES_256_GCM, a 12-byte nonce) [V-off W-21/W-22].
func (n *notifier) build(o *ServiceOrder, event string) (*Notification, error) {
	a := o.queryAnswer()
	a.NotifyURL = "" // the order entity of the callbacks has no notify_url [V-sdk IM, DR]
	plain := marshal(a)
	block, err := aes.NewCipher([]byte(n.s.creds.APIv3Key))
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := randString(alnum, gcm.NonceSize())
	sealed := gcm.Seal(nil, []byte(nonce), plain, []byte(NotifyAssociatedData))
	summary := map[string]string{EventUserConfirm: "确认订单", EventUserPaid: "支付成功"}[event]
	env := notifyEnvelope{
		ID:           newNotificationID(),
		CreateTime:   n.s.now().In(cst).Format(time.RFC3339),
		EventType:    event,
		ResourceType: "encrypt-resource",
		Summary:      summary,
		Resource: notifyResource{
			Algorithm: "AEAD_AES_256_GCM", Ciphertext: base64.StdEncoding.EncodeToString(sealed),
			Nonce: nonce, AssociatedData: NotifyAssociatedData, OriginalType: "payscore",
		},
	}
	return &Notification{ID: env.ID, EventType: event, OutOrderNo: o.OutOrderNo, URL: o.NotifyURL,
		Body: marshal(env), Plaintext: plain}, nil
}

// newNotificationID is 36 characters, a UUID's form (id string(36)).
func newNotificationID() string {
	h := randString("0123456789abcdef", 32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// deliver tries once, then once after each delay, until a 2xx answer.
func (n *notifier) deliver(nt *Notification, skip bool) {
	defer n.wg.Done()
	if skip {
		n.record(nt, nil, 0, errNotLoopback.Error(), true, false)
		n.s.logf("sandbox: notification %s for %s not posted to %s: %v", nt.EventType, nt.OutOrderNo, nt.URL, errNotLoopback)
		return
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !sleep(n.ctx, n.delays[attempt-1]) {
			n.record(nt, nil, 0, "sandbox closed: no more attempts", true, false)
			return
		}
		header, status, err := n.attempt(nt)
		why := ""
		switch {
		case err != nil:
			why = err.Error()
		case status/100 != 2:
			why = fmt.Sprintf("answered %d", status)
		}
		last := why == "" || attempt == len(n.delays)
		n.record(nt, header, status, why, last, true)
		switch {
		case why == "":
			n.s.logf("sandbox: notification %s for %s delivered to %s", nt.EventType, nt.OutOrderNo, nt.URL)
			return
		case last:
			n.s.logf("sandbox: notification %s for %s to %s given up after %d attempts: %s", nt.EventType, nt.OutOrderNo, nt.URL, attempt+1, why)
			return
		}
	}
}

// attempt posts the envelope once, signed now as answers are.
func (n *notifier) attempt(nt *Notification) (http.Header, int, error) {
	req, err := http.NewRequestWithContext(n.ctx, http.MethodPost, nt.URL, bytes.NewReader(nt.Body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	// Signed like an answer [V-off O-cb-*]; with no request to follow, the
	// serial is the public key id (public-key mode).
	if err := n.s.signResponse(req.Header, new(http.Request), nt.Body); err != nil {
		return req.Header, 0, err
	}
	res, err := n.client.Do(req)
	if err != nil {
		return req.Header, 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return req.Header, res.StatusCode, nil
}

// record keeps an attempt's outcome (tried: one was made) and hands a copy
// to Options.OnNotify.
func (n *notifier) record(nt *Notification, header http.Header, status int, why string, done, tried bool) {
	n.mu.Lock()
	if tried {
		nt.Attempts++
		if header != nil {
			nt.Header = header.Clone()
		}
	}
	nt.Status, nt.Err, nt.Done = status, why, done
	nt.Delivered = tried && why == ""
	c := nt.copy()
	n.mu.Unlock()
	if n.onNotify != nil {
		n.onNotify(c)
	}
}

func (nt *Notification) copy() Notification {
	c := *nt
	c.Body = append([]byte(nil), nt.Body...)
	c.Plaintext = append([]byte(nil), nt.Plaintext...)
	c.Header = nt.Header.Clone()
	return c
}

// stop cancels pending deliveries and waits for them to end.
func (n *notifier) stop() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

// Notifications returns every notification posted so far, oldest first,
// with each one's delivery so far. They are kept in memory only.
func (s *Sandbox) Notifications() []Notification {
	n := s.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Notification, len(n.list))
	for i, nt := range n.list {
		out[i] = nt.copy()
	}
	return out
}
