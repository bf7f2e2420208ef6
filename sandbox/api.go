package sandbox

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxBodyBytes bounds /v3/ request bodies.
const MaxBodyBytes = 1 << 20

const ordersPath = "/v3/payscore/smartretail-orders"

// v3Handler does the work of one endpoint and returns the answer.
type v3Handler func(r *http.Request, body []byte) (int, any)

// routeV3 picks the endpoint; unknown paths and methods are answered before
// the signature is checked.
func (s *Sandbox) routeV3(r *http.Request) (v3Handler, *apiError) {
	p := r.URL.Path
	method := func(want string, h v3Handler) (v3Handler, *apiError) {
		if r.Method != want {
			e := newError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
				fmt.Sprintf("%s is not allowed on %s, use %s", r.Method, p, want))
			return nil, e
		}
		return h, nil
	}
	switch {
	case p == ordersPath:
		switch r.Method {
		case http.MethodPost:
			return s.handleCreate, nil
		case http.MethodGet:
			return s.handleQuery, nil
		}
		return nil, newError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
			fmt.Sprintf("%s is not allowed on %s, use GET or POST", r.Method, p))
	case strings.HasPrefix(p, ordersPath+"/"):
		no, action, ok := strings.Cut(strings.TrimPrefix(p, ordersPath+"/"), "/")
		if ok && !strings.Contains(action, "/") {
			switch action {
			case "cancel":
				return method(http.MethodPost, func(r *http.Request, b []byte) (int, any) { return s.handleCancel(no, b) })
			case "complete":
				return method(http.MethodPost, func(r *http.Request, b []byte) (int, any) { return s.handleComplete(no, b) })
			}
		}
	case p == "/v3/payscore/user-service-state":
		return method(http.MethodGet, s.handleUserServiceState)
	case p == serviceOrderPath || strings.HasPrefix(p, serviceOrderPath+"/"):
		if h, e, ok := s.routeServiceOrder(r); ok {
			return h, e
		}
	}
	return nil, newError(http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("no WeChat Pay API at %s %s", r.Method, p))
}

func (s *Sandbox) serveV3(w http.ResponseWriter, r *http.Request, d *domain) {
	start := s.now()
	f, fault := s.pickFaultOf(d)
	// net/http notices a client that went away only once the handler has
	// read the request body to its end: read it before the latency, so that
	// a request abandoned during the latency ends there with no work done.
	body, bodyErr := readBody(r, MaxBodyBytes)
	if !sleep(r.Context(), time.Duration(f.LatencyMS)*time.Millisecond) {
		s.logf("%s: %s %s: client went away during latency", d.name, r.Method, logURI(r))
		return
	}
	if fault != FaultOffline && !s.admit(r, body) {
		// The merchant's rate limit, shared by both domains.
		w.Header().Set("Retry-After", strconv.Itoa(s.RateLimit().RetryAfterSeconds))
		s.answer(w, r, http.StatusTooManyRequests, newError(http.StatusTooManyRequests,
			"FREQUENCY_LIMITED", "frequency limited: the merchant's calls are over its rate limit, retry later"))
		s.logf("%s: %s %s -> 429 (merchant rate limit)", d.name, r.Method, logURI(r))
		return
	}
	switch fault {
	case FaultOffline:
		s.logf("%s: %s %s: fault offline, connection reset", d.name, r.Method, logURI(r))
		resetConn(w)
		return
	case FaultError:
		s.answer(w, r, http.StatusInternalServerError, newError(http.StatusInternalServerError,
			"SYSTEM_ERROR", "system error (injected fault), retry with the same parameters"))
		return
	case FaultRateLimit:
		w.Header().Set("Retry-After", "1")
		s.answer(w, r, http.StatusTooManyRequests, newError(http.StatusTooManyRequests,
			"FREQUENCY_LIMITED", "frequency limited (injected fault), retry later"))
		return
	}

	status, resp := s.handleV3(r, body, bodyErr)
	if fault == FaultDropResponse {
		s.logf("%s: %s %s -> %d done, fault drop_response, connection reset", d.name, r.Method, logURI(r), status)
		resetConn(w)
		return
	}
	s.answer(w, r, status, resp)
	s.logf("%s: %s %s -> %d (%s)", d.name, r.Method, logURI(r), status, s.now().Sub(start))
}

