package notify

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// The constants of WeChat Pay's notifications; doc.go gives each one's
// source.
const (
	// SignatureType is the only Wechatpay-Signature-Type accepted; a
	// notification without the header is taken to use it.
	SignatureType = "WECHATPAY2-SHA256-RSA2048"
	// Algorithm is the only resource.algorithm accepted.
	Algorithm = "AEAD_AES_256_GCM"
	// ProbePrefix starts the Wechatpay-Signature of WeChat Pay's signature
	// probes.
	ProbePrefix = "WECHATPAY/SIGNTEST/"
	// MaxClockSkew is how far Wechatpay-Timestamp may be from the reader's
	// clock: a notification this far or farther is refused.
	MaxClockSkew = 5 * time.Minute
	// MaxBodyBytes bounds the body FromRequest reads. A service order with
	// 100 payment lines and its collection is a few KiB, base64 and all.
	MaxBodyBytes = 1 << 20
	// APIv3KeyLen is the APIv3 key's length in bytes (AES-256).
	APIv3KeyLen = 32
	// MinRSABits is the smallest RSA key WeChat Pay signs with.
	MinRSABits = 2048

	gcmNonceLen = 12
)

// The headers a notification's signature needs.
const (
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignatureType = "Wechatpay-Signature-Type"
)

// Config is what a Verifier needs: WeChat Pay's public key with its id
// (public-key mode, for merchants onboarded since WeChat Pay introduced it),
// or its platform certificates, or both while a merchant moves from
// certificates to the public key; and the APIv3 key.
type Config struct {
	// PublicKeyID is the key's id (PUB_KEY_ID_...), which WeChat Pay sends
	// as Wechatpay-Serial; PublicKey the key downloaded with it.
	PublicKeyID string
	PublicKey   *rsa.PublicKey
	// Certificates are WeChat Pay platform certificates, found by the
	// serial number WeChat Pay sends as Wechatpay-Serial. Keep the old one
	// beside the new one while WeChat Pay rotates them.
	Certificates []*x509.Certificate
	// APIv3Key is the 32-byte APIv3 key set in the merchant platform. A
	// secret: the Verifier never prints it.
	APIv3Key string
	// Now is the clock Wechatpay-Timestamp is judged against; nil means
	// time.Now.
	Now func() time.Time
}

// Verifier verifies and decrypts WeChat Pay notifications. It is safe for
// concurrent use.
type Verifier struct {
	publicKeyID string
	publicKey   *verifiers.SHA256WithRSAPubkeyVerifier
	certs       *verifiers.SHA256WithRSAVerifier
	serials     map[string]bool // upper-case certificate serials
	known       string          // the accepted Wechatpay-Serial values, for errors
	aead        cipher.AEAD
	now         func() time.Time
}

