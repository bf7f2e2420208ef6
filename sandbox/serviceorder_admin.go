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

// serveServiceOrderAdmin is the admin API's service-order part:
//
//	GET  /sandbox/serviceorders                         all, oldest first
//	GET  /sandbox/serviceorders/{out_order_no}          one
//	POST /sandbox/serviceorders/{out_order_no}/accept   the customer confirms
//	POST /sandbox/serviceorders/{out_order_no}/pay      the deduction succeeds
//	POST /sandbox/serviceorders/{out_order_no}/expire   CREATED -> EXPIRED
//	PUT  /sandbox/serviceorders/{out_order_no}/deductions {"fail":true}
//	GET  /sandbox/notifications                         what was posted
//
// It reports false for a path it does not serve.
func (s *Sandbox) serveServiceOrderAdmin(w http.ResponseWriter, r *http.Request, p string) bool {
	switch {
	case p == "/sandbox/notifications":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, http.MethodGet)
			return true
		}
		writeJSON(w, http.StatusOK, s.Notifications())
		return true
	case p == "/sandbox/serviceorders":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, http.MethodGet)
			return true
		}
		writeJSON(w, http.StatusOK, s.ServiceOrders())
		return true
	}
	no, action, hasAction := strings.Cut(strings.TrimPrefix(p, "/sandbox/serviceorders/"), "/")
	if !hasAction {
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, http.MethodGet)
			return true
		}
		o, ok := s.ServiceOrder(no)
		if !ok {
			writeJSON(w, http.StatusNotFound, orderNotExist("service order out_order_no "+no))
			return true
		}
		writeJSON(w, http.StatusOK, o)
		return true
	}
	switch action {
	case "accept", "pay", "expire":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return true
		}
		o, err := s.transitionServiceOrder(no, action)
		writeMove(w, no, o, err)
		return true
	case "deductions":
		if r.Method != http.MethodPut {
			methodNotAllowed(w, r, http.MethodPut)
			return true
		}
		body, err := readBody(r, MaxAdminBodyBytes)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "cannot read body: %v", err))
			return true
		}
		fail, err := parseDeductionsBody(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "%v", err))
			return true
		}
		o, err := s.setDeductionsFail(no, fail)
		writeMove(w, no, o, err)
		return true
	}
	return false
}

// parseDeductionsBody reads {"fail":true|false}; anything else is refused
// with what is wrong, by name.
func parseDeductionsBody(body []byte) (bool, error) {
	const want = `body must be a JSON object like {"fail":true}`
	if len(body) > MaxAdminBodyBytes {
		return false, fmt.Errorf("body exceeds %d bytes", MaxAdminBodyBytes)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return false, errors.New(want)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b struct {
		Fail *bool `json:"fail"`
	}
	if err := dec.Decode(&b); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return false, fmt.Errorf("field %s has the wrong type: got JSON %s, want true or false", te.Field, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return false, fmt.Errorf("unknown field %s: the only field is fail",
				strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return false, fmt.Errorf("body is not valid JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, errors.New("body has trailing data after the JSON object")
	}
	if b.Fail == nil {
		return false, errors.New("fail is required: " + want)
	}
	return *b.Fail, nil
}
