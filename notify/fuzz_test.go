package notify

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
)

// FuzzDecode: Decode never panics, whatever the headers and body; what it
// accepts verified and decrypted to a JSON object; what it refuses is an
// *Error. The fuzzer signs the body itself when asked, so that the
// envelope, GCM and payload checks behind the signature are reached too.
func FuzzDecode(f *testing.F) {
	fx := newFixture(f)
	h, body := fx.build(f)
	f.Add(body, h.Get(HeaderSerial), h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature), false)
	f.Add(body, h.Get(HeaderSerial), h.Get(HeaderTimestamp), h.Get(HeaderNonce), "", true)
	f.Add([]byte(`{"resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"x","ciphertext":"AAAA"}}`), h.Get(HeaderSerial), h.Get(HeaderTimestamp), "n", "", true)
	f.Add([]byte(`{"resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"123456789012","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}}`), h.Get(HeaderSerial), h.Get(HeaderTimestamp), "n", "", true)
	f.Add([]byte("null"), "", "", "", ProbePrefix, false)
	v := publicKeyVerifier(f)
	key := creds(f).PlatformPrivateKey
	f.Fuzz(func(t *testing.T, body []byte, serial, timestamp, nonce, signature string, signIt bool) {
		if signIt {
			if _, err := strconv.ParseUint(timestamp, 10, 63); err != nil {
				timestamp = strconv.FormatInt(testNow.Unix(), 10)
			}
			signature = sign(t, key, timestamp+"\n"+nonce+"\n"+string(body)+"\n")
		}
		h := http.Header{}
		for name, value := range map[string]string{HeaderSerial: serial, HeaderTimestamp: timestamp, HeaderNonce: nonce, HeaderSignature: signature} {
			h[name] = []string{value}
		}
		n, err := v.Decode(h, body)
		if err != nil {
			var e *Error
			if n != nil || !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("refusal %v with %v", err, n)
			}
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(n.Resource, &obj) != nil || obj == nil {
			t.Fatalf("accepted a resource that is not a JSON object: %q", n.Resource)
		}
		if isServiceOrderEvent(n.EventType) != (n.ServiceOrder != nil) {
			t.Fatalf("event %q with service order %v", n.EventType, n.ServiceOrder)
		}
	})
}
