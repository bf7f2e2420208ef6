package notify

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// testNow is the reader's clock in these tests.
var testNow = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

const testOpenID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

// keys are what WeChat Pay and the merchant hold: the platform's key pair,
// its certificate and public key id, the APIv3 key, and a key that is not
// WeChat Pay's. Generated here rather than taken from the sandbox, so
// that the sandbox may one day import this package.
type keys struct {
	MchID, AppID, ServiceID string
	PublicKeyID             string
	PlatformPrivateKey      *rsa.PrivateKey
	PlatformCertificate     *x509.Certificate
	OtherPrivateKey         *rsa.PrivateKey
	APIv3Key                string
}

func (k *keys) WechatPayPublicKey() *rsa.PublicKey { return &k.PlatformPrivateKey.PublicKey }

func (k *keys) PlatformCertificateSerial() string {
	return utils.GetCertificateSerialNumber(*k.PlatformCertificate)
}

var testKeys = sync.OnceValues(func() (*keys, error) {
	platform, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: new(big.Int).SetBytes([]byte{0x1F, 0x2E, 0x3D, 0x4C, 0x5B, 0x6A, 0x79, 0x88}),
		Subject: pkix.Name{CommonName: "Tenpay.com Root CA"}, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.AddDate(5, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &platform.PublicKey, platform)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keys{
		MchID: "1900000109", AppID: "wxd678efh567hg6787", ServiceID: "500001000000000000000000000001",
		PublicKeyID: "PUB_KEY_ID_0114232134912410000000000000", PlatformPrivateKey: platform, PlatformCertificate: cert,
		OtherPrivateKey: other, APIv3Key: "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF",
	}, nil
})