// handleV3 answers a /v3/ request whose body (and the error reading it)
// serveV3 has read.
func (s *Sandbox) handleV3(r *http.Request, body []byte, err error) (int, any) {
	h, rerr := s.routeV3(r)
	if rerr != nil {
		return rerr.status, rerr
	}
	if err != nil {
		return http.StatusBadRequest, newError(http.StatusBadRequest, "PARAM_ERROR", "cannot read request body: "+err.Error())
	}
	if len(body) > MaxBodyBytes {
		return http.StatusBadRequest, newError(http.StatusBadRequest, "PARAM_ERROR",
			fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes))
	}
	if aerr := s.verifyRequest(r, body); aerr != nil {
		return aerr.status, aerr
	}
	return h(r, body)
}

// answer writes a /v3/ answer, signed unless it refuses the request's
// signature: WeChat Pay signs only answers to requests whose signature
// verified (the official signature page), so a 401 SIGN_ERROR goes unsigned.
func (s *Sandbox) answer(w http.ResponseWriter, r *http.Request, status int, v any) {
	body := marshal(v)
	if e, ok := v.(*apiError); ok && e.Code == "SIGN_ERROR" {
		// Unsigned, as WeChat Pay answers a request it could not verify.
	} else if err := s.signResponse(w.Header(), r, body); err != nil {
		s.logf("sandbox: sign answer: %v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	// The Date header on the sandbox's clock, as WeChat Pay's is on its
	// own: an unsigned 401 says the time only there.
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func fail(e *apiError) (int, any) { return e.status, e }

func systemError(err error) (int, any) {
	return fail(newError(http.StatusInternalServerError, "SYSTEM_ERROR", "system error: "+err.Error()))
}

// checkIDs applies the merchant binding checks after the syntax checks.
func (s *Sandbox) checkIDs(appID, serviceID string) *apiError {
	if appID != s.creds.AppID {
		return newError(http.StatusBadRequest, "INVALID_REQUEST",
			fmt.Sprintf("APPID_MCHID_NOT_MATCH: appid %s is not bound to mchid %s", appID, s.creds.MchID))
	}
	if serviceID != s.creds.ServiceID {
		return newError(http.StatusForbidden, "NO_AUTH",
			fmt.Sprintf("service_id %s is not enabled for mchid %s", serviceID, s.creds.MchID))
	}
	return nil
}

func orderNotExist(what string) *apiError {
	return newError(http.StatusNotFound, "ORDER_NOT_EXIST", "order does not exist: "+what)
}

func stateInvalid(o *Order) *apiError {
	return newError(http.StatusBadRequest, "INVALID_REQUEST", "order state invalid: order is "+o.State)
}

func (s *Sandbox) handleCreate(_ *http.Request, body []byte) (int, any) {
	req, perr := parseCreate(body)
	if perr != nil {
		return fail(perr)
	}
	if e := s.checkIDs(req.AppID, req.ServiceID); e != nil {
		return fail(e)
	}
	if max := s.maxRiskAmount; *req.RiskAmount > max {
		return fail(paramError(locBody, "/risk_amount", *req.RiskAmount,
			fmt.Sprintf("must not be above the service's configured risk amount, %d", max)))
	}
	fp := req.fingerprint()

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.lookup(req.OutOrderNo); ok {
		n := old.clone()
		n.CreateRequests++
		p, err := s.commit(n)
		if err != nil {
			return systemError(err)
		}
		if old.CreateFingerprint != fp {
			return fail(newError(http.StatusBadRequest, "INVALID_REQUEST",
				fmt.Sprintf("out_order_no %s was already used with different parameters", req.OutOrderNo)))
		}
		return http.StatusOK, p.createResponse()
	}

	now := s.now()
	o := Order{
		AppID: req.AppID, MchID: s.creds.MchID, OutOrderNo: req.OutOrderNo, ServiceID: req.ServiceID,
		OrderID: s.newOrderID(now), QueryID: s.newQueryID(), State: StateCreated,
		ServiceStartTime: req.ServiceStartTime, ServiceEndTime: req.ServiceEndTime,
		ServiceStartLocation: req.ServiceStartLocation, ServiceEndLocation: req.ServiceEndLocation,
		ServiceIntroduction: req.ServiceIntroduction, Fees: req.Fees, Discounts: req.Discounts,
		RiskAmount: req.RiskAmount, Attach: req.Attach, OpenID: req.OpenID,
		NeedUserConfirm: req.NeedUserConfirm,
		FinishTicket:    randString(alnum, 32),

		MiniprogramBusinesstype: "wxpayScoreUse",
		MiniprogramAppID:        "wxd8f3793ea3b935b8",
		MiniprogramPath:         "pages/use/use",
		MiniprogramUsername:     "gh_1a2b3c4d5e6f",
		Package:                 randString(alnum, 48),

		CreateRequests:    1,
		CreateFingerprint: fp,
		CreatedAt:         now.UTC(),
	}
	if !req.NeedUserConfirm {
		// No confirmation step: the order starts as if the user had accepted.
		o.State = StateUserAccepted
		o.RealServiceStartTime = formatWechatTime(now)
	}
	p, err := s.commit(o)
	if err != nil {
		return systemError(err)
	}
	return http.StatusOK, p.createResponse()
}

func (o *Order) createResponse() createResponse {
	return createResponse{
		AppID: o.AppID, MchID: o.MchID, OutOrderNo: o.OutOrderNo, ServiceID: o.ServiceID, OrderID: o.OrderID,
		MiniprogramBusinesstype: o.MiniprogramBusinesstype, MiniprogramAppID: o.MiniprogramAppID,
		MiniprogramPath: o.MiniprogramPath, MiniprogramUsername: o.MiniprogramUsername, Package: o.Package,
	}
}

func (o *Order) ref() orderRef {
	return orderRef{AppID: o.AppID, MchID: o.MchID, OutOrderNo: o.OutOrderNo, ServiceID: o.ServiceID, OrderID: o.OrderID}
}

func (s *Sandbox) newOrderID(now time.Time) string {
	for {
		id := "1000" + now.In(cst).Format("20060102") + randString(digits, 20)
		if !s.orderIDs[id] {
			return id
		}
	}
}

func (s *Sandbox) newQueryID() string {
	for {
		id := randString(alnum, 32)
		if _, dup := s.byQueryID[id]; !dup {
			return id
		}
	}
}

// queryParams reads single-valued query parameters.
// orderQuery reads an order query's parameters, as both APIs take them:
// service_id and appid (the merchant's), and exactly one of out_order_no
// (valid as validNo says, else issue) and query_id.
func (s *Sandbox) orderQuery(r *http.Request, validNo func(string) bool, issue string) (outNo, queryID string, e *apiError) {
	q := r.URL.Query()
	serviceID, e := queryParam(q, "service_id", true)
	if e != nil {
		return "", "", e
	}
	appID, e := queryParam(q, "appid", true)
	if e != nil {
		return "", "", e
	}
	if outNo, e = queryParam(q, "out_order_no", false); e != nil {
		return "", "", e
	}
	if queryID, e = queryParam(q, "query_id", false); e != nil {
		return "", "", e
	}
	// "不允许都填写或都不填写" [V-off O-query].
	if (outNo == "") == (queryID == "") {
		return "", "", paramError(locQuery, "/out_order_no", nil, "exactly one of out_order_no and query_id is required")
	}
	if outNo != "" && !validNo(outNo) {
		return "", "", paramError(locQuery, "/out_order_no", outNo, issue)
	}
	if e := s.checkIDs(appID, serviceID); e != nil {
		return "", "", e
	}
	return outNo, queryID, nil
}

func queryParam(q url.Values, name string, required bool) (string, *apiError) {
	vs := q[name]
	if len(vs) > 1 {
		return "", paramError(locQuery, "/"+name, nil, "must be given at most once")
	}
	if len(vs) == 0 || vs[0] == "" {
		if required {
			return "", paramError(locQuery, "/"+name, nil, "is required")
		}
		return "", nil
	}
	// The same bounds as in a body (the client checks them too).
	if limit := map[string]int{"appid": maxAppID, "service_id": maxServiceID, "query_id": maxQueryID}[name]; limit > 0 && utf8.RuneCountInString(vs[0]) > limit {
		return "", paramError(locQuery, "/"+name, nil, fmt.Sprintf("must be at most %d characters", limit))
	}
	return vs[0], nil
}

func (s *Sandbox) handleQuery(r *http.Request, _ []byte) (int, any) {
	outNo, queryID, e := s.orderQuery(r, validOutOrderNo, "must be 1 to 32 characters of 0-9 A-Z a-z _ - | *")
	if e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	what := "out_order_no " + outNo
	if queryID != "" {
		what = "query_id " + queryID
		outNo = s.byQueryID[queryID]
	}
	o, ok := s.lookup(outNo)
	if !ok {
		return fail(orderNotExist(what))
	}
	return http.StatusOK, o.queryResponse()
}

func (s *Sandbox) handleCancel(outNo string, body []byte) (int, any) {
	if !validOutOrderNo(outNo) {
		return fail(paramError(locURI, "/out_order_no", outNo, "must be 1 to 32 characters of 0-9 A-Z a-z _ - | *"))
	}
	req, perr := parseCancel(body)
	if perr != nil {
		return fail(perr)
	}
	if e := s.checkIDs(req.AppID, req.ServiceID); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.lookup(outNo)
	if !ok {
		return fail(orderNotExist("out_order_no " + outNo))
	}
	// Only before the customer confirms (wechatpay.js.org cancel.md:
	// "用户确认订单后不可调用该接口"); an accepted order is ended by complete
	// with finish_type 1.
	if o.State != StateCreated {
		return fail(stateInvalid(o))
	}
	n := o.clone()
	n.State = StateRevoked
	n.RevokeReason = req.Reason
	p, err := s.commit(n)
	if err != nil {
		return systemError(err)
	}
	return http.StatusOK, p.ref()
}

func (s *Sandbox) handleComplete(outNo string, body []byte) (int, any) {
	if !validOutOrderNo(outNo) {
		return fail(paramError(locURI, "/out_order_no", outNo, "must be 1 to 32 characters of 0-9 A-Z a-z _ - | *"))
	}
	req, perr := parseComplete(body)
	if perr != nil {
		return fail(perr)
	}
	if e := s.checkIDs(req.AppID, req.ServiceID); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.lookup(outNo)
	if !ok {
		return fail(orderNotExist("out_order_no " + outNo))
	}
	if req.FinishTicket != "" && req.FinishTicket != o.FinishTicket {
		return fail(paramError(locBody, "/finish_ticket", req.FinishTicket, "does not match the order's finish_ticket"))
	}
	if o.State != StateUserAccepted {
		return fail(stateInvalid(o))
	}
	if req.FinishType == FinishTypeCharge && o.RiskAmount != nil && req.TotalAmount > *o.RiskAmount {
		return fail(paramError(locBody, "/total_amount", req.TotalAmount,
			fmt.Sprintf("must not be above the order's risk_amount, %d", *o.RiskAmount)))
	}
	now := s.now()
	if e := checkRealTimes(o, req, now); e != nil {
		return fail(e)
	}
	n := o.clone()
	n.State = StateFinished
	n.FinishType = req.FinishType
	if req.RealServiceStartTime != "" {
		n.RealServiceStartTime = req.RealServiceStartTime
	}
	n.RealServiceEndTime = req.RealServiceEndTime
	if n.RealServiceEndTime == "" {
		n.RealServiceEndTime = formatWechatTime(now)
	}
	// The official table says to leave it out when it repeats the start or
	// planned end location; one that does is taken as left out, not refused
	// (no source says WeChat Pay refuses it).
	if loc := req.RealServiceEndLocation; loc != o.ServiceStartLocation && loc != o.ServiceEndLocation {
		n.RealServiceEndLocation = loc
	}
	n.ProfitSharing = req.ProfitSharing
	if req.FinishType == FinishTypeCharge {
		n.Fees, n.Discounts = req.Fees, req.Discounts
		total := req.TotalAmount
		n.TotalAmount = &total
	} else {
		// finish_type 1: ends without charge; the order is never payable.
		zero := int64(0)
		n.TotalAmount = &zero
		n.CancelReason = req.CancelReason
	}
	p, err := s.commit(n)
	if err != nil {
		return systemError(err)
	}
	return http.StatusOK, p.ref()
}

func (s *Sandbox) handleUserServiceState(r *http.Request, _ []byte) (int, any) {
	q := r.URL.Query()
	serviceID, e := queryParam(q, "service_id", true)
	if e != nil {
		return fail(e)
	}
	appID, e := queryParam(q, "appid", true)
	if e != nil {
		return fail(e)
	}
	openID, e := queryParam(q, "openid", true)
	if e != nil {
		return fail(e)
	}
	if issue := openIDIssue(openID); issue != "" {
		return fail(paramError(locQuery, "/openid", nil, issue)) // never echo an openid
	}
	if e := s.checkIDs(appID, serviceID); e != nil {
		return fail(e)
	}
	// WeChat Pay's answer has exactly these fields, no mchid
	// (wechatpay-im/website openapi/v3/payscore/user-service-state.md).
	return http.StatusOK, map[string]string{
		"appid": appID, "service_id": serviceID, "openid": openID,
		"use_service_state": s.UserServiceState(openID),
	}
}

// readBody reads at most max+1 bytes; a nil Body (requests built for direct
// ServeHTTP calls) is empty.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, max+1))
}

// logURI is the request's path and query for the log, with the openid
// (personal data) left out.
func logURI(r *http.Request) string {
	q := r.URL.Query()
	if q.Has("openid") {
		q.Set("openid", "(redacted)")
	}
	if len(q) == 0 {
		return r.URL.Path
	}
	return r.URL.Path + "?" + q.Encode()
}

// checkRealTimes applies to a smart-retail complete the time-order rules
// the Pay Score service-order pages state for theirs (doc.go, the
// assumptions): the real end not after the moment the complete arrives,
// and not before the real start (the complete's own, else the moment the
// order started: its confirmation, or its create without one).
func checkRealTimes(o *Order, req *completeRequest, now time.Time) *apiError {
	if req.RealServiceEndTime == "" {
		return nil // the end is taken as the moment of the complete
	}
	end, _ := parseWechatTime(req.RealServiceEndTime)
	day := len(req.RealServiceEndTime) == 8
	if !day && end.After(now) || day && end.After(dayOf(now)) {
		return paramError(locBody, "/real_service_end_time", req.RealServiceEndTime,
			"must not be after the time of the complete call (实际结束时间不能晚于使用完结接口的时间)")
	}
	start := req.RealServiceStartTime
	if start == "" {
		start = o.RealServiceStartTime
	}
	st, ok := parseWechatTime(start)
	if !ok {
		return nil
	}
	if day || len(start) == 8 {
		end, st = dayOf(end), dayOf(st)
	}
	if end.Before(st) {
		field := "/real_service_end_time"
		return paramError(locBody, field, req.RealServiceEndTime,
			"must not be before the real start "+start+" (真实结束时间小于预计开始时间)")
	}
	return nil
}
