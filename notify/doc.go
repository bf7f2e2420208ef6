// Package notify verifies and decrypts the notifications WeChat Pay posts
// to a merchant's notify_url, such as PAYSCORE.USER_CONFIRM (the user
// confirmed a Pay Score service order) and PAYSCORE.USER_PAID (its
// deduction succeeded).
//
// It is for the merchant's server, not the kiosk: a kiosk never receives
// these (it learns an order's state by query). It imports nothing of the
// plugin, only wechatpay-go's signature verifiers and the standard library.
//
//	v, err := notify.NewVerifier(notify.Config{
//		PublicKeyID: "PUB_KEY_ID_...", PublicKey: wechatPayPublicKey,
//		APIv3Key: apiV3Key,
//	})
//	...
//	http.HandleFunc("/wechatpay/notify", func(w http.ResponseWriter, r *http.Request) {
//		n, err := v.FromRequest(r)
//		if err != nil {
//			// Refused (or unreadable): WeChat Pay will send it again.
//			http.Error(w, `{"code":"FAIL","message":"refused"}`, http.StatusBadRequest)
//			return
//		}
//		// Handle n.ServiceOrder once per n.ID (deliveries repeat), then,
//		// within 5 seconds [V-off O-cb-*]:
//		w.Header().Set("Content-Type", "application/json")
//		w.Write([]byte(`{"code":"SUCCESS","message":"OK"}`)) // [V-sdk IM; V-org SK]
//	})
//
// # The checks and their sources
//
// The tags are those of the fact sheet (shared/design/wechatpay-serviceorder.md
// §5): [V-off] an official page, [V-sdk] an SDK, [V-org] WeChat Pay's own
// GitHub organisation's guide.
//
//	check                                                   refusal              source
//	Wechatpay-Serial, -Signature, -Timestamp, -Nonce given  MISSING_HEADER       [V-off O-cb-*]
//	  once each; Timestamp in Unix seconds                  BAD_HEADER           choice (see below)
//	Wechatpay-Signature-Type absent or                      UNKNOWN_ALGORITHM    [V-sdk wechatpay-go core/notify]
//	  WECHATPAY2-SHA256-RSA2048
//	Wechatpay-Signature not WECHATPAY/SIGNTEST/...          SIGNATURE_PROBE      [V-org SK]
//	Wechatpay-Serial is the public key id or a              UNKNOWN_SERIAL       [V-off O-cb-*]
//	  configured certificate's serial
//	SHA256withRSA over "timestamp\nnonce\nbody\n"           BAD_SIGNATURE        [V-sdk IM; V-org SK]
//	  (wechatpay-go's verifiers)
//	|clock - Wechatpay-Timestamp| < 5 minutes               STALE_TIMESTAMP      [V-sdk wechatpay-go validators]; choice
//	the body a JSON object with a resource object           MALFORMED            [V-off O-cb-*]
//	resource.algorithm AEAD_AES_256_GCM                     UNKNOWN_ALGORITHM    [V-off W-21, W-22]
//	resource.nonce 12 bytes, ciphertext base64              MALFORMED            [V-off W-21, W-22]
//	GCM opens with the APIv3 key and associated_data        DECRYPT_FAILED       [V-off W-21, W-22]
//	the plaintext a JSON object; for USER_CONFIRM and       MALFORMED            [V-sdk IM, DR; V-org SK]
//	  USER_PAID, a service order
//	the APIv3 key 32 bytes                                  NewVerifier's error  [V-off W-21]
//
// Choices where the sources are silent, which no other code depends on:
//   - The 5-minute window: the fact sheet gives none for notifications;
//     wechatpay-go's notify validator uses 5 minutes (consts.FiveMinute),
//     the same as for answers. It is checked only once the signature
//     verifies, so STALE_TIMESTAMP always means a notification WeChat Pay
//     did sign: a replay, or a wrong clock on this server.
//   - A header given twice, or a timestamp with a sign or more than 18
//     digits, is refused: the signed string holds the header's text, and
//     two readings of it must not exist.
//   - The envelope's other fields (id, event_type...) are not required:
//     once the signature verifies, refusing a field WeChat Pay chose to
//     leave out would only make it retry forever.
//
// # Why not wechatpay-go's core/notify handler
//
// The RSA check is wechatpay-go's own (core/auth/verifiers); the handler
// around it is not used, because it judges the timestamp on time.Now
// (no test can move it), takes a missing Wechatpay-Timestamp as 0 (refused
// as expired, not as missing), reads a body of any size, does not tell
// the signature probes from forgeries, lets a 16- or 24-byte APIv3 key
// through as AES-128 or AES-192, panics on a resource.nonce that is not
// 12 bytes, prints the whole request in its error, and returns untyped
// errors from which a server cannot tell a forgery from a wrong key.
// AES-GCM is the standard library's.
//
// Not done here: remembering notification ids (WeChat Pay redelivers;
// handle each id once), checking that the payload's mchid and appid are
// the merchant's, and a platform certificate's validity dates.
package notify
