// Package sandbox is a local emulation of WeChat Pay APIv3's two Pay Score
// order APIs, the smart-retail order API and the service-order API (see
// Service orders), so that kiosk code is tested without credentials or
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
// Service orders the same way: client.Post(ctx,
// srv.URL+"/v3/payscore/serviceorder", body), then
// srv.Sandbox.AcceptServiceOrder(outOrderNo) (or Accept) and, after the
// complete, PayServiceOrder (or Pay) for the deduction; the sandbox posts
// the notifications to the order's notify_url (see Notifications).
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
//	POST /v3/payscore/serviceorder                               service order: create
//	GET  /v3/payscore/serviceorder?service_id&appid&(out_order_no|query_id)  query
//	POST /v3/payscore/serviceorder/{out_order_no}/cancel         cancel
//	POST /v3/payscore/serviceorder/{out_order_no}/modify         modify (lower the amount)
//	POST /v3/payscore/serviceorder/{out_order_no}/complete       complete
//	POST /v3/payscore/serviceorder/{out_order_no}/pay            ask Pay Score to collect
//	POST /v3/payscore/serviceorder/{out_order_no}/sync           paid by other means
//
// Admin (JSON, unsigned, never faulted):
//
//	GET  /sandbox/orders                      all smart-retail orders, oldest first
//	GET  /sandbox/orders/{out_order_no}       one order (a service order when no
//	                                          smart-retail order has the number)
//	POST /sandbox/orders/{out_order_no}/accept  CREATED -> USER_ACCEPTED
//	POST /sandbox/orders/{out_order_no}/pay     FINISHED (finish_type 2) -> USER_PAID
//	POST /sandbox/orders/{out_order_no}/expire  CREATED -> EXPIRED
//	                                          (these three, like Sandbox.Accept,
//	                                          Pay and Expire, act on the service
//	                                          order when no smart-retail order
//	                                          has the number)
//	GET  /sandbox/serviceorders               all service orders, oldest first
//	GET  /sandbox/serviceorders/{out_order_no}  one service order
//	POST /sandbox/serviceorders/{out_order_no}/accept  the customer confirms
//	POST /sandbox/serviceorders/{out_order_no}/pay     Pay Score's deduction succeeds
//	POST /sandbox/serviceorders/{out_order_no}/expire  CREATED -> EXPIRED
//	PUT  /sandbox/serviceorders/{out_order_no}/deductions {"fail":true}
//	                                          its deductions fail (or succeed again)
//	GET  /sandbox/notifications               the notifications posted (Notifications)
//	GET  /sandbox/faults, PUT /sandbox/faults {"mode","probability","latency_ms"}
//	                                          this listener's faults (main or backup)
//	GET  /sandbox/clock, PUT /sandbox/clock {"offset":"-24h"}
//	                                          the sandbox's clock: {"offset",
//	                                          "now" (RFC 3339)}; offset is a Go
//	                                          duration (Sandbox.SetClockOffset)
//	GET  /sandbox/users/{openid}/service-state, PUT ... {"use_service_state":"UNAVAILABLE"}
//	                                          what user-service-state answers for
//	                                          the openid (Sandbox.SetUserServiceState)
//	GET  /sandbox/ratelimit, PUT /sandbox/ratelimit {"rate":100,"burst":100,"retry_after_seconds":1}
//	                                          the merchant's rate limit, both
//	                                          domains together; rate 0 lifts it
//	                                          (Sandbox.SetRateLimit)
//	GET  /sandbox/requests, DELETE /sandbox/requests
//	                                          the request log: requests, 429s of
//	                                          the limit, each second's, creates
//	                                          per out_order_no (Sandbox.RequestLog)
//
// Every answer has a unique Request-ID; /v3/ answers, errors included, carry
// Wechatpay-Timestamp, -Nonce, -Signature, -Serial and -Signature-Type
// (WECHATPAY2-SHA256-RSA2048), except a 401 SIGN_ERROR: an answer to a
// request whose signature did not verify is not signed (see the rules).
//
// # The merchant's rate limit
//
// WeChat Pay limits a merchant's calls and answers the excess 429
// FREQUENCY_LIMITED (both APIs' error tables); no source gives the figures
// or how it counts. The sandbox assumes a token bucket per merchant, over
// both domains: Rate tokens a second up to Burst, one per /v3/ request
// (after the latency and any offline fault, before anything else), the
// refusal signed like any answer, with Retry-After (retry_after_seconds,
// default 1), and nothing done for it.
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
// Service orders are kept the same way in Dir/serviceorders.jsonl
// (ServiceOrdersFile), a file of their own, so that a folder written
// before service orders existed opens as it is. Faults, the clock offset
// and notifications are not persisted.
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
// These are the smart-retail orders'; service orders have theirs under
// Service-order rules. One table of every rule on a request's content or an order's state that
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
//   - A smart-retail complete's times: no source of this API states a rule
//     for them. The service-order pages state two for their complete
//     (wechatpay-serviceorder.md section 1.5: the real end not after the
//     moment of the complete call, 实际结束时间不能晚于使用完结接口的时间;
//     not before the start, 真实结束时间小于预计开始时间), and the
//     smart-retail complete has the same fields for the same thing
//     (real_service_start_time, real_service_end_time). The sandbox assumes
//     them here too: real_service_end_time not after the complete arrives
//     (the day, for yyyyMMdd), and not before the real start: the
//     complete's real_service_start_time when given, else the moment the
//     order started (its confirmation, or its create when it needs none).
//     Both 400 PARAM_ERROR on /real_service_end_time.
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
//
// # Service orders
//
// The Pay Score service-order API, /v3/payscore/serviceorder, the one WeChat
// Pay documents today for smart retail on unmanned devices (智慧零售(无人设备)).
// Its facts come from the shared design notes' wechatpay-serviceorder.md
// ("the fact sheet"), whose source keys and tags are used here: [V-off] an
// official WeChat Pay page, [V-sdk] an SDK or OpenAPI model, [V-org] the
// official GitHub org's skill guide, [C] community material, [I] inference.
// The endpoints share everything but their rules with the smart-retail
// ones: signatures, signed answers, faults, both domains, the clock,
// persistence and Request-ID. The sandbox's service (Credentials.ServiceID)
// is a smart-retail one, so the smart-retail post_payments profile [V-off
// O-retail] always applies.
//
// The state machine (the fact sheet's section 3; state_description only
// while DOING):
//
//	from                     call                               to
//	-                        create, need_user_confirm true     CREATED
//	-                        create, need_user_confirm false    DOING+USER_CONFIRM
//	CREATED                  accept (AcceptServiceOrder)        DOING+USER_CONFIRM; PAYSCORE.USER_CONFIRM
//	CREATED                  30 days unchanged, or expire       EXPIRED
//	CREATED, DOING (any)     cancel                             REVOKED
//	DOING+USER_CONFIRM       complete, total_amount > 0         DOING+MCH_COMPLETE, collection USER_PAYING
//	DOING+USER_CONFIRM       complete, total_amount 0           DONE, collection USER_PAID (nothing to pay)
//	DOING+MCH_COMPLETE       modify (once, lower)               DOING+MCH_COMPLETE, amounts lowered
//	DOING+MCH_COMPLETE       pay, or PayServiceOrder            DONE, USER_PAID, a NEWTON detail; PAYSCORE.USER_PAID
//	DOING+MCH_COMPLETE       pay while deductions fail          unchanged: still awaiting payment
//	DOING+MCH_COMPLETE       sync                               DONE, USER_PAID, an MCH detail
//
// Any other call on an order is refused: on a REVOKED order 400
// ORDER_CANCELED, on a DONE one 400 ORDER_DONE, otherwise 400
// INVALID_ORDER_STATE; an unknown order is 404 ORDER_NOT_EXIST (the fact
// sheet's section 4, [V-off] partner and acquiring-bank error tables; the
// merchant pages' tables were not readable and are presumed the same).
// The customer's side and Pay Score's are Go methods and admin routes:
// AcceptServiceOrder, PayServiceOrder, ExpireServiceOrder,
// FailServiceOrderDeductions; ServiceOrder and ServiceOrders read them
// (create_requests included).
//
// # Service-order rules, each with its source
//
// Each is checked by the sandbox: 400 PARAM_ERROR with detail.field the
// JSON pointer of the first violation (location body, query or
// uri_template), before the ids, the order's existence and its state,
// unless said otherwise.
//
//	rule                                               source                         sandbox
//	create, query, paths: out_order_no 1..32 of        [V-off O-create] (the current  PARAM_ERROR; * refused (see
//	  0-9 A-Z a-z _ - |                                  merchant page)                 Where the sources conflict)
//	appid and service_id required, string(32)         [V-off O-create, O-complete,   PARAM_ERROR; then 400
//	                                                     O-modify, O-pay, W-20]         INVALID_REQUEST APPID_MCHID_NOT_MATCH,
//	                                                                                    403 NO_AUTH as smart retail
//	create: service_introduction required, <= 20       [V-off O-create]
//	create: post_payments left out or empty            [V-off O-retail; V-sdk IM]
//	post_discounts <= 30; name required, <= 20,        [V-off O-create; V-sdk EV      name required: assumed
//	  unique; description with the name, <= 30           (together)]
//	create: time_range required, start_time required,  [V-sdk EV; Y pattern]
//	  yyyyMMdd, yyyyMMddHHmmss or OnAccept; end_time
//	  yyyyMMdd or yyyyMMddHHmmss
//	create: start_time to the second not before the    [V-sdk EV (old wiki)]          "after the call" there; the call's
//	  call; a day not before the call's day                                            own second is taken (a kiosk's now
//	                                                                                    is rounded): assumed
//	create: end_time to the second after start_time    [V-sdk EV (old wiki)]
//	  and more than 1 minute after the call; a day not
//	  before start_time's day nor the call's
//	start_time_remark, end_time_remark <= 20           [V-sdk EV]                     see conflicts (Y: 50)
//	location: start_location, end_location <= 50;      [V-sdk EV; Y]
//	  end_location only with start_location
//	create: risk_fund required; name DEPOSIT, ADVANCE, [V-sdk EV, Y, GP; V-org SK]    Y's UDEPOSIT (a typo) refused
//	  CASH_DEPOSIT or ESTIMATE_ORDER_COST; amount > 0;
//	  description <= 30
//	create: risk_fund.amount <= the service's cap      [V-sdk EV; V-org SK message]   Options.MaxRiskAmount (default
//	                                                                                    DefaultMaxRiskAmount, assumed);
//	                                                                                    checked after the ids
//	create: attach <= 256                              [V-off O-create]
//	create: notify_url required, <= 255, https, no     [V-off O-create; W-21]         http to a loopback host taken too
//	  query                                                                             (see Notifications)
//	create: openid required when need_user_confirm is  [V-sdk EV (old wiki)]          <= 128 (maxOpenID), never echoed
//	  false, left out when it is true
//	device: start_device_id, end_device_id,            [V-off O-changelog]            <= 64 each: assumed, no source
//	  materiel_no (create, modify, complete)                                            gives lengths
//	create: the same out_order_no with the same        [V-off O-create 原参重入;       compared on the parsed request
//	  parameters is the same order; with others 400      O-p-collect error table]       (key order, a spelled-out
//	  INVALID_REQUEST                                                                   default do not matter);
//	                                                                                    create_requests counts both
//	query: service_id and appid required; exactly one  [V-off O-query]               query_id <= 512 [V-off O-query]
//	  of out_order_no and query_id
//	complete only in DOING+USER_CONFIRM                [V-sdk Y/JS; V-off acquiring-   INVALID_ORDER_STATE (state rules
//	                                                     bank complete page]            come after the syntax)
//	complete, modify: post_payments required, 1..100;  [V-off O-retail; O-create      the smart-retail profile; the
//	  each named exactly 商品信息, description 1..30      (<=100, count [1,100])]        general rules (name <= 20, unique
//	  (the product), count 1..100, amount >= 0 (the                                     but for 商品信息, amount or
//	  line's total)                                                                     description with a name) hold
//	                                                                                    within it
//	complete, modify: post_discounts' amount required  assumed (the sum needs it)
//	complete, modify: total_amount required, =         [V-off O-complete; V-org SK    /total_amount
//	  sum(post_payments.amount) - sum(post_discounts.    最终总金额计算非法]
//	  amount)
//	complete, modify: total_amount <= risk_fund.amount [V-off O-complete]             after the state
//	  for DEPOSIT, ADVANCE, CASH_DEPOSIT (先免)
//	complete, modify: total_amount <= the service's    [V-off O-complete]             Options.MaxRiskAmount; after the
//	  cap, whatever the risk fund                                                       state
//	complete: time_range.end_time required when        [V-sdk EV; C B-csdn19]
//	  create gave none
//	complete: times of the precision of create's       [V-sdk EV]                     for a start_time given at create
//	  start_time (to the second for OnAccept)
//	complete: end_time not after the call              [V-sdk EV; C]
//	complete: end_time not before the start (for       [V-sdk EV; C B-csdn19          the same second is taken, as
//	  OnAccept, the confirmation's second)               真实结束时间小于预计开始时间]   the message says "less than"
//	complete: location only end_location, <= 50, only  [V-sdk EV; Y]
//	  when create gave a start_location
//	complete: profit_sharing boolean; goods_tag <= 32  [V-sdk EV/Y]
//	modify only while DOING+MCH_COMPLETE, collection   [V-off O-modify]               INVALID_ORDER_STATE
//	  USER_PAYING
//	modify only lowers: total_amount below the current [V-off O-modify; W-17]         /total_amount
//	modify at most once                                see conflicts                  INVALID_ORDER_STATE
//	modify: reason required, <= 50                     [V-off O-modify]
//	cancel in CREATED and DOING+USER_CONFIRM           [V-off O-cancel]
//	cancel in DOING+MCH_COMPLETE                       see conflicts                  allowed
//	cancel: reason required, <= 50; the same call      [V-off O-cancel; W-16]         a repeat with the same reason
//	  may be repeated                                                                   answers 200 again; another
//	                                                                                    reason ORDER_CANCELED
//	cancel: service_id                                 see conflicts                  optional, checked when given
//	pay only while DOING+MCH_COMPLETE (待支付)          [V-off O-pay]
//	sync only while DOING+MCH_COMPLETE; after a        [V-off W-20; C C-done]
//	  deduction ORDER_DONE
//	sync: type "Order_Paid", detail.paid_time          [V-off W-20; V-sdk Y]
//	  yyyyMMddHHmmss or yyyyMMdd required
//	EXPIRED: CREATED and unchanged for 30 days (by     [V-off O-p query pages;        lazily, when next read, like
//	  the sandbox's clock); never after complete         V-org SK; V-off O-complete]    smart retail
//
// Not checked, since the sandbox cannot know it: that a 先免 order whose
// customer paid a deposit cannot be modified [V-off O-modify]; which
// sub-mode (先免 or 先享) and which confirmation mode the service_id was
// granted (NO_AUTH [C C-noauth]); one post_payments entry per product
// [V-off O-retail]; a package used once [C C-pkg]; "单据正在扣款中" (its
// deductions take no time here).
//
// # Where the sources conflict, and what the sandbox picked
//
// Code using the sandbox must not depend on these picks; each is one of the
// readings a source supports.
//
//   - Cancel while awaiting payment (DOING+MCH_COMPLETE): the official cancel
//     page (O-cancel, 2025.02.13) and the old wiki (W-16, which warns
//     against cancelling by mistake) allow it; SK (Request-Id code
//     271316592) and the partner API list ("完结前") do not. Picked: allowed
//     (the official page), the order REVOKED.
//   - How many modifies: the old wiki (W-17) allows several, each lower than
//     the one before; the partner API list (2024.03.04) says "只能修改1次".
//     Picked: once; a second is 400 INVALID_ORDER_STATE.
//   - A second complete on a completed order: not documented officially; SK
//     says re-complete is allowed (unverified). Picked: refused, 400
//     INVALID_ORDER_STATE; a complete whose answer was lost is resolved by
//     query.
//   - out_order_no's charset: the current merchant create page says
//     数字、大小写字母_-|; the partner and old-wiki pages add *. Picked: the
//     merchant page, * refused.
//   - need_user_confirm absent: EV calls it required, SK defaults it to
//     true, GP's comment to false. Picked: true (SK). A client should always
//     send it.
//   - post_discounts' amount at create: EV says not to send it and Y/IM have
//     none; SK's official sample sends it. Picked: accepted (not used).
//   - end_time_remark: 20 per EV, 50 per Y. Picked: 20.
//   - cancel's service_id: 选填 on the 需确认 page (O-cancel 2025.02.13),
//     必填 on the 免确认 page and in Y. Picked: optional, checked when given.
//   - pay's answer: the official page lists appid, out_order_no,
//     service_id, order_id; Y adds mchid. Picked: the official page.
//
// # Service-order assumptions where the sources are silent
//
//   - Deductions: the sandbox never deducts on its own, where WeChat Pay
//     retries "按照一定频率…直到扣款成功" after complete. PayServiceOrder
//     (POST /sandbox/serviceorders/{out_order_no}/pay, or Sandbox.Pay) is a
//     deduction succeeding; the merchant's pay deducts at once. While an
//     order's deductions fail (FailServiceOrderDeductions), the merchant's
//     pay answers 200 (the request is taken) and the order stays awaiting
//     payment, and PayServiceOrder is refused (admin: 409 INVALID_STATE).
//   - A complete at total_amount 0 has nothing to collect: DONE at once,
//     need_collection false, collection USER_PAID with zero amounts and no
//     detail, no notification. need_collection is true after a complete
//     above 0 (its meaning is NOT FOUND).
//   - A 需确认 order's openid is drawn on accept ("oSandbox…"): WeChat Pay
//     knows who confirmed; the query and notifications carry it.
//   - Answers carry the fields their models list (the fact sheet's sections
//     1.1-1.7): create the order body with package, without total_amount,
//     collection or openid; query, modify and sync the full order body
//     (openid, collection, notify_url); complete the body without
//     collection, attach, notify_url or openid; cancel appid, mchid,
//     out_order_no, service_id, order_id; pay as above.
//   - complete's time_range replaces create's start (and its remark) and end
//     when given; its location sets end_location; its device ids are
//     merged over create's.
//   - Service orders are a namespace of their own: a smart-retail order
//     and a service order may have the same out_order_no (the create page's
//     uniqueness is said of service orders). order_id ("1000…"),
//     transaction_id ("4200…"), package and query_id are random; query_id
//     is in the admin view, as the real one reaches the merchant's front
//     end from the confirm page.
//
// # Notifications
//
// When a 需确认 order is confirmed the sandbox posts PAYSCORE.USER_CONFIRM,
// and when a deduction succeeds (the merchant's pay or PayServiceOrder)
// PAYSCORE.USER_PAID [V-off O-cb-confirm, O-cb-paid], to the order's
// notify_url. Nothing is posted for a 免确认 create (nobody confirms), a
// sync (nothing was deducted) or a complete at 0.
//
// The body is the envelope of [V-off O-cb-*]: id (36 characters),
// create_time (RFC 3339, +08:00), event_type, resource_type
// "encrypt-resource", summary (确认订单 or 支付成功) and resource {algorithm
// "AEAD_AES_256_GCM", ciphertext (base64 of the sealed text with its tag),
// nonce (12 characters), associated_data "payscore" (assumed: no source
// gives Pay Score's), original_type "payscore"}. The plaintext is the order
// as the query answers it, without notify_url [V-sdk IM, DR; V-org SK],
// sealed with the merchant's APIv3 key (Credentials.APIv3Key) [V-off
// W-21/W-22]. It is signed like an answer, with the platform key over
// "timestamp\nnonce\nbody\n" [V-sdk IM; V-org SK]: Wechatpay-Timestamp (the
// sandbox's clock), -Nonce, -Signature, -Serial (the PublicKeyID: there is
// no request to follow, so public-key mode) and -Signature-Type. The
// WECHATPAY/SIGNTEST/ probes [V-org SK] are not sent.
//
// A delivery succeeds on any 2xx answer within NotifyTimeout (5 s, the
// official pages' limit) [V-off O-cb-*; V-sdk IM]. WeChat Pay retries at
// 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h, 24h4m in all
// [V-sdk IM] (the old wiki's schedule differs [V-off W-21]); the sandbox
// retries after each of Options.NotifyRetryDelays, by default the first four
// of those (DefaultNotifyRetryDelays), then gives up. A retry is the same
// body (the same id) signed afresh. Sandbox.Notifications, GET
// /sandbox/notifications and Options.OnNotify (after each attempt) show
// what was posted and how it went; they are kept in memory only, and Close
// ends the deliveries still pending.
//
// WeChat Pay requires an https notify_url [V-off W-21]. The sandbox also
// takes http to a loopback host (localhost, 127.0.0.0/8, ::1), so that a
// merchant's server on the same machine, or a test's httptest server, can
// receive notifications without a certificate; WeChat Pay would refuse such
// a create. By default notifications go to loopback addresses only: a
// sandbox does not send order data off the machine, and another host is not
// even looked up (the notification records why it was not posted).
// Options.NotifyClient reaches other hosts, or trusts a TLS receiver's
// certificate.
package sandbox
