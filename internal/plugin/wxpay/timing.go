package wxpay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/kioskpay/smartretail/internal/plugin/clock"
)

// Requests are signed, and answers judged, on WeChat Pay's time (package
// clock), not the kiosk's: wechatpay-go signs with time.Now and its
// validator refuses an answer 5 minutes from time.Now, so a kiosk whose
// clock is off could not sell. core.Client still signs every request; when
// the time to sign with is a second or more from the kiosk's clock,
// signingTransport signs it again with wechatpay-go's signer on that time.
// Answers are checked here (checkAnswer) instead of by core.Client: the
// signature first, without a time window, then the timestamp against the
// time the request was signed with.

// signingTransport signs a request again on the clock's signing time when
// that is not the kiosk's.
// It also names the platform key it verifies answers with
// (Wechatpay-Serial), which core.Client does only with its own validator.
type signingTransport struct {
	base   http.RoundTripper
	clock  *clock.Clock
	signer auth.Signer
	serial string
}

func (t signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	at := t.clock.SigningTime().Truncate(time.Second)
	// core.Client signed on time.Now, the machine's clock (not the
	// clock's Source, which a test may drive).
	if d := time.Until(at); d < time.Second && d > -time.Second {
		if req.Header.Get(consts.WechatPaySerial) == "" {
			req = req.Clone(req.Context())
			req.Header.Set(consts.WechatPaySerial, t.serial)
		}
		return t.base.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, &sendError{err: fmt.Errorf("signing on WeChat Pay's time: %w", err)}
		}
		body, err = io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return nil, &sendError{err: fmt.Errorf("signing on WeChat Pay's time: %w", err)}
		}
	}
	nonce, err := utils.GenerateNonce()
	if err != nil {
		return nil, &sendError{err: err}
	}
	msg := fmt.Sprintf(consts.SignatureMessageFormat, req.Method, req.URL.RequestURI(), at.Unix(), nonce, body)
	sig, err := t.signer.Sign(req.Context(), msg)
	if err != nil {
		return nil, &sendError{err: fmt.Errorf("signing on WeChat Pay's time: %w", err)}
	}
	r := req.Clone(req.Context())
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.Header.Set(consts.WechatPaySerial, t.serial)
	r.Header.Set(consts.Authorization, fmt.Sprintf(consts.HeaderAuthorizationFormat, "WECHATPAY2-"+t.signer.Algorithm(),
		sig.MchID, nonce, at.Unix(), sig.CertificateSerialNo, sig.Signature))
	return t.base.RoundTrip(r)
}

var authTimestamp = regexp.MustCompile(`timestamp="(\d+)"`)

// signedAt is the time a request was signed with, from its Authorization.
func signedAt(req *http.Request) (time.Time, bool) {
	if req == nil {
		return time.Time{}, false
	}
	m := authTimestamp.FindStringSubmatch(req.Header.Get(consts.Authorization))
	if m == nil {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// errUnsigned is an answer with no Wechatpay-Signature.
var errUnsigned = errors.New("the answer carries no Wechatpay-Signature")

// checkAnswer verifies an answer's signature (Wechatpay-Timestamp, -Nonce
// and the body, with the platform key -Serial names), then judges its
// timestamp against the time the request was signed with: a verified
// answer teaches the clock WeChat Pay's time.
func (c *Client) checkAnswer(ctx context.Context, resp *http.Response, body []byte) (clock.Verdict, error) {
	h := resp.Header
	sig := strings.TrimSpace(h.Get(consts.WechatPaySignature))
	if sig == "" {
		return 0, errUnsigned
	}
	serial, nonce := strings.TrimSpace(h.Get(consts.WechatPaySerial)), strings.TrimSpace(h.Get(consts.WechatPayNonce))
	tsText := strings.TrimSpace(h.Get(consts.WechatPayTimestamp))
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || serial == "" || nonce == "" {
		return 0, fmt.Errorf("the answer's Wechatpay-Serial, -Nonce or -Timestamp (%q) is missing or malformed", tsText)
	}
	if err := c.verifier.Verify(ctx, serial, fmt.Sprintf("%s\n%s\n%s\n", tsText, nonce, body), sig); err != nil {
		return 0, fmt.Errorf("serial %s: %w", serial, err)
	}
	signed, ok := signedAt(resp.Request)
	if !ok {
		signed = c.clock.SigningTime() // not ours to know: judged on the best time known
	}
	return c.clock.Answer(time.Unix(ts, 0), signed, c.clock.Elapsed(), resp.StatusCode == http.StatusUnauthorized), nil
}

// hintFromDate reads an unsigned 401's Date header: when it is 5 minutes
// or more from the time the request was signed with, the refusal was of
// the request's timestamp (not processed), and the next requests are
// signed on that time while nothing better is known. It is never learnt:
// only an answer whose signature verifies teaches the clock.
func (c *Client) hintFromDate(resp *http.Response) bool {
	t, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return false
	}
	signed, ok := signedAt(resp.Request)
	if !ok || (t.Sub(signed) < clock.MaxSkew && signed.Sub(t) < clock.MaxSkew) {
		return false
	}
	c.clock.Hint(t, c.clock.Elapsed())
	return true
}

// clockFault describes an error time caused, with the offset as known.
func (c *Client) clockFault(refused bool) *ClockFault {
	off, known := c.clock.Offset()
	return &ClockFault{RequestRefused: refused, Offset: off, OffsetKnown: known}
}

// ClockFault says time caused an error.
type ClockFault struct {
	// RequestRefused: WeChat Pay refused the request's timestamp (401) and
	// did not process it. Otherwise its answer's timestamp was 5 minutes or
	// more from the time the request was signed with: stale or replayed.
	RequestRefused bool
	// Offset is WeChat Pay's time less the kiosk's clock, when known.
	Offset      time.Duration
	OffsetKnown bool
}

func (f *ClockFault) String() string {
	off := "not yet known"
	if f.OffsetKnown {
		off = f.Offset.Round(time.Second).String()
	}
	if f.RequestRefused {
		return "WeChat Pay refused the request's timestamp (not processed); WeChat Pay's time less the kiosk's clock: " + off
	}
	return "the answer's timestamp is 5 minutes or more from WeChat Pay's time as known here (stale or replayed); WeChat Pay's time less the kiosk's clock: " + off
}
