package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"
	"weak"
)

// The customer's authorisation of the Pay Score service, as
// GET /v3/payscore/user-service-state answers it (use_service_state).
const (
	UserServiceAvailable   = "AVAILABLE"
	UserServiceUnavailable = "UNAVAILABLE"
)

// maxOpenID bounds an openid: the sibling Pay Score API's string(128), the
// bound create uses too.
const maxOpenID = 128

// userStates holds each Sandbox's openids marked UNAVAILABLE (absent means
// AVAILABLE). It sits beside the Sandbox rather than in it, keyed by a weak
// pointer, so a collected Sandbox takes its entry with it.
var userStates = struct {
	sync.Mutex
	m map[weak.Pointer[Sandbox]]map[string]string
}{m: map[weak.Pointer[Sandbox]]map[string]string{}}

// SetUserServiceState sets what user-service-state answers for openid:
// UserServiceAvailable (every openid's state until set) or
// UserServiceUnavailable, the customer who has not authorised the service
// or has withdrawn it. States live in memory only, like faults.
func (s *Sandbox) SetUserServiceState(openid, state string) error {
	if issue := openIDIssue(openid); issue != "" {
		return fmt.Errorf("sandbox: openid %s", issue)
	}
	if state != UserServiceAvailable && state != UserServiceUnavailable {
		return fmt.Errorf("sandbox: use_service_state %s: want %s or %s", quoteShort(state), UserServiceAvailable, UserServiceUnavailable)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	key := weak.Make(s)
	userStates.Lock()
	defer userStates.Unlock()
	states, ok := userStates.m[key]
	if !ok {
		states = map[string]string{}
		userStates.m[key] = states
		runtime.AddCleanup(s, func(k weak.Pointer[Sandbox]) {
			userStates.Lock()
			delete(userStates.m, k)
			userStates.Unlock()
		}, key)
	}
	if state == UserServiceAvailable {
		delete(states, openid)
	} else {
		states[openid] = state
	}
	return nil
}

// UserServiceState is what user-service-state answers for openid.
func (s *Sandbox) UserServiceState(openid string) string {
	userStates.Lock()
	defer userStates.Unlock()
	if st, ok := userStates.m[weak.Make(s)][openid]; ok {
		return st
	}
	return UserServiceAvailable
}

// openIDIssue says what is wrong with an openid, never quoting it.
func openIDIssue(openid string) string {
	switch n := utf8.RuneCountInString(openid); {
	case n == 0:
		return "is required"
	case n > maxOpenID:
		return fmt.Sprintf("must be at most %d characters, got %d", maxOpenID, n)
	}
	return ""
}

func quoteShort(s string) string {
	if len(s) > 32 {
		return fmt.Sprintf("(%d bytes)", len(s))
	}
	return fmt.Sprintf("%q", s)
}

// serveUserServiceState is PUT (and GET) /sandbox/users/{openid}/service-state.
func (s *Sandbox) serveUserServiceState(w http.ResponseWriter, r *http.Request, openid string) {
	if r.Method != http.MethodGet && r.Method != http.MethodPut {
		methodNotAllowed(w, r, "GET, PUT")
		return
	}
	if issue := openIDIssue(openid); issue != "" {
		writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "openid %s", issue))
		return
	}
	if r.Method == http.MethodPut {
		body, err := readBody(r, MaxAdminBodyBytes)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "cannot read body: %v", err))
			return
		}
		state, err := parseUserStateBody(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "%v", err))
			return
		}
		if err := s.SetUserServiceState(openid, state); err != nil {
			writeJSON(w, http.StatusInternalServerError, adminError(http.StatusInternalServerError, "SYSTEM_ERROR", "%v", err))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"openid": openid, "use_service_state": s.UserServiceState(openid)})
}

// parseUserStateBody reads {"use_service_state":"AVAILABLE"|"UNAVAILABLE"};
// anything else is refused with what is wrong, naming the field.
func parseUserStateBody(body []byte) (string, error) {
	if len(body) > MaxAdminBodyBytes {
		return "", fmt.Errorf("body exceeds %d bytes", MaxAdminBodyBytes)
	}
	const want = `body must be a JSON object like {"use_service_state":"UNAVAILABLE"}`
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return "", errors.New(want)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b struct {
		State *string `json:"use_service_state"`
	}
	if err := dec.Decode(&b); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return "", fmt.Errorf("field %s has the wrong type: got JSON %s, want a string", te.Field, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return "", fmt.Errorf("unknown field %s: the only field is use_service_state",
				strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return "", fmt.Errorf("body is not valid JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("body has trailing data after the JSON object")
	}
	if b.State == nil {
		return "", errors.New("use_service_state is required: " + want)
	}
	if *b.State != UserServiceAvailable && *b.State != UserServiceUnavailable {
		return "", fmt.Errorf("use_service_state %s: want %s or %s", quoteShort(*b.State), UserServiceAvailable, UserServiceUnavailable)
	}
	return *b.State, nil
}
