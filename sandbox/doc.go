// Package sandbox is a local emulation of the WeChat Pay APIv3 smart-retail
// (Pay Score) order API, so that kiosk code is tested without credentials or
// internet. A plain wechatpay-go core.Client pointed at it (only the URL
// changes) cannot tell it from WeChat Pay: requests must carry a valid
// merchant signature, and every answer is signed with the platform key.
//
// It is independent of any client code: it imports only the standard library
// and wechatpay-go/utils, and validates requests on its own.
//
// # Use
//
//	creds, _ := sandbox.GenerateCredentials() // or LoadOrCreateCredentials(dir)
//	srv, _ := sandbox.NewServer(sandbox.Options{Credentials: creds})
//	defer srv.Close()
//	client, _ := core.NewClient(ctx, option.WithWechatPayPublicKeyAuthCipher(
//		creds.MchID, creds.MerchantSerialNo, creds.MerchantPrivateKey,
//		creds.PublicKeyID, creds.WechatPayPublicKey()))
//	client.Post(ctx, srv.URL+"/v3/payscore/smartretail-orders", body)
//	srv.Sandbox.Accept(outOrderNo) // the customer confirms
//
// Platform-certificate mode works too: option.WithWechatPayAuthCipher with
// []*x509.Certificate{creds.PlatformCertificate}.
//
// A Sandbox is an http.Handler; NewServer / Listen serve it on TCP
// (HTTP/1.1, needed for connection-reset faults). Server.ListenBackup (or
// httptest.NewServer(sb.Backup())) adds a second listener standing for
// WeChat Pay's backup domain; see Two domains. When ServeHTTP is called
// with a ResponseWriter that cannot be hijacked (httptest.ResponseRecorder,
// HTTP/2), offline and drop_response panic with http.ErrAbortHandler, which
// net/http turns into an aborted response.
//
// # Endpoints
//
// WeChat Pay (signed, under /v3/):
//
//	POST /v3/payscore/smartretail-orders                         create
//	GET  /v3/payscore/smartretail-orders?service_id&appid&(out_order_no|query_id)  query
//	POST /v3/payscore/smartretail-orders/{out_order_no}/cancel   cancel
//	POST /v3/payscore/smartretail-orders/{out_order_no}/complete complete
//	GET  /v3/payscore/user-service-state?service_id&appid&openid  the customer's authorisation
//
// Admin (JSON, unsigned, never faulted):
//
//	GET  /sandbox/orders                      all orders, oldest first
//	GET  /sandbox/orders/{out_order_no}       one order
//	POST /sandbox/orders/{out_order_no}/accept  CREATED -> USER_ACCEPTED
//	POST /sandbox/orders/{out_order_no}/pay     FINISHED (finish_type 2) -> USER_PAID
//	POST /sandbox/orders/{out_order_no}/expire  CREATED -> EXPIRED
//	GET  /sandbox/faults, PUT /sandbox/faults {"mode","probability","latency_ms"}
//	                                          this listener's faults (main or backup)
//	GET  /sandbox/clock, PUT /sandbox/clock {"offset":"-24h"}
//	                                          the sandbox's clock: {"offset",
//	                                          "now" (RFC 3339)}; offset is a Go
//	                                          duration (Sandbox.SetClockOffset)
//	GET  /sandbox/users/{openid}/service-state, PUT ... {"use_service_state":"UNAVAILABLE"}
//	                                          what user-service-state answers for
//	                                          the openid (Sandbox.SetUserServiceState)
//
// Every answer has a unique Request-ID; /v3/ answers, errors included, carry
// Wechatpay-Timestamp, -Nonce, -Signature, -Serial and -Signature-Type
// (WECHATPAY2-SHA256-RSA2048), except a 401 SIGN_ERROR: an answer to a
// request whose signature did not verify is not signed (see the rules).
//
// # Faults
//
// Faults apply to /v3/ only, each listener's its own (see Two domains).
// latency_ms is slept first (abandoned if the client goes away, with no
// work done); then, with the given probability:
// offline resets the TCP connection without doing anything; error answers 500
// SYSTEM_ERROR; rate_limit answers 429 FREQUENCY_LIMITED with Retry-After: 1;
// drop_response does the work (state changes, create_requests counted) and
// then resets the connection, the ambiguous outcome a client must resolve by
// retrying with the same out_order_no or querying. In the Go API a zero
// Probability means 1 (it cannot be told from "absent"); in PUT /sandbox/faults
// an absent probability means 1 and an explicit 0 means never (mode none).
//
// # Two domains
//
// WeChat Pay publishes a backup API domain, api2.mch.weixin.qq.com, beside
// api.mch.weixin.qq.com (the shared design notes, wechatpay-smartretail.md
// "Endpoints" and wechatpay-serviceorder.md "Common rules", read in the
// official create page). Sandbox.Backup is that domain: a second handler,
// served by Server.ListenBackup (BackupURL; `smartretail sandbox
// --backup-addr`), that answers the same /v3/ API and admin API from the
// same orders and the same clock, signed with the same keys. Each domain
// has its own faults: Sandbox.SetFaults and /sandbox/faults on the main
// listener set the main's, Backup().SetFaults and /sandbox/faults on the
// backup listener the backup's, so a test can take the main domain down
// (offline) while the backup answers. Both draw from the one Options.Rand.
// WriteConfig writes api_backup_base_url (BackupURL) when a backup listener
// serves, and nothing otherwise: the plugin then uses no backup, since
// api_base_url is not WeChat Pay's.
//
// Assumed, as no source says otherwise: the two domains are one service
// with one state, so an order created on either is known to both, a create
// repeated on the other domain is an identical create (the same order,
// create_requests counted), and their clocks are the same.
//
// # Persistence
//
// With Options.Dir, orders are kept in Dir/orders.jsonl: one full JSON
// snapshot appended per change, the last line for an out_order_no wins. New
// replays and compacts it. A torn last line (crash mid-write) is dropped with
// a warning; any other corrupt line is an error naming the file and line.
// Faults and the clock offset are not persisted.
//
// A Dir belongs to one Sandbox at a time: New locks it for the sandbox's
// whole life (an exclusive flock on unix, LockFileEx on Windows) on
// Dir/sandbox.lock, a file that is never deleted and holds the holder's pid.
// A second Sandbox on the folder, in this process or another, is refused at
// once with a *DirInUseError naming the folder and that pid, having read
// or changed nothing else there; Close, or the holder's end, frees it.
// Listen and ListenDir bind their address before touching Dir, so a failed
// bind (address in use) creates and changes nothing. ListenDir, what
// `smartretail sandbox` runs, also keeps the credentials in Dir
// (LoadOrCreateCredentials, under the lock).
//
// # The rules, each with its source
//
// One table of every rule on a request's content or an order's state that
// the audit in the shared design notes (wechatpay-smartretail.md,
// "Corrections and stricter rules") found, with its source.
// verified: read in TheNorthMemory/wechatpay.js.org
// openapi/v3/payscore/smartretail-orders/* (JS), wechatpay-im/website
// openapi/v3/payscore/* (IM) or TheNorthMemory/wechatpay-openapi
// docs/v3/payscore/smartretail-orders*.yaml (OA, updated 2019.08.23).
// likely: only a 2019 vending-machine integration in Java whose comments
// copy the official tables (T1) or EvonDu/wechat-php-sdk
// src/module/Payscore.php (T2) say so. Where: c = the client
// (internal/plugin/wxpay, before sending and before queueing unless said), s = the
// sandbox (400 PARAM_ERROR on the field unless said).
//
//	rule                                               source                                    where
//	cancel only while CREATED; an accepted order is    verified: JS .../{out_order_no}/cancel.md  s: 400 INVALID_REQUEST "order state
//	  ended uncharged by complete with finish_type 1     ("用户确认订单后不可调用"), complete.md       invalid"; c: the plugin's rule book
//	                                                                                                 (internal/plugin/forward Before) sends a
//	                                                                                                 complete instead
//	complete only in USER_ACCEPTED                     verified: JS and OA complete               s: 400 INVALID_REQUEST; c: rule book
//	need_user_confirm defaults to true                 verified: OA smartretail-orders.yaml       s, c (nil sends nothing)
//	EXPIRED: still CREATED 1 hour after create         verified: OA (state enum)                  s
//	create: service_start_time required                likely: T1, T2 (checkRequire)              c, s
//	create: service_start_location required            likely: T1, T2                             c, s
//	create: service_introduction required, <= 20       likely: T1, T2; 20 in the seed notes        c, s
//	create: risk_amount required, > 0                  likely: T1, T2                             c, s
//	create: risk_amount <= the service's configured    likely: T1                                 s only (Options.MaxRiskAmount,
//	  risk amount                                                                                    default DefaultMaxRiskAmount:
//	                                                                                                 assumed, see below); the client
//	                                                                                                 cannot know it
//	create: openid required when need_user_confirm     likely: T1                                 c, s. T1 also says leave it out
//	  is false                                                                                       when true; the seed's own example
//	                                                                                                 sends both: accepted (assumed)
//	fees: at most 100                                  likely: T1                                 c, s
//	fee_name required, <= 20, unique in the order      likely: T1                                 c, s
//	fee_count 1..100, default 1                        likely: T1                                 c (0 is not sent), s (absent = 1,
//	                                                                                                 0 refused)
//	fee_amount >= 0, the line's total                  verified: OA "付费项目总金额"; >= 0 likely  c, s
//	discounts: at most 5                               verified: OA "最多包含5条商户优惠"           c, s
//	discount_name required, <= 20, unique              verified: OA maxLength 20; unique T1       c, s
//	discount_desc required, <= 30                      likely: T1                                 c, s
//	complete: discount_amount required, > 0            assumed (OA lists it, no rule)             c, s (>= 0)
//	complete: total_amount required                    likely: IM, T1                             c: always sent (Charge() when the
//	                                                                                                 host leaves it out); s
//	complete: total_amount >= 0                        verified: OA "大于等于0的数字"                c, s
//	complete: total_amount = fees less discounts       likely: IM, T1                             c, s (finish_type 2)
//	complete: total_amount <= the order's risk_amount  likely: T1                                 s (/total_amount); c: rule book
//	                                                                                                 (TOTAL_ABOVE_RISK_AMOUNT)
//	complete: total_amount 0 with finish_type 1        likely: T1; JS complete (amount 0 ends     c, s
//	                                                     by the cancel flag)
//	complete: cancel_reason required with finish_type  likely: T1                                 c, s. The client bounds a cancel's
//	  1, <= 30                                                                                       reason to 30 too, since a cancel
//	                                                                                                 may be sent as a complete; the
//	                                                                                                 cancel endpoint takes 50 (sibling
//	                                                                                                 API's string(50), assumed)
//	complete: real_service_end_location <= 20          likely: T1                                 c, s
//	complete: real_service_end_location left out with  likely: T1                                 c, s
//	  finish_type 1
//	complete: real_service_end_location left out when  likely: T1                                 c: WithoutRepeatedEndLocation (for
//	  equal to the start or planned end location                                                     the moment of sending, from a
//	                                                                                                 query); s: taken as left out (not
//	                                                                                                 recorded), not refused: no source
//	                                                                                                 says WeChat Pay refuses it
//	complete: finish_ticket required                   likely: T1, T2; OA "完结凭证"                c: ValidateToSend (only when
//	                                                                                                 sending: a query gives it); s
//	query: finish_ticket only in USER_ACCEPTED         likely: T1                                 s
//	complete: profit_sharing a required boolean        likely: T1; OA, JS, IM type boolean         c: always sent, false included; s
//	answers are signed only when the request's         the official signature page                s: 401 SIGN_ERROR unsigned; c
//	  signature verified; signed answers carry                                                       accepts unsigned 401s
//	  Wechatpay-Signature-Type
//	create, query, cancel and complete answers carry   verified: IM, OA, JS                       s
//	  mchid; user-service-state's does not             verified: IM user-service-state.md         s
//
// DefaultMaxRiskAmount (100000 fen) is an assumption: WeChat Pay sets the
// service's risk amount when the service is applied for, and no public
// source gives a value. It is the plugin's default offline_max_order_amount,
// so an order queued within the default limits is never above it; set
// Options.MaxRiskAmount to the merchant's own.
//
// # Assumptions where the public documentation is silent
//
//   - Error codes: appid not bound to the merchant is 400 INVALID_REQUEST with
//     "APPID_MCHID_NOT_MATCH" in the message; an unknown service_id is 403
//     NO_AUTH; an unknown order is 404 ORDER_NOT_EXIST; an unknown /v3/ path
//     is 404 NOT_FOUND and a wrong method 405 METHOD_NOT_ALLOWED, both answered
//     before the signature is checked, and signed (assumed: no source says
//     whether WeChat Pay signs them; the client never sends them). Signature
//     problems are 401 SIGN_ERROR, unsigned, with a message saying which
//     check failed. A body over 1 MiB is 400 PARAM_ERROR.
//   - Validation order: syntax (400 PARAM_ERROR, the first violation found,
//     detail.field a JSON pointer such as /fees/0/fee_amount, detail.location
//     body, query or uri_template), then appid, then service_id, then the
//     order's existence, then finish_ticket, then the state.
//   - Limits not in the table, taken from the sibling Pay Score API:
//     fee_amount required in a fee, fee_desc at most 30, service_start_location
//     and service_end_location at most 50, attach at most 256, openid at most
//     128, appid and service_id at most 32 (string(32) there).
//     Integers above 10^13 are rejected as too large. Unknown fields are ignored.
//   - Sizes: at most 100 fees (the design notes' corrections, "likely": a
//     2019 integration copying the official tables). finish_ticket at most
//     1024 characters is an assumption guarding memory, not a WeChat Pay rule:
//     no source states its length. The client (internal/plugin/wxpay) refuses the same
//     before sending or queueing, and never sends a body over MaxBodyBytes.
//     An error's detail.value echoes at most 256 bytes of the value. A
//     query's appid and service_id (32) and query_id (512, the sibling
//     API's string(512)) are bounded as in a body.
//   - Times are yyyyMMdd or yyyyMMddHHmmss in China Standard Time (+08:00)
//     and must be real calendar dates; the sandbox writes times it sets
//     (real_service_start_time on accept, real_service_end_time on complete
//     when not given, pay_succ_time) as yyyyMMddHHmmss.
//   - Repeated create: identical parameters (compared on the parsed, normalised
//     request, so key order and a spelled-out default do not matter) answer
//     200 with the same order (same order_id and package). The same
//     out_order_no with other parameters is 400 INVALID_REQUEST ("out_order_no
//     ... was already used with different parameters") and leaves the order
//     unchanged. create_requests counts every valid, signed create naming the
//     out_order_no, conflicting ones included.
//   - need_user_confirm=false creates the order directly in USER_ACCEPTED
//     (real_service_start_time set to now).
//   - complete with finish_type 2 -> FINISHED with the given fees and
//     discounts; total_amount must equal sum(fee_amount) - sum(discount_amount)
//     (fee_amount is the line total); discounts above the fees are
//     PARAM_ERROR /total_amount, and so is a total above the order's
//     risk_amount (checked after the state).
//   - complete with finish_type 1 -> FINISHED with finish_type 1,
//     total_amount 0, cancel_reason recorded, and never payable (pay is 409);
//     fees and discounts sent with it are checked and not recorded.
//   - complete is valid only in USER_ACCEPTED and cancel only in CREATED;
//     otherwise 400 INVALID_REQUEST "order state invalid". Neither is
//     idempotent: a retry after a lost answer gets INVALID_REQUEST, so
//     clients must query to resolve it.
//   - Expiry: an order still CREATED one hour (ExpireAfter) after creation, by
//     Options.Now, becomes EXPIRED when it is next read.
//   - Response serial: if the request's Wechatpay-Serial header names the
//     platform certificate serial, answers carry that serial (platform
//     certificate mode); otherwise they carry PublicKeyID (public-key mode, the
//     default for new merchants). Both are signed by the same platform key.
//   - The clock: Options.Now plus the clock offset (Options.ClockOffset,
//     SetClockOffset, PUT /sandbox/clock; at most MaxClockOffset, 100 years,
//     either way) is WeChat Pay's time. It drives expiry, answer timestamps
//     (Wechatpay-Timestamp and the Date header, which an unsigned 401 carries
//     too) and the 300 s request-signature window, so an offset of 5 minutes
//     or more makes a client on the machine's clock fail both ways, as a
//     kiosk whose clock is that far off fails against WeChat Pay. The window
//     is the official signature page's 5 minutes; that an answer's Date is
//     on the same clock as its Wechatpay-Timestamp is assumed (both are the
//     server's time). Changing the offset is a jump of WeChat Pay's time, not
//     the kiosk's: moving it an hour on expires CREATED orders. The offset
//     is kept in memory only, like faults.
//   - Query answers carry exactly the fields of the shared design notes
//     (no order_id, no query_id); order_id is in the create, cancel and
//     complete answers; query_id is visible through the admin API.
//   - miniprogram_appid, miniprogram_path and miniprogram_username are fixed
//     placeholders; package, finish_ticket, order_id, query_id and
//     finish_transaction_id are random; pay_type is "MchChannelPayType".
//   - Admin moves that the state machine forbids are 409 INVALID_STATE.
//   - user-service-state answers exactly appid, service_id, openid and
//     use_service_state (AVAILABLE or UNAVAILABLE), no mchid: verified,
//     wechatpay-im/website openapi/v3/payscore/user-service-state.md (the
//     official page is pay.weixin.qq.com/wiki/doc/apiv3/wxpay/payscore/chapter3_8.shtml).
//     Assumed: every openid is AVAILABLE until a test marks it UNAVAILABLE
//     (SetUserServiceState or the admin API; kept in memory only, like
//     faults); openid is at most 128 characters (the bound create uses),
//     refused as 400 PARAM_ERROR /openid without echoing it; create does not
//     consult the state, since no source says what it answers then.
package sandbox
