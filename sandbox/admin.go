package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxAdminBodyBytes bounds admin request bodies.
const MaxAdminBodyBytes = 64 << 10

func adminError(status int, code, format string, args ...any) *apiError {
	return newError(status, code, fmt.Sprintf(format, args...))
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, adminError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
		"%s is not allowed on %s, use %s", r.Method, r.URL.Path, allow))
}

// serveAdmin is the unsigned admin API; it is never subject to faults.
// It is the same on both domains but for /sandbox/faults: d's own.
func (s *Sandbox) serveAdmin(w http.ResponseWriter, r *http.Request, d *domain) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case p == "/sandbox/orders":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, http.MethodGet)
			return
		}
		writeJSON(w, http.StatusOK, s.Orders())
		return
	case p == "/sandbox/faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.faultsOf(d))
		case http.MethodPut:
			s.putFaults(w, r, d)
		default:
			methodNotAllowed(w, r, "GET, PUT")
		}
		return
	case p == "/sandbox/clock":
		s.serveClock(w, r)
		return
	case p == "/sandbox/ratelimit":
		s.serveRateLimit(w, r)
		return
	case p == "/sandbox/requests":
		s.serveRequestLog(w, r)
		return
	case p == "/sandbox/serviceorders" || strings.HasPrefix(p, "/sandbox/serviceorders/") || p == "/sandbox/notifications":
		if s.serveServiceOrderAdmin(w, r, p) {
			return
		}
	case strings.HasPrefix(p, "/sandbox/users/"):
		openid, rest, _ := strings.Cut(strings.TrimPrefix(p, "/sandbox/users/"), "/")
		if rest == "service-state" {
			s.serveUserServiceState(w, r, openid)
			return
		}
	case strings.HasPrefix(p, "/sandbox/orders/"):
		rest := strings.TrimPrefix(p, "/sandbox/orders/")
		no, action, hasAction := strings.Cut(rest, "/")
		if !hasAction {
			if r.Method != http.MethodGet {
				methodNotAllowed(w, r, http.MethodGet)
				return
			}
			if o, ok := s.Order(no); ok {
				writeJSON(w, http.StatusOK, o)
				return
			}
			if o, ok := s.ServiceOrder(no); ok {
				writeJSON(w, http.StatusOK, o)
				return
			}
			writeJSON(w, http.StatusNotFound, orderNotExist("out_order_no "+no))
			return
		}
		switch action {
		case "accept", "pay", "expire":
			if r.Method != http.MethodPost {
				methodNotAllowed(w, r, http.MethodPost)
				return
			}
			o, err := s.customerMove(no, action)
			writeMove(w, no, o, err)
			return
		}
	}
	writeJSON(w, http.StatusNotFound, adminError(http.StatusNotFound, "NOT_FOUND",
		"no admin API at %s; see GET /sandbox/orders, /sandbox/orders/{out_order_no}, POST .../accept|pay|expire, GET /sandbox/serviceorders, /sandbox/serviceorders/{out_order_no}, POST .../accept|pay|expire, PUT .../deductions, GET /sandbox/notifications, GET|PUT /sandbox/faults, GET|PUT /sandbox/clock, GET|PUT /sandbox/users/{openid}/service-state", r.URL.Path))
}

// writeMove answers a customer move (accept, pay, expire, deductions).
func writeMove(w http.ResponseWriter, no string, o any, err error) {
	switch {
	case errors.Is(err, ErrOrderNotExist):
		writeJSON(w, http.StatusNotFound, orderNotExist("out_order_no "+no))
	case errors.Is(err, ErrInvalidState):
		writeJSON(w, http.StatusConflict, adminError(http.StatusConflict, "INVALID_STATE", "%s", strings.TrimPrefix(err.Error(), "sandbox: ")))
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, adminError(http.StatusInternalServerError, "SYSTEM_ERROR", "%v", err))
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

// faultsBody is the PUT /sandbox/faults body; pointers tell absent from zero.
type faultsBody struct {
	Mode        *string  `json:"mode"`
	Probability *float64 `json:"probability"`
	LatencyMS   *int64   `json:"latency_ms"`
}

// parseFaultsBody reads a hostile-proof faults body: size, syntax, unknown
// fields, types, trailing data and ranges are all reported by name.
func parseFaultsBody(body []byte) (Faults, error) {
	if len(body) > MaxAdminBodyBytes {
		return Faults{}, fmt.Errorf("body exceeds %d bytes", MaxAdminBodyBytes)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Faults{}, errors.New(`body must be a JSON object like {"mode":"error","probability":0.5,"latency_ms":100}`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var fb faultsBody
	if err := dec.Decode(&fb); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return Faults{}, fmt.Errorf("field %s has the wrong type: got JSON %s, want %s", te.Field, te.Value, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return Faults{}, fmt.Errorf("unknown field %s: allowed are mode, probability, latency_ms",
				strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return Faults{}, fmt.Errorf("body is not valid JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Faults{}, errors.New("body has trailing data after the JSON object")
	}
	f := Faults{Mode: FaultNone, Probability: 1}
	if fb.Mode != nil {
		if *fb.Mode == "" {
			return Faults{}, errors.New(`mode is empty: want none, offline, error, rate_limit or drop_response`)
		}
		f.Mode = *fb.Mode
	}
	if fb.Probability != nil {
		p := *fb.Probability
		if p != p || p < 0 || p > 1 {
			return Faults{}, fmt.Errorf("probability %v is outside 0..1", p)
		}
		f.Probability = p
	}
	if fb.LatencyMS != nil {
		if *fb.LatencyMS < 0 || *fb.LatencyMS > MaxLatencyMS {
			return Faults{}, fmt.Errorf("latency_ms %d is outside 0..%d", *fb.LatencyMS, MaxLatencyMS)
		}
		f.LatencyMS = int(*fb.LatencyMS)
	}
	never := f.Probability == 0
	f, err := f.normalize()
	if err == nil && never {
		// An explicit 0 means never inject: the same as mode none (in the
		// Go API a zero Probability means 1, since it cannot be told from absent).
		f.Mode = FaultNone
	}
	return f, err
}

func (s *Sandbox) putFaults(w http.ResponseWriter, r *http.Request, d *domain) {
	body, err := readBody(r, MaxAdminBodyBytes)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "cannot read body: %v", err))
		return
	}
	f, err := parseFaultsBody(body)
	if err == nil {
		err = s.setFaults(d, f)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "%v", err))
		return
	}
	writeJSON(w, http.StatusOK, s.faultsOf(d))
}