// NewVerifier checks c and makes a Verifier. Its errors name what is
// wrong, never the key.
func NewVerifier(c Config) (*Verifier, error) {
	if n := len(c.APIv3Key); n != APIv3KeyLen {
		return nil, fmt.Errorf("notify: the APIv3 key is %d bytes, want %d", n, APIv3KeyLen)
	}
	block, err := aes.NewCipher([]byte(c.APIv3Key))
	if err != nil {
		return nil, fmt.Errorf("notify: the APIv3 key: %v", err)
	}
	aead, err := cipher.NewGCM(block) // 12-byte nonce, 16-byte tag: RFC 5116 AEAD_AES_256_GCM
	if err != nil {
		return nil, fmt.Errorf("notify: the APIv3 key: %v", err)
	}
	v := &Verifier{aead: aead, now: c.Now, serials: map[string]bool{}}
	if v.now == nil {
		v.now = time.Now
	}
	var known []string
	switch {
	case c.PublicKeyID != "" && c.PublicKey == nil:
		return nil, errors.New("notify: PublicKeyID is set without PublicKey")
	case c.PublicKeyID == "" && c.PublicKey != nil:
		return nil, errors.New("notify: PublicKey is set without PublicKeyID (PUB_KEY_ID_...)")
	case c.PublicKey != nil:
		if n := c.PublicKey.N.BitLen(); n < MinRSABits {
			return nil, fmt.Errorf("notify: the WeChat Pay public key is %d bits, want at least %d", n, MinRSABits)
		}
		v.publicKeyID = c.PublicKeyID
		v.publicKey = verifiers.NewSHA256WithRSAPubkeyVerifier(c.PublicKeyID, *c.PublicKey)
		known = append(known, "public key "+c.PublicKeyID)
	}
	if len(c.Certificates) > 0 {
		byserial := map[string]*x509.Certificate{}
		for i, cert := range c.Certificates {
			if cert == nil {
				return nil, fmt.Errorf("notify: Certificates[%d] is nil", i)
			}
			pk, ok := cert.PublicKey.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("notify: Certificates[%d] holds a %T key, want RSA", i, cert.PublicKey)
			}
			if n := pk.N.BitLen(); n < MinRSABits {
				return nil, fmt.Errorf("notify: Certificates[%d] holds a %d-bit key, want at least %d", i, n, MinRSABits)
			}
			serial := utils.GetCertificateSerialNumber(*cert) // upper-case hex, as WeChat Pay sends it
			byserial[serial] = cert
			v.serials[serial] = true
		}
		v.certs = verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMap(byserial))
		serials := make([]string, 0, len(byserial))
		for s := range byserial {
			serials = append(serials, s)
		}
		sort.Strings(serials)
		known = append(known, "certificate "+strings.Join(serials, ", "))
	}
	if len(known) == 0 {
		return nil, errors.New("notify: no WeChat Pay key: give PublicKeyID with PublicKey, or Certificates")
	}
	v.known = strings.Join(known, "; ")
	return v, nil
}

// Notification is a verified and decrypted WeChat Pay notification.
type Notification struct {
	// The envelope, as WeChat Pay sent it: ID (the same on every redelivery:
	// handle each once), CreateTime (RFC 3339), EventType
	// (PAYSCORE.USER_CONFIRM...), ResourceType (encrypt-resource), Summary
	// (确认订单, 支付成功...).
	ID           string
	CreateTime   string
	EventType    string
	ResourceType string
	Summary      string
	// OriginalType is resource.original_type (payscore).
	OriginalType string
	// Resource is the decrypted resource: a JSON object exactly as WeChat
	// Pay wrote it. It may hold personal data (openid).
	Resource json.RawMessage
	// ServiceOrder is Resource read as a service order, for
	// PAYSCORE.USER_CONFIRM and PAYSCORE.USER_PAID; nil for other events.
	ServiceOrder *ServiceOrder
	// Serial is the Wechatpay-Serial of the key that signed it, Timestamp
	// its Wechatpay-Timestamp.
	Serial    string
	Timestamp time.Time
}

// FromRequest reads a notification from r, at most MaxBodyBytes of body,
// and decodes it as Decode does. A body that cannot be read is an error
// that is not an *Error: the notification was not refused but not
// received either.
func (v *Verifier) FromRequest(r *http.Request) (*Notification, error) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			return nil, fmt.Errorf("notify: reading the body: %w", err)
		}
	}
	if len(body) > MaxBodyBytes {
		return nil, refuse(ReasonTooLarge, "the body is larger than %d bytes: not a WeChat Pay notification", MaxBodyBytes)
	}
	return v.Decode(r.Header, body)
}

// signedHeaders are the values the signature covers or names.
type signedHeaders struct {
	serial, signature, timestamp, nonce string
	at                                  time.Time
}

