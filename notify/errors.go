package notify

import "fmt"

// Reason says which check refused a notification, for a server to switch
// on (and log) without parsing messages.
type Reason string

// The reasons, in the order Decode checks them. Every one of them means
// the notification is not to be trusted; answer WeChat Pay with a non-2xx
// status and it sends the notification again later.
const (
	// ReasonTooLarge: the body is larger than MaxBodyBytes (FromRequest).
	ReasonTooLarge Reason = "BODY_TOO_LARGE"
	// ReasonMissingHeader: a Wechatpay-* header the signature needs is
	// absent or empty.
	ReasonMissingHeader Reason = "MISSING_HEADER"
	// ReasonBadHeader: a Wechatpay-* header is given twice, or
	// Wechatpay-Timestamp is not a number of seconds.
	ReasonBadHeader Reason = "BAD_HEADER"
	// ReasonUnknownAlgorithm: Wechatpay-Signature-Type or
	// resource.algorithm names an algorithm this package does not know.
	ReasonUnknownAlgorithm Reason = "UNKNOWN_ALGORITHM"
	// ReasonSignatureProbe: Wechatpay-Signature starts WECHATPAY/SIGNTEST/.
	// WeChat Pay sends such probes to check that merchants verify
	// signatures; a probe is not signed and must be refused like a forgery.
	ReasonSignatureProbe Reason = "SIGNATURE_PROBE"
	// ReasonUnknownSerial: Wechatpay-Serial is neither the configured
	// public key id nor the serial of a configured platform certificate.
	ReasonUnknownSerial Reason = "UNKNOWN_SERIAL"
	// ReasonBadSignature: the signature does not verify: the body,
	// Wechatpay-Timestamp or Wechatpay-Nonce was changed, or WeChat Pay's
	// key did not sign it.
	ReasonBadSignature Reason = "BAD_SIGNATURE"
	// ReasonStaleTimestamp: the signature verifies but Wechatpay-Timestamp
	// is MaxClockSkew or more from the reader's clock: a replay, or a
	// wrong clock on the merchant's server.
	ReasonStaleTimestamp Reason = "STALE_TIMESTAMP"
	// ReasonMalformed: the body, the resource or the decrypted payload is
	// not the JSON WeChat Pay sends (or its nonce or ciphertext is not
	// well formed).
	ReasonMalformed Reason = "MALFORMED"
	// ReasonDecryptFailed: AES-256-GCM does not open the resource: the
	// APIv3 key is not the one set at WeChat Pay, or the ciphertext,
	// nonce or associated_data was changed.
	ReasonDecryptFailed Reason = "DECRYPT_FAILED"
)

// Error is a refused notification. Its message names what is wrong and
// never holds the APIv3 key nor anything decrypted (an openid).
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "notify: " + string(e.Reason)
	}
	return "notify: " + e.Detail
}

// Is makes errors.Is(err, ErrBadSignature) and the like true for any
// *Error of that reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason && t.Detail == ""
}

// Sentinels for errors.Is, one per reason.
var (
	ErrTooLarge         = &Error{Reason: ReasonTooLarge}
	ErrMissingHeader    = &Error{Reason: ReasonMissingHeader}
	ErrBadHeader        = &Error{Reason: ReasonBadHeader}
	ErrUnknownAlgorithm = &Error{Reason: ReasonUnknownAlgorithm}
	ErrSignatureProbe   = &Error{Reason: ReasonSignatureProbe}
	ErrUnknownSerial    = &Error{Reason: ReasonUnknownSerial}
	ErrBadSignature     = &Error{Reason: ReasonBadSignature}
	ErrStaleTimestamp   = &Error{Reason: ReasonStaleTimestamp}
	ErrMalformed        = &Error{Reason: ReasonMalformed}
	ErrDecryptFailed    = &Error{Reason: ReasonDecryptFailed}
)

func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}
