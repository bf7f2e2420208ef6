package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// A merchant's rate limit and the record of what reached it. WeChat Pay
// limits a merchant's calls per second across all its devices and answers
// the excess 429 FREQUENCY_LIMITED (the error tables of both APIs); the
// sources give no figures, nor the algorithm. The sandbox assumes a token
// bucket: Rate tokens a second, up to Burst, one per request, on both
// domains together (the limit is the merchant's, not a host's), with the
// answer signed like any other and Retry-After set.

// RateLimit is a merchant-wide token bucket over /v3/ requests. Rate 0
// switches it off.
type RateLimit struct {
	Rate float64 `json:"rate"` // requests per second, 0..MaxRateLimit
	// Burst is how many requests may come at once (the bucket's size);
	// 0 means one second's worth (Rate, at least 1).
	Burst int `json:"burst"`
	// RetryAfterSeconds is the Retry-After a refusal carries; 0 means 1.
	RetryAfterSeconds int `json:"retry_after_seconds"`
}

// MaxRateLimit bounds RateLimit.Rate, MaxRetryAfterSeconds its Retry-After.
const (
	MaxRateLimit         = 1e6
	MaxRetryAfterSeconds = 3600
)

func (l RateLimit) normalize() (RateLimit, error) {
	if math.IsNaN(l.Rate) || l.Rate < 0 || l.Rate > MaxRateLimit {
		return l, fmt.Errorf("rate %v is outside 0..%v requests per second", l.Rate, MaxRateLimit)
	}
	if l.Burst < 0 || float64(l.Burst) > MaxRateLimit {
		return l, fmt.Errorf("burst %d is outside 0..%v", l.Burst, MaxRateLimit)
	}
	if l.RetryAfterSeconds < 0 || l.RetryAfterSeconds > MaxRetryAfterSeconds {
		return l, fmt.Errorf("retry_after_seconds %d is outside 0..%d", l.RetryAfterSeconds, MaxRetryAfterSeconds)
	}
	if l.Rate == 0 {
		return RateLimit{}, nil
	}
	if l.Burst == 0 {
		l.Burst = int(math.Max(1, math.Round(l.Rate)))
	}
	if l.RetryAfterSeconds == 0 {
		l.RetryAfterSeconds = 1
	}
	return l, nil
}

// bucket is the limit's state, and the request log.
type bucket struct {
	mu     sync.Mutex
	limit  RateLimit
	tokens float64
	at     time.Time // when tokens was last filled
	log    requestLog
}

// RequestLog is what reached the sandbox's /v3/ API since it started or
// the log was reset: every request, per second, and the creates per
// out_order_no (both APIs), refused ones included.
type RequestLog struct {
	Requests    int64 `json:"requests"`
	RateLimited int64 `json:"rate_limited"`
	// PeakPerSecond is the most requests in one second of the sandbox's
	// clock.
	PeakPerSecond int64          `json:"peak_per_second"`
	Seconds       []SecondOfLog  `json:"seconds"`
	Creates       map[string]int `json:"creates"` // create requests by out_order_no
	Since         time.Time      `json:"since"`
	Limit         RateLimit      `json:"limit"`
}

// SecondOfLog is one second's requests, by the sandbox's clock.
type SecondOfLog struct {
	Second      int64 `json:"second"` // Unix seconds
	Requests    int64 `json:"requests"`
	RateLimited int64 `json:"rate_limited"`
}

type requestLog struct {
	since       time.Time
	requests    int64
	rateLimited int64
	seconds     map[int64]*SecondOfLog
	creates     map[string]int
}

func (l *requestLog) reset(now time.Time) {
	*l = requestLog{since: now, seconds: map[int64]*SecondOfLog{}, creates: map[string]int{}}
}

// SetRateLimit sets (or, with Rate 0, lifts) the merchant's rate limit.
// The bucket starts full.
func (s *Sandbox) SetRateLimit(l RateLimit) error {
	l, err := l.normalize()
	if err != nil {
		return err
	}
	b := &s.bucket
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit, b.tokens, b.at = l, float64(l.Burst), s.now()
	return nil
}

// RateLimit is the merchant's rate limit in force.
func (s *Sandbox) RateLimit() RateLimit {
	s.bucket.mu.Lock()
	defer s.bucket.mu.Unlock()
	return s.bucket.limit
}