// Decode verifies a notification's signature (h and body exactly as
// received) and decrypts its resource. Any error is an *Error naming what
// is wrong, and the notification must not be trusted: answer WeChat Pay
// with a non-2xx status and it sends it again.
//
// The checks, in order: the four Wechatpay-* headers, the signature type,
// the signature probe, the serial, the RSA signature over
// "timestamp\nnonce\nbody\n", the timestamp within MaxClockSkew of the
// clock, the envelope, the algorithm, AES-256-GCM with the APIv3 key and
// associated_data, and the payload's JSON.
func (v *Verifier) Decode(h http.Header, body []byte) (*Notification, error) {
	sh, err := readHeaders(h)
	if err != nil {
		return nil, err
	}
	if err := v.verify(sh, body); err != nil {
		return nil, err
	}
	// Judged after the signature, so that a refusal for time is only ever
	// about a notification WeChat Pay did sign: a replay or a wrong clock.
	if skew := v.now().Sub(sh.at); skew >= MaxClockSkew || skew <= -MaxClockSkew {
		way := "before"
		if skew < 0 {
			way, skew = "after", -skew
		}
		return nil, refuse(ReasonStaleTimestamp,
			"Wechatpay-Timestamp %s is %s %s this server's clock (less than %s allowed): a replayed notification, or this server's clock is wrong (use NTP)",
			sh.timestamp, skew.Round(time.Second), way, MaxClockSkew)
	}
	n, err := v.open(body)
	if err != nil {
		return nil, err
	}
	n.Serial, n.Timestamp = sh.serial, sh.at
	return n, nil
}

func readHeaders(h http.Header) (signedHeaders, error) {
	var sh signedHeaders
	var missing []string
	for _, f := range []struct {
		name string
		to   *string
	}{{HeaderSerial, &sh.serial}, {HeaderSignature, &sh.signature}, {HeaderTimestamp, &sh.timestamp}, {HeaderNonce, &sh.nonce}} {
		vals := h.Values(f.name)
		switch {
		case len(vals) == 0 || vals[0] == "":
			missing = append(missing, f.name)
		case len(vals) > 1:
			return sh, refuse(ReasonBadHeader, "header %s is given %d times; WeChat Pay sends it once", f.name, len(vals))
		default:
			*f.to = vals[0]
		}
	}
	if len(missing) > 0 {
		return sh, refuse(ReasonMissingHeader, "missing header %s: not a signed WeChat Pay notification", strings.Join(missing, ", "))
	}
	if t := h.Values(HeaderSignatureType); len(t) > 1 || len(t) == 1 && t[0] != SignatureType {
		return sh, refuse(ReasonUnknownAlgorithm, "%s is %s, want %s", HeaderSignatureType, quote(strings.Join(t, ", ")), SignatureType)
	}
	if strings.HasPrefix(sh.signature, ProbePrefix) {
		return sh, refuse(ReasonSignatureProbe,
			"%s starts %s: a WeChat Pay signature probe, which is not signed; refused as not verified", HeaderSignature, ProbePrefix)
	}
	// Digits only: the signed string holds the header's text, so "+1700000000"
	// or a leading zero must not be read as the same time.
	ts := sh.timestamp
	if len(ts) > 18 || strings.TrimLeft(ts, "0123456789") != "" {
		return sh, refuse(ReasonBadHeader, "%s is %s, want Unix seconds", HeaderTimestamp, quote(ts))
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return sh, refuse(ReasonBadHeader, "%s is %s, want Unix seconds", HeaderTimestamp, quote(ts))
	}
	sh.at = time.Unix(secs, 0)
	return sh, nil
}

