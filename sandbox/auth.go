package sandbox

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// AuthScheme is the only Authorization scheme WeChat Pay APIv3 accepts.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// MaxClockSkew is the largest accepted |now - timestamp|, exclusive, as in the SDK.
const MaxClockSkew = 300 * time.Second

type authParams struct {
	MchID, Nonce, Timestamp, SerialNo, Signature string
}

// parseAuthorization reads `SCHEME k="v",k="v",...` with the pairs in any
// order; unknown keys, duplicates, and anything unparsable are rejected.
func parseAuthorization(h string) (authParams, error) {
	var p authParams
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return p, fmt.Errorf("malformed Authorization header: want %q followed by parameters", AuthScheme)
	}
	if scheme != AuthScheme {
		return p, fmt.Errorf("unsupported Authorization scheme %q, want %q", scheme, AuthScheme)
	}
	seen := map[string]bool{}
	i := 0
	skipSpace := func() {
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t') {
			i++
		}
	}
	for {
		skipSpace()
		start := i
		for i < len(rest) && (rest[i] == '_' || rest[i] >= 'a' && rest[i] <= 'z') {
			i++
		}
		key := rest[start:i]
		if key == "" {
			return p, fmt.Errorf("malformed Authorization header at offset %d: want a parameter name", len(scheme)+1+i)
		}
		if i+1 >= len(rest) || rest[i] != '=' || rest[i+1] != '"' {
			return p, fmt.Errorf("malformed Authorization header: parameter %s must be %s=\"value\"", key, key)
		}
		i += 2
		end := strings.IndexByte(rest[i:], '"')
		if end < 0 {
			return p, fmt.Errorf("malformed Authorization header: unterminated value of %s", key)
		}
		val := rest[i : i+end]
		i += end + 1
		if seen[key] {
			return p, fmt.Errorf("malformed Authorization header: duplicate parameter %s", key)
		}
		seen[key] = true
		switch key {
		case "mchid":
			p.MchID = val
		case "nonce_str":
			p.Nonce = val
		case "timestamp":
			p.Timestamp = val
		case "serial_no":
			p.SerialNo = val
		case "signature":
			p.Signature = val
		default:
			return p, fmt.Errorf("malformed Authorization header: unknown parameter %s", key)
		}
		skipSpace()
		if i == len(rest) {
			break
		}
		if rest[i] != ',' {
			return p, fmt.Errorf("malformed Authorization header: unexpected %q after parameter %s", rest[i], key)
		}
		i++
	}
	for _, k := range []string{"mchid", "nonce_str", "timestamp", "serial_no", "signature"} {
		if !seen[k] {
			return p, fmt.Errorf("malformed Authorization header: missing parameter %s", k)
		}
	}
	return p, nil
}

func signError(msg string) *apiError {
	return newError(http.StatusUnauthorized, "SIGN_ERROR", msg)
}

// verifyRequest checks the merchant's signature the way WeChat Pay does.
func (s *Sandbox) verifyRequest(r *http.Request, body []byte) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return signError("missing Authorization header")
	}
	p, err := parseAuthorization(h)
	if err != nil {
		return signError(err.Error())
	}
	c := s.creds
	if p.MchID != c.MchID {
		return signError(fmt.Sprintf("unknown mchid %q in Authorization header", p.MchID))
	}
	if p.SerialNo != c.MerchantSerialNo {
		return signError(fmt.Sprintf("unknown merchant certificate serial_no %q in Authorization header", p.SerialNo))
	}
	if p.Nonce == "" {
		return signError("empty nonce_str in Authorization header")
	}
	ts, perr := strconv.ParseInt(p.Timestamp, 10, 64)
	if perr != nil || p.Timestamp == "" || p.Timestamp[0] == '+' || p.Timestamp[0] == '-' {
		return signError(fmt.Sprintf("timestamp %q in Authorization header is not unix seconds", p.Timestamp))
	}
	now := s.now().Unix()
	if skew := now - ts; skew >= int64(MaxClockSkew/time.Second) || -skew >= int64(MaxClockSkew/time.Second) {
		return signError(fmt.Sprintf("timestamp %d in Authorization header is expired: it differs from server time %d by 300 s or more", ts, now))
	}
	sig, derr := base64.StdEncoding.DecodeString(p.Signature)
	if derr != nil {
		return signError("signature in Authorization header is not base64")
	}
	// The request target exactly as the client sent (and signed) it: a
	// re-encoded URL would differ for a client that sends "|" raw.
	uri := r.RequestURI
	if uri == "" { // a handler called directly, without net/http's server
		uri = r.URL.RequestURI()
	}
	msg := r.Method + "\n" + uri + "\n" + p.Timestamp + "\n" + p.Nonce + "\n" + string(body) + "\n"
	sum := sha256.Sum256([]byte(msg))
	if rsa.VerifyPKCS1v15(&c.MerchantPrivateKey.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return signError("signature verification failed: the signed message must be METHOD\\nREQUEST_URI\\nTIMESTAMP\\nNONCE\\nBODY\\n signed with the merchant private key")
	}
	return nil
}

// signResponse sets the Wechatpay-* headers over body. The serial follows the
// client: the certificate serial if it asked for it, else the public key id.
func (s *Sandbox) signResponse(h http.Header, r *http.Request, body []byte) error {
	nonce, err := utils.GenerateNonce()
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	sig, err := utils.SignSHA256WithRSA(ts+"\n"+nonce+"\n"+string(body)+"\n", s.creds.PlatformPrivateKey)
	if err != nil {
		return err
	}
	serial := s.creds.PublicKeyID
	if r.Header.Get("Wechatpay-Serial") == s.certSerial {
		serial = s.certSerial
	}
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", AuthScheme) // as WeChat Pay's answers carry
	return nil
}
