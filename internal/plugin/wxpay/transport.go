package wxpay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// maxAnswerBytes bounds what we read of one answer: WeChat's are a few KiB,
// and a hostile or broken server must not make the kiosk run out of memory.
const maxAnswerBytes = 1 << 20

// sendError is a transport failure together with what we know of how far
// the request got.
type sendError struct {
	reachedServer bool
	err           error
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// observingTransport sends a request, notes whether it got as far as a
// connection to the server, and reads the whole answer before returning it.
// Reading it here means a connection dropped mid-answer is a network error,
// not mistaken for a bad signature by the SDK's validator, which reads the
// body itself.
type observingTransport struct {
	base http.RoundTripper
}

func (t observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		// Once a connection is ours, bytes of the request may have left:
		// from then on the server may have acted on it.
		return nil, &sendError{reachedServer: gotConn.Load(), err: err}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	_ = resp.Body.Close()
	if err != nil {
		return nil, &sendError{reachedServer: true, err: fmt.Errorf("reading the answer: %w", err)}
	}
	if len(body) > maxAnswerBytes {
		return nil, &sendError{reachedServer: true, err: fmt.Errorf("answer larger than %d bytes", maxAnswerBytes)}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