// RequestLog is the record of /v3/ requests since the sandbox started or
// ResetRequestLog.
func (s *Sandbox) RequestLog() RequestLog {
	b := &s.bucket
	b.mu.Lock()
	defer b.mu.Unlock()
	out := RequestLog{Requests: b.log.requests, RateLimited: b.log.rateLimited, Since: b.log.since, Limit: b.limit,
		Creates: make(map[string]int, len(b.log.creates))}
	for no, n := range b.log.creates {
		out.Creates[no] = n
	}
	for _, sec := range b.log.seconds {
		out.Seconds = append(out.Seconds, *sec)
		if sec.Requests > out.PeakPerSecond {
			out.PeakPerSecond = sec.Requests
		}
	}
	sort.Slice(out.Seconds, func(i, j int) bool { return out.Seconds[i].Second < out.Seconds[j].Second })
	return out
}

// ResetRequestLog empties the request log.
func (s *Sandbox) ResetRequestLog() {
	s.bucket.mu.Lock()
	defer s.bucket.mu.Unlock()
	s.bucket.log.reset(s.now())
}

// admit logs a /v3/ request and takes a token for it: false when the
// merchant's limit refuses it.
func (s *Sandbox) admit(r *http.Request, body []byte) bool {
	now := s.now()
	b := &s.bucket
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log.seconds == nil {
		b.log.reset(now)
	}
	b.log.requests++
	sec := b.log.seconds[now.Unix()]
	if sec == nil {
		sec = &SecondOfLog{Second: now.Unix()}
		b.log.seconds[now.Unix()] = sec
	}
	sec.Requests++
	if no := createdOrderNo(r, body); no != "" {
		b.log.creates[no]++
	}
	if b.limit.Rate == 0 {
		return true
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(float64(b.limit.Burst), b.tokens+d.Seconds()*b.limit.Rate)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	b.log.rateLimited++
	sec.RateLimited++
	return false
}

// createdOrderNo is the out_order_no of a create request on either API,
// "" for any other request.
func createdOrderNo(r *http.Request, body []byte) string {
	if r.Method != http.MethodPost {
		return ""
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	if p != ordersPath && p != serviceOrderPath {
		return ""
	}
	var c struct {
		OutOrderNo string `json:"out_order_no"`
	}
	if json.Unmarshal(body, &c) != nil {
		return ""
	}
	return c.OutOrderNo
}

// serveRateLimit is GET and PUT /sandbox/ratelimit.
func (s *Sandbox) serveRateLimit(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.RateLimit())
	case http.MethodPut:
		var l RateLimit
		if err := decodeAdminObject(r, &l, "rate, burst, retry_after_seconds", `{"rate":100,"burst":100,"retry_after_seconds":1}`); err != nil {
			writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "rate limit: %v", err))
			return
		}
		if err := s.SetRateLimit(l); err != nil {
			writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "rate limit: %v", err))
			return
		}
		writeJSON(w, http.StatusOK, s.RateLimit())
	default:
		methodNotAllowed(w, r, "GET, PUT")
	}
}

// serveRequestLog is GET and DELETE /sandbox/requests.
func (s *Sandbox) serveRequestLog(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.RequestLog())
	case http.MethodDelete:
		s.ResetRequestLog()
		writeJSON(w, http.StatusOK, s.RequestLog())
	default:
		methodNotAllowed(w, r, "GET, DELETE")
	}
}

// decodeAdminObject reads an admin body that must be one JSON object of
// the fields allowed names, like example, into v, and says what is wrong
// with one that is not.
func decodeAdminObject(r *http.Request, v any, allowed, example string) error {
	body, err := readBody(r, MaxAdminBodyBytes)
	if err != nil {
		return fmt.Errorf("cannot read body: %v", err)
	}
	if len(body) > MaxAdminBodyBytes {
		return fmt.Errorf("body exceeds %d bytes", MaxAdminBodyBytes)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("body must be a JSON object like %s", example)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("field %s has the wrong type: got JSON %s, want %s", te.Field, te.Value, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown field %s: allowed are %s", strings.TrimPrefix(err.Error(), "json: unknown field "), allowed)
		default:
			return fmt.Errorf("body is not valid JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("body has trailing data after the JSON object")
	}
	return nil
}