func creds(t testing.TB) *keys {
	t.Helper()
	k, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// confirmPayload is a PAYSCORE.USER_CONFIRM payload as fact sheet §5
// lists its fields.
func confirmPayload(c *keys) string {
	return `{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","out_order_no":"K17-0001","service_id":"` + c.ServiceID +
		`","order_id":"1000000000201911291000000000","openid":"` + testOpenID + `","state":"DOING","state_description":"USER_CONFIRM",` +
		`"service_introduction":"无人零售柜","risk_fund":{"name":"ESTIMATE_ORDER_COST","amount":10000,"description":"预估订单费用"},` +
		`"time_range":{"start_time":"OnAccept"},"location":{"start_location":"K-17"},"attach":"kiosk%3DK-17","need_collection":true}`
}

// paidPayload is a PAYSCORE.USER_PAID payload, with its collection.
func paidPayload(c *keys) string {
	return `{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","out_order_no":"K17-0002","service_id":"` + c.ServiceID +
		`","order_id":"1000000000201911291000000001","openid":"` + testOpenID + `","state":"DONE","total_amount":600,` +
		`"post_payments":[{"name":"商品信息","amount":300,"description":"可乐","count":1},{"name":"商品信息","amount":300,"description":"雪碧","count":1}],` +
		`"post_discounts":[{"name":"满减","description":"满5减1","amount":0,"count":1}],` +
		`"collection":{"state":"USER_PAID","total_amount":600,"paying_amount":0,"paid_amount":600,"details":[{"seq":1,"amount":600,"paid_type":"NEWTON","paid_time":"20261130100000","transaction_id":"4200000000202611301234567890",` +
		`"promotion_detail":[{"coupon_id":"109519","name":"立减","scope":"SINGLE","type":"NOCASH","amount":0,"stock_id":"931386","currency":"CNY","goods_detail":[{"goods_id":"cola","quantity":1,"unit_price":300,"discount_amount":0}]}]}]}}`
}

// fixture is a notification built the way WeChat Pay builds one: the
// payload encrypted with the APIv3 key, the body signed with the platform
// key. Its fields are what a case changes.
type fixture struct {
	event, summary string
	payload        string
	apiv3Key       string
	gcmNonce       string
	assoc          string
	algorithm      string
	editResource   func(r map[string]any) // before signing
	body           []byte                 // instead of the envelope, signed
	at             time.Time
	nonce, serial  string
	signer         *rsa.PrivateKey
	sigType        string
	edit           func(h http.Header, body []byte) []byte // after signing: a forger's changes
}

func newFixture(t testing.TB) fixture {
	c := creds(t)
	return fixture{
		event: EventUserConfirm, summary: "确认订单", payload: confirmPayload(c),
		apiv3Key: c.APIv3Key, gcmNonce: "fGhJ2kL3mN4p", assoc: "payscore", algorithm: Algorithm,
		at: testNow, nonce: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", serial: c.PublicKeyID, signer: c.PlatformPrivateKey,
	}
}

func (f fixture) build(t testing.TB) (http.Header, []byte) {
	t.Helper()
	body := f.body
	if body == nil {
		block, err := aes.NewCipher([]byte(f.apiv3Key))
		if err != nil {
			t.Fatal(err)
		}
		gcm, err := cipher.NewGCMWithNonceSize(block, len(f.gcmNonce)) // any size, to build wrong ones
		if err != nil {
			t.Fatal(err)
		}
		resource := map[string]any{
			"algorithm":       f.algorithm,
			"ciphertext":      base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(f.gcmNonce), []byte(f.payload), []byte(f.assoc))),
			"nonce":           f.gcmNonce,
			"associated_data": f.assoc,
			"original_type":   "payscore",
		}
		if f.editResource != nil {
			f.editResource(resource)
		}
		body, err = json.Marshal(map[string]any{
			"id": "EV-2018-0001", "create_time": "2026-11-30T18:00:00+08:00", "resource_type": "encrypt-resource",
			"event_type": f.event, "summary": f.summary, "resource": resource,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ts := strconv.FormatInt(f.at.Unix(), 10)
	h := http.Header{}
	h.Set(HeaderSerial, f.serial)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, f.nonce)
	h.Set(HeaderSignature, sign(t, f.signer, ts+"\n"+f.nonce+"\n"+string(body)+"\n"))
	if f.sigType != "" {
		h.Set(HeaderSignatureType, f.sigType)
	}
	if f.edit != nil {
		body = f.edit(h, body)
	}
	return h, body
}

func sign(t testing.TB, key *rsa.PrivateKey, message string) string {
	sum := sha256.Sum256([]byte(message))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func publicKeyVerifier(t testing.TB) *Verifier {
	c := creds(t)
	v, err := NewVerifier(Config{PublicKeyID: c.PublicKeyID, PublicKey: c.WechatPayPublicKey(), APIv3Key: c.APIv3Key, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDecodeUserConfirmInPublicKeyMode(t *testing.T) {
	c := creds(t)
	f := newFixture(t)
	h, body := f.build(t)
	n, err := publicKeyVerifier(t).Decode(h, body)
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != "EV-2018-0001" || n.CreateTime != "2026-11-30T18:00:00+08:00" || n.EventType != EventUserConfirm ||
		n.ResourceType != "encrypt-resource" || n.Summary != "确认订单" || n.OriginalType != "payscore" {
		t.Errorf("envelope: %+v", n)
	}
	if n.Serial != c.PublicKeyID || !n.Timestamp.Equal(testNow) {
		t.Errorf("signed by %q at %v", n.Serial, n.Timestamp)
	}
	if string(n.Resource) != confirmPayload(c) {
		t.Errorf("resource is not the plaintext WeChat Pay wrote:\n%s", n.Resource)
	}
	so := n.ServiceOrder
	if so == nil {
		t.Fatal("no service order")
	}
	if so.AppID != c.AppID || so.MchID != c.MchID || so.ServiceID != c.ServiceID || so.OutOrderNo != "K17-0001" ||
		so.OrderID != "1000000000201911291000000000" || so.OpenID != testOpenID || so.State != "DOING" ||
		so.StateDescription != "USER_CONFIRM" || so.ServiceIntroduction != "无人零售柜" || so.Attach != "kiosk%3DK-17" {
		t.Errorf("service order: %+v", so)
	}
	if so.RiskFund == nil || *so.RiskFund != (RiskFund{Name: "ESTIMATE_ORDER_COST", Amount: 10000, Description: "预估订单费用"}) ||
		so.TimeRange == nil || so.TimeRange.StartTime != "OnAccept" || so.Location == nil || so.Location.StartLocation != "K-17" ||
		so.NeedCollection == nil || !*so.NeedCollection || so.Collection != nil {
		t.Errorf("service order's objects: %+v %+v %+v %v %+v", so.RiskFund, so.TimeRange, so.Location, so.NeedCollection, so.Collection)
	}
}

func TestDecodeUserPaidWithAPlatformCertificate(t *testing.T) {
	c := creds(t)
	v, err := NewVerifier(Config{Certificates: []*x509.Certificate{c.PlatformCertificate}, APIv3Key: c.APIv3Key, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.event, f.summary, f.payload, f.serial = EventUserPaid, "支付成功", paidPayload(c), c.PlatformCertificateSerial()
	h, body := f.build(t)
	n, err := v.Decode(h, body)
	if err != nil {
		t.Fatal(err)
	}
	so := n.ServiceOrder
	if n.EventType != EventUserPaid || n.Serial != c.PlatformCertificateSerial() || so == nil || so.State != "DONE" || so.TotalAmount != 600 {
		t.Fatalf("%+v %+v", n, so)
	}
	if len(so.PostPayments) != 2 || so.PostPayments[1] != (Payment{Name: "商品信息", Amount: 300, Description: "雪碧", Count: 1}) ||
		len(so.PostDiscounts) != 1 || so.PostDiscounts[0].Name != "满减" {
		t.Errorf("lines: %+v %+v", so.PostPayments, so.PostDiscounts)
	}
	col := so.Collection
	if col == nil || col.State != "USER_PAID" || col.TotalAmount != 600 || col.PaidAmount != 600 || col.PayingAmount != 0 || len(col.Details) != 1 {
		t.Fatalf("collection: %+v", col)
	}
	d := col.Details[0]
	if d.Seq != 1 || d.Amount != 600 || d.PaidType != "NEWTON" || d.PaidTime != "20261130100000" || d.TransactionID != "4200000000202611301234567890" ||
		len(d.PromotionDetail) != 1 || d.PromotionDetail[0].CouponID != "109519" || d.PromotionDetail[0].Scope != "SINGLE" ||
		len(d.PromotionDetail[0].GoodsDetail) != 1 || d.PromotionDetail[0].GoodsDetail[0].UnitPrice != 300 {
		t.Errorf("collection detail: %+v", d)
	}

	// A lower-case serial is the same certificate.
	f.serial = strings.ToLower(f.serial)
	h, body = f.build(t)
	if _, err := v.Decode(h, body); err != nil {
		t.Errorf("lower-case serial: %v", err)
	}
}

// While a merchant moves from certificates to the public key, either may
// sign; a Verifier given both accepts each, and each only under its own
// serial.
func TestBothKeysDuringTheMove(t *testing.T) {
	c := creds(t)
	v, err := NewVerifier(Config{PublicKeyID: c.PublicKeyID, PublicKey: c.WechatPayPublicKey(),
		Certificates: []*x509.Certificate{c.PlatformCertificate}, APIv3Key: c.APIv3Key, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	for _, serial := range []string{c.PublicKeyID, c.PlatformCertificateSerial()} {
		f := newFixture(t)
		f.serial = serial
		h, body := f.build(t)
		if _, err := v.Decode(h, body); err != nil {
			t.Errorf("serial %s: %v", serial, err)
		}
	}
	// The public-key verifier alone does not know the certificate's serial.
	f := newFixture(t)
	f.serial = c.PlatformCertificateSerial()
	h, body := f.build(t)
	if _, err := publicKeyVerifier(t).Decode(h, body); !errors.Is(err, ErrUnknownSerial) {
		t.Errorf("certificate serial to a public-key verifier: %v", err)
	}
}

func TestOtherEventsStayRaw(t *testing.T) {
	f := newFixture(t)
	f.event, f.summary = "PAYSCORE.USER_OPEN_SERVICE", "开启服务"
	f.payload = `{"appid":"wx1","mchid":"1900000109","service_id":"500001","openid":"` + testOpenID + `","user_service_status":"USER_OPEN_SERVICE"}`
	h, body := f.build(t)
	n, err := publicKeyVerifier(t).Decode(h, body)
	if err != nil {
		t.Fatal(err)
	}
	if n.ServiceOrder != nil || string(n.Resource) != f.payload || n.EventType != "PAYSCORE.USER_OPEN_SERVICE" {
		t.Errorf("%+v", n)
	}
}

// Every refusal: a forged, tampered, stale or broken notification is
// refused with its reason and a message naming what is wrong, never the
// APIv3 key nor the openid.
func TestRefusals(t *testing.T) {
	c := creds(t)
	otherKey := strings.Repeat("k", 32)
	cases := []struct {
		name   string
		change func(f *fixture)
		want   *Error
		says   string
	}{
		{"no serial", func(f *fixture) { f.edit = del(HeaderSerial) }, ErrMissingHeader, "missing header Wechatpay-Serial"},
		{"no signature", func(f *fixture) { f.edit = del(HeaderSignature) }, ErrMissingHeader, "missing header Wechatpay-Signature"},
		{"no timestamp", func(f *fixture) { f.edit = del(HeaderTimestamp) }, ErrMissingHeader, "missing header Wechatpay-Timestamp"},
		{"no nonce", func(f *fixture) { f.edit = del(HeaderNonce) }, ErrMissingHeader, "missing header Wechatpay-Nonce"},
		{"empty nonce", func(f *fixture) { f.edit = set(HeaderNonce, "") }, ErrMissingHeader, "missing header Wechatpay-Nonce"},
		{"no headers at all", func(f *fixture) {
			f.edit = func(h http.Header, b []byte) []byte { clear(h); return b }
		}, ErrMissingHeader, "missing header Wechatpay-Serial, Wechatpay-Signature, Wechatpay-Timestamp, Wechatpay-Nonce"},
		{"signature twice", func(f *fixture) {
			f.edit = func(h http.Header, b []byte) []byte { h.Add(HeaderSignature, h.Get(HeaderSignature)); return b }
		}, ErrBadHeader, "Wechatpay-Signature is given 2 times"},
		{"timestamp not a number", func(f *fixture) { f.edit = set(HeaderTimestamp, "yesterday") }, ErrBadHeader, `Wechatpay-Timestamp is "yesterday"`},
		{"timestamp with a sign", func(f *fixture) {
			f.edit = set(HeaderTimestamp, "+"+strconv.FormatInt(testNow.Unix(), 10))
		}, ErrBadHeader, "want Unix seconds"},
		{"timestamp overflowing", func(f *fixture) { f.edit = set(HeaderTimestamp, strings.Repeat("9", 30)) }, ErrBadHeader, "want Unix seconds"},
		{"unknown signature type", func(f *fixture) { f.sigType = "WECHATPAY2-SM2-WITH-SM3" }, ErrUnknownAlgorithm, "Wechatpay-Signature-Type is \"WECHATPAY2-SM2-WITH-SM3\""},
		{"signature probe", func(f *fixture) { f.edit = set(HeaderSignature, ProbePrefix+"MTIzNDU2") }, ErrSignatureProbe, "signature probe"},
		{"unknown serial", func(f *fixture) { f.serial = "PUB_KEY_ID_0000000000000000000000000000" }, ErrUnknownSerial,
			`Wechatpay-Serial is "PUB_KEY_ID_0000000000000000000000000000", which is not a configured WeChat Pay key (public key ` + c.PublicKeyID + ")"},
		{"signed with another key", func(f *fixture) { f.signer = c.OtherPrivateKey }, ErrBadSignature, "does not verify with the WeChat Pay public key " + c.PublicKeyID},
		{"tampered body", func(f *fixture) {
			f.edit = func(h http.Header, b []byte) []byte {
				return []byte(strings.Replace(string(b), "PAYSCORE.USER_CONFIRM", "PAYSCORE.USER_PAID", 1))
			}
		}, ErrBadSignature, "the body, Wechatpay-Timestamp or Wechatpay-Nonce was changed"},
		{"a byte added to the body", func(f *fixture) {
			f.edit = func(h http.Header, b []byte) []byte { return append(b, '\n') }
		}, ErrBadSignature, "does not verify"},
		{"tampered timestamp", func(f *fixture) {
			f.edit = set(HeaderTimestamp, strconv.FormatInt(testNow.Unix()+1, 10))
		}, ErrBadSignature, "does not verify"},
		{"tampered nonce", func(f *fixture) { f.edit = set(HeaderNonce, "5K8264ILTKCH16CQ2502SI8ZNMTM67VT") }, ErrBadSignature, "does not verify"},
		{"signature not base64", func(f *fixture) { f.edit = set(HeaderSignature, "not base64!") }, ErrBadSignature, "does not verify"},
		{"5 minutes old", func(f *fixture) { f.at = testNow.Add(-5 * time.Minute) }, ErrStaleTimestamp, "is 5m0s before this server's clock"},
		{"5 minutes ahead", func(f *fixture) { f.at = testNow.Add(5 * time.Minute) }, ErrStaleTimestamp, "is 5m0s after this server's clock"},
		{"a day old", func(f *fixture) { f.at = testNow.Add(-24 * time.Hour) }, ErrStaleTimestamp, "a replayed notification, or this server's clock is wrong"},
		{"body not JSON", func(f *fixture) { f.body = []byte("code=SUCCESS") }, ErrMalformed, "the body is not a notification's JSON object"},
		{"body JSON null", func(f *fixture) { f.body = []byte("null") }, ErrMalformed, "the body has no resource object"},
		{"no resource", func(f *fixture) { f.body = []byte(`{"id":"x","event_type":"PAYSCORE.USER_CONFIRM"}`) }, ErrMalformed, "the body has no resource object"},
		{"unknown algorithm", func(f *fixture) { f.algorithm = "AEAD_AES_128_GCM" }, ErrUnknownAlgorithm, `resource.algorithm is "AEAD_AES_128_GCM", want AEAD_AES_256_GCM`},
		{"nonce not 12 bytes", func(f *fixture) { f.gcmNonce = "short" }, ErrMalformed, "resource.nonce is 5 bytes, want 12"},
		{"ciphertext not base64", func(f *fixture) {
			f.editResource = func(r map[string]any) { r["ciphertext"] = "***" }
		}, ErrMalformed, "resource.ciphertext is not base64"},
		{"ciphertext shorter than the tag", func(f *fixture) {
			f.editResource = func(r map[string]any) { r["ciphertext"] = base64.StdEncoding.EncodeToString([]byte("short")) }
		}, ErrMalformed, "shorter than the 16-byte GCM tag"},
		// WeChat Pay signs the body, so only a tamperer who also forged the
		// signature gets this far: GCM refuses what the signature let by.
		{"ciphertext tampered", func(f *fixture) {
			f.editResource = func(r map[string]any) {
				ct, _ := base64.StdEncoding.DecodeString(r["ciphertext"].(string))
				ct[3] ^= 1
				r["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
			}
		}, ErrDecryptFailed, "resource does not decrypt (AEAD_AES_256_GCM)"},
		{"associated_data tampered", func(f *fixture) {
			f.editResource = func(r map[string]any) { r["associated_data"] = "transaction" }
		}, ErrDecryptFailed, "or resource.ciphertext, nonce or associated_data was changed"},
		{"resource nonce tampered", func(f *fixture) {
			f.editResource = func(r map[string]any) { r["nonce"] = "fGhJ2kL3mN4q" }
		}, ErrDecryptFailed, "resource does not decrypt"},
		{"encrypted with another APIv3 key", func(f *fixture) { f.apiv3Key = otherKey }, ErrDecryptFailed, "the APIv3 key is not the one set at WeChat Pay"},
		{"payload not JSON", func(f *fixture) { f.payload = "openid=" + testOpenID }, ErrMalformed, "the decrypted resource is not a JSON object"},
		{"payload an array", func(f *fixture) { f.payload = `["` + testOpenID + `"]` }, ErrMalformed, "the decrypted resource is not a JSON object"},
		{"payload not a service order", func(f *fixture) {
			f.payload = `{"openid":"` + testOpenID + `","total_amount":"` + testOpenID + `"}`
		}, ErrMalformed, "the decrypted resource of PAYSCORE.USER_CONFIRM is not a service order: total_amount is a JSON string, want int64"},
	}
	v := publicKeyVerifier(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.change(&f)
			h, body := f.build(t)
			n, err := v.Decode(h, body)
			if n != nil || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, %v; want %s", n, err, tc.want.Reason)
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.want.Reason {
				t.Fatalf("not an *Error of %s: %#v", tc.want.Reason, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.says) {
				t.Errorf("message %q does not say %q", msg, tc.says)
			}
			for _, secret := range []string{c.APIv3Key, otherKey, testOpenID} {
				if strings.Contains(msg, secret) {
					t.Errorf("message %q holds a secret or the openid", msg)
				}
			}
			// The reason is refused for itself, not for another one too.
			for _, other := range []*Error{ErrMissingHeader, ErrBadHeader, ErrUnknownAlgorithm, ErrSignatureProbe, ErrUnknownSerial,
				ErrBadSignature, ErrStaleTimestamp, ErrMalformed, ErrDecryptFailed, ErrTooLarge} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("%v is also %s", err, other.Reason)
				}
			}
		})
	}
}

func del(name string) func(http.Header, []byte) []byte {
	return func(h http.Header, b []byte) []byte { h.Del(name); return b }
}

func set(name, value string) func(http.Header, []byte) []byte {
	return func(h http.Header, b []byte) []byte { h.Set(name, value); return b }
}

// The window is under 5 minutes on both sides: 4m59s passes, 5m0s does
// not (TestRefusals), whichever way the clocks differ.
func TestJustInsideTheWindow(t *testing.T) {
	v := publicKeyVerifier(t)
	for _, d := range []time.Duration{-MaxClockSkew + time.Second, MaxClockSkew - time.Second, 0} {
		f := newFixture(t)
		f.at = testNow.Add(d)
		h, body := f.build(t)
		if _, err := v.Decode(h, body); err != nil {
			t.Errorf("timestamp %v from the clock: %v", d, err)
		}
	}
	// The explicit signature type is the default one.
	f := newFixture(t)
	f.sigType = SignatureType
	h, body := f.build(t)
	if _, err := v.Decode(h, body); err != nil {
		t.Errorf("with %s: %s: %v", HeaderSignatureType, SignatureType, err)
	}
}

// The clock is the Verifier's: a notification signed now is stale to a
// reader whose clock is 10 minutes on, and fresh again once it moves back.
func TestTheClockIsInjected(t *testing.T) {
	c := creds(t)
	clock := testNow.Add(10 * time.Minute)
	v, err := NewVerifier(Config{PublicKeyID: c.PublicKeyID, PublicKey: c.WechatPayPublicKey(), APIv3Key: c.APIv3Key, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	h, body := newFixture(t).build(t)
	if _, err := v.Decode(h, body); !errors.Is(err, ErrStaleTimestamp) || !strings.Contains(err.Error(), "is 10m0s before this server's clock") {
		t.Errorf("clock 10 minutes on: %v", err)
	}
	clock = testNow
	if _, err := v.Decode(h, body); err != nil {
		t.Errorf("clock right: %v", err)
	}
}

func TestNewVerifierRefusesABadConfig(t *testing.T) {
	c := creds(t)
	pk := c.WechatPayPublicKey()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecCert := selfSigned(t, mustEC(t))
	cases := []struct {
		name string
		cfg  Config
		says string
	}{
		{"APIv3 key of 16 bytes", Config{PublicKeyID: c.PublicKeyID, PublicKey: pk, APIv3Key: c.APIv3Key[:16]}, "the APIv3 key is 16 bytes, want 32"},
		{"APIv3 key of 33 bytes", Config{PublicKeyID: c.PublicKeyID, PublicKey: pk, APIv3Key: c.APIv3Key + "x"}, "the APIv3 key is 33 bytes, want 32"},
		{"no APIv3 key", Config{PublicKeyID: c.PublicKeyID, PublicKey: pk}, "the APIv3 key is 0 bytes, want 32"},
		{"no key at all", Config{APIv3Key: c.APIv3Key}, "no WeChat Pay key"},
		{"id without key", Config{PublicKeyID: c.PublicKeyID, APIv3Key: c.APIv3Key}, "PublicKeyID is set without PublicKey"},
		{"key without id", Config{PublicKey: pk, APIv3Key: c.APIv3Key}, "PublicKey is set without PublicKeyID"},
		{"small public key", Config{PublicKeyID: c.PublicKeyID, PublicKey: &small.PublicKey, APIv3Key: c.APIv3Key}, "1024 bits, want at least 2048"},
		{"nil certificate", Config{Certificates: []*x509.Certificate{nil}, APIv3Key: c.APIv3Key}, "Certificates[0] is nil"},
		{"EC certificate", Config{Certificates: []*x509.Certificate{c.PlatformCertificate, ecCert}, APIv3Key: c.APIv3Key}, "Certificates[1] holds a *ecdsa.PublicKey key, want RSA"},
		{"small certificate key", Config{Certificates: []*x509.Certificate{selfSigned(t, small)}, APIv3Key: c.APIv3Key}, "Certificates[0] holds a 1024-bit key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(tc.cfg)
			if v != nil || err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, %v; want an error saying %q", v, err, tc.says)
			}
			if len(tc.cfg.APIv3Key) >= 16 && strings.Contains(err.Error(), tc.cfg.APIv3Key[:16]) {
				t.Errorf("the error holds the key: %v", err)
			}
		})
	}
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5157), Subject: pkix.Name{CommonName: "not WeChat Pay"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestFromRequest(t *testing.T) {
	v := publicKeyVerifier(t)
	h, body := newFixture(t).build(t)
	req := httptest.NewRequest(http.MethodPost, "/wechatpay/notify", strings.NewReader(string(body)))
	req.Header = h
	n, err := v.FromRequest(req)
	if err != nil || n.ServiceOrder == nil || n.ServiceOrder.OutOrderNo != "K17-0001" {
		t.Fatalf("%+v, %v", n, err)
	}

	// A body over the bound is refused before anything is parsed, whatever
	// it holds; one exactly at the bound is read whole (and, not being a
	// notification, refused for its signature).
	for _, size := range []int{MaxBodyBytes + 1, MaxBodyBytes} {
		req = httptest.NewRequest(http.MethodPost, "/wechatpay/notify", strings.NewReader(strings.Repeat(" ", size)))
		req.Header = h
		_, err = v.FromRequest(req)
		want := ErrBadSignature
		if size > MaxBodyBytes {
			want = ErrTooLarge
		}
		if !errors.Is(err, want) {
			t.Errorf("%d bytes: %v, want %s", size, err, want.Reason)
		}
	}

	// No body: refused as not signed for it.
	req = httptest.NewRequest(http.MethodPost, "/wechatpay/notify", nil)
	req.Body = nil
	req.Header = h
	if _, err := v.FromRequest(req); !errors.Is(err, ErrBadSignature) {
		t.Errorf("no body: %v", err)
	}

	// A body that cannot be read is not a refusal: nothing was received.
	req = httptest.NewRequest(http.MethodPost, "/wechatpay/notify", errReader{})
	req.Header = h
	_, err = v.FromRequest(req)
	var e *Error
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "reading the body") {
		t.Errorf("unreadable body: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// A Verifier is used by a server's goroutines at once.
func TestConcurrentDecodes(t *testing.T) {
	v := publicKeyVerifier(t)
	h, body := newFixture(t).build(t)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			_, err := v.Decode(h.Clone(), body)
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