// verify checks the RSA signature with wechatpay-go's verifiers, the ones
// its own client and notify handler use.
func (v *Verifier) verify(sh signedHeaders, body []byte) error {
	var check func(ctx context.Context, serial, message, signature string) error
	var with string
	switch {
	case v.publicKey != nil && sh.serial == v.publicKeyID:
		check, with = v.publicKey.Verify, "the WeChat Pay public key "+v.publicKeyID
	case v.certs != nil && v.serials[strings.ToUpper(sh.serial)]:
		sh.serial = strings.ToUpper(sh.serial)
		check, with = v.certs.Verify, "the platform certificate "+sh.serial
	default:
		return refuse(ReasonUnknownSerial, "%s is %s, which is not a configured WeChat Pay key (%s)", HeaderSerial, quote(sh.serial), v.known)
	}
	message := sh.timestamp + "\n" + sh.nonce + "\n" + string(body) + "\n"
	if err := check(context.Background(), sh.serial, message, sh.signature); err != nil {
		return refuse(ReasonBadSignature,
			"%s does not verify with %s: the body, %s or %s was changed, or WeChat Pay's key did not sign it (%v)",
			HeaderSignature, with, HeaderTimestamp, HeaderNonce, err)
	}
	return nil
}

// envelope is the notification's body [V-off O-cb-*].
type envelope struct {
	ID           string `json:"id"`
	CreateTime   string `json:"create_time"`
	EventType    string `json:"event_type"`
	ResourceType string `json:"resource_type"`
	Summary      string `json:"summary"`
	Resource     *struct {
		Algorithm      string `json:"algorithm"`
		Ciphertext     string `json:"ciphertext"`
		AssociatedData string `json:"associated_data"`
		Nonce          string `json:"nonce"`
		OriginalType   string `json:"original_type"`
	} `json:"resource"`
}

// open reads the envelope and decrypts its resource.
func (v *Verifier) open(body []byte) (*Notification, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, refuse(ReasonMalformed, "the body is not a notification's JSON object: %v", err)
	}
	res := env.Resource
	if res == nil {
		return nil, refuse(ReasonMalformed, "the body has no resource object")
	}
	if res.Algorithm != Algorithm {
		return nil, refuse(ReasonUnknownAlgorithm, "resource.algorithm is %s, want %s", quote(res.Algorithm), Algorithm)
	}
	if n := len(res.Nonce); n != gcmNonceLen {
		return nil, refuse(ReasonMalformed, "resource.nonce is %d bytes, want %d", n, gcmNonceLen)
	}
	ciphertext, err := base64.StdEncoding.DecodeString(res.Ciphertext)
	if err != nil {
		return nil, refuse(ReasonMalformed, "resource.ciphertext is not base64: %v", err)
	}
	if len(ciphertext) < v.aead.Overhead() {
		return nil, refuse(ReasonMalformed, "resource.ciphertext is %d bytes, shorter than the %d-byte GCM tag", len(ciphertext), v.aead.Overhead())
	}
	plain, err := v.aead.Open(nil, []byte(res.Nonce), ciphertext, []byte(res.AssociatedData))
	if err != nil {
		return nil, refuse(ReasonDecryptFailed,
			"resource does not decrypt (%s): the APIv3 key is not the one set at WeChat Pay, or resource.ciphertext, nonce or associated_data was changed", Algorithm)
	}
	// The payload's own text is never quoted in an error: it is personal.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(plain, &obj); err != nil || obj == nil {
		return nil, refuse(ReasonMalformed, "the decrypted resource is not a JSON object")
	}
	n := &Notification{
		ID: env.ID, CreateTime: env.CreateTime, EventType: env.EventType,
		ResourceType: env.ResourceType, Summary: env.Summary,
		OriginalType: res.OriginalType, Resource: json.RawMessage(plain),
	}
	if isServiceOrderEvent(env.EventType) {
		var so ServiceOrder
		if err := json.Unmarshal(plain, &so); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, refuse(ReasonMalformed, "the decrypted resource of %s is not a service order: %s is a JSON %s, want %s", env.EventType, te.Field, te.Value, te.Type)
			}
			return nil, refuse(ReasonMalformed, "the decrypted resource of %s is not a service order", env.EventType)
		}
		n.ServiceOrder = &so
	}
	return n, nil
}

// quote quotes a value for an error, cut short: header values come from
// whoever posted the request.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
