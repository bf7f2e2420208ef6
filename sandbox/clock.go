package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxClockOffset bounds Options.ClockOffset and SetClockOffset either way:
// 100 years of 365 days covers a kiosk that booted in 1970, and keeps the
// sandbox's times within what JSON and WeChat Pay's yyyyMMddHHmmss can hold.
const MaxClockOffset = 100 * 365 * 24 * time.Hour

func checkClockOffset(d time.Duration) error {
	if d > MaxClockOffset || d < -MaxClockOffset {
		return fmt.Errorf("sandbox: clock offset %v is beyond ±%v (100 years)", d, MaxClockOffset)
	}
	return nil
}

// now is the sandbox's clock, WeChat Pay's time: Options.Now plus the
// clock offset. Every timestamp, the signature window and expiry read it.
func (s *Sandbox) now() time.Time {
	return s.clock().Add(time.Duration(s.clockOffset.Load()))
}

// ClockOffset is how far the sandbox's clock is set from Options.Now.
func (s *Sandbox) ClockOffset() time.Duration { return time.Duration(s.clockOffset.Load()) }

// SetClockOffset sets the sandbox's clock to Options.Now plus d, as if
// WeChat Pay's time and the kiosk's differed by d. It applies to the next
// request on every listener; moving the clock forward an hour expires
// CREATED orders as an hour passing would. Not persisted.
func (s *Sandbox) SetClockOffset(d time.Duration) error {
	if err := checkClockOffset(d); err != nil {
		return err
	}
	s.clockOffset.Store(int64(d))
	s.logf("sandbox: clock offset set to %v", d)
	return nil
}

// clockAnswer is what GET and PUT /sandbox/clock answer.
type clockAnswer struct {
	Offset string `json:"offset"` // a Go duration, e.g. "-24h0m0s"
	Now    string `json:"now"`    // the sandbox's time, RFC 3339
}

func (s *Sandbox) clockAnswer() clockAnswer {
	return clockAnswer{Offset: s.ClockOffset().String(), Now: s.now().Format(time.RFC3339)}
}

// serveClock is GET and PUT /sandbox/clock.
func (s *Sandbox) serveClock(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		body, err := readBody(r, MaxAdminBodyBytes)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "cannot read body: %v", err))
			return
		}
		d, err := parseClockBody(body)
		if err == nil {
			err = s.SetClockOffset(d)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, adminError(http.StatusBadRequest, "PARAM_ERROR", "%s", strings.TrimPrefix(err.Error(), "sandbox: ")))
			return
		}
	default:
		methodNotAllowed(w, r, "GET, PUT")
		return
	}
	writeJSON(w, http.StatusOK, s.clockAnswer())
}

// parseClockBody reads {"offset":"-24h"}; anything else is refused with
// what is wrong, by name.
func parseClockBody(body []byte) (time.Duration, error) {
	const want = `body must be a JSON object like {"offset":"-24h"} (a Go duration: h, m, s, ms)`
	if len(body) > MaxAdminBodyBytes {
		return 0, fmt.Errorf("body exceeds %d bytes", MaxAdminBodyBytes)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return 0, errors.New(want)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b struct {
		Offset *string `json:"offset"`
	}
	if err := dec.Decode(&b); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return 0, fmt.Errorf("field %s has the wrong type: got JSON %s, want a string such as \"-24h\"", te.Field, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return 0, fmt.Errorf("unknown field %s: the only field is offset",
				strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return 0, fmt.Errorf("body is not valid JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, errors.New("body has trailing data after the JSON object")
	}
	if b.Offset == nil {
		return 0, errors.New("offset is required: " + want)
	}
	d, err := time.ParseDuration(*b.Offset)
	if err != nil {
		// ParseDuration's error quotes the whole value; quoteShort bounds it.
		return 0, fmt.Errorf("offset %s is not a Go duration such as \"-24h\", \"1h30m\" or \"-6m\" (or is far too large)", quoteShort(*b.Offset))
	}
	return d, nil
}
