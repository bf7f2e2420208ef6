package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kioskpay/smartretail/notify"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
)

const notifyUsage = `usage: smartretail notify decode --config FILE [--headers FILE] [--body FILE] [--received-at TIME] [--show-openid]

Verify a WeChat Pay notification's signature with the config's WeChat Pay
public key or platform certificate, decrypt its resource with the config's
APIv3 key, and print it as JSON (the openid left out unless --show-openid).
It is what the merchant's server at notify_url does (package notify).

The headers are "Name: value" lines (an HTTP request line first is skipped);
the body is the bytes WeChat Pay posted, unchanged. Whichever of --headers
and --body is not given is read from stdin; with neither, stdin holds the
headers, an empty line, then the body, as a captured request does.

Exit 0 when it verifies; 1 with a JSON error on stderr whose reason says why
it does not (BAD_SIGNATURE, STALE_TIMESTAMP, DECRYPT_FAILED...); 2 for a
command line that cannot run.

Example:
  smartretail notify decode --config ./sbx/config.json --headers notify.headers --body notify.json
`

// maxHeadersBytes bounds a headers file: WeChat Pay's are well under 2 KiB.
const maxHeadersBytes = 64 << 10

// runNotify is `smartretail notify decode`.
func runNotify(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, notifyUsage)
		return 0
	}
	if len(args) == 0 || args[0] != "decode" {
		return printError(stderr, fmt.Errorf("%w: smartretail notify takes the subcommand decode (smartretail notify -h)", errUsage))
	}
	fs := flag.NewFlagSet("notify decode", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the flag package's own messages are not JSON
	fs.Usage = func() {}
	configPath := fs.String("config", cmp.Or(os.Getenv("SMARTRETAIL_CONFIG"), "config.json"), "config file (env SMARTRETAIL_CONFIG): the WeChat Pay key and the APIv3 key")
	headersPath := fs.String("headers", "", `the request's headers, "Name: value" lines (default: stdin)`)
	bodyPath := fs.String("body", "", "the request's body, byte for byte (default: stdin)")
	receivedAt := fs.String("received-at", "", "judge Wechatpay-Timestamp against this time (RFC 3339 or Unix seconds) instead of now, for a notification captured earlier")
	showOpenID := fs.Bool("show-openid", false, "print the customer's openid (personal data)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, notifyUsage)
			fmt.Fprintln(stdout, "\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		return printError(stderr, fmt.Errorf("%w: smartretail notify decode: %v (smartretail notify -h)", errUsage, err))
	}
	if fs.NArg() > 0 {
		return printError(stderr, fmt.Errorf("%w: smartretail notify decode: %d unexpected arguments after the flags: give every value with its flag (smartretail notify -h)", errUsage, fs.NArg()))
	}
	now := time.Now
	if *receivedAt != "" {
		at, err := parseTime(*receivedAt)
		if err != nil {
			return printError(stderr, fmt.Errorf("%w: --received-at: %v", errUsage, err))
		}
		now = func() time.Time { return at }
	}
	h, body, err := readNotification(*headersPath, *bodyPath, stdin)
	if err != nil {
		return printError(stderr, err)
	}
	v, err := notifyVerifier(*configPath, now)
	if err != nil {
		return printError(stderr, err)
	}
	n, err := v.Decode(h, body)
	if err != nil {
		return printError(stderr, notifyError(err, body))
	}
	out, err := decodedJSON(n, *showOpenID)
	if err != nil {
		return printError(stderr, err)
	}
	fmt.Fprintln(stdout, string(out))
	return 0
}

func parseTime(s string) (time.Time, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-11-30T18:00:00+08:00) nor Unix seconds", s)
	}
	return t, nil
}

// notifyVerifier builds the verifier from the config's keys: the config is
// checked and its key files read as the plugin reads them.
func notifyVerifier(path string, now func() time.Time) (*notify.Verifier, error) {
	c, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	keys, err := c.LoadKeys()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	nc := notify.Config{APIv3Key: c.APIv3Key, Now: now}
	if keys.WeChatPayPublicKey != nil {
		nc.PublicKeyID, nc.PublicKey = c.WeChatPayPublicKeyID, keys.WeChatPayPublicKey
	}
	if keys.WeChatPayCertificate != nil {
		nc.Certificates = []*x509.Certificate{keys.WeChatPayCertificate}
	}
	v, err := notify.NewVerifier(nc)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return v, nil
}

// readNotification reads the headers and body from their files, the one
// not given from stdin, or both from stdin split at the first empty line.
func readNotification(headersPath, bodyPath string, stdin io.Reader) (http.Header, []byte, error) {
	read := func(path string, max int64, what string) ([]byte, error) {
		r, name := stdin, "stdin"
		if path != "" && path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", errUsage, what, err)
			}
			defer f.Close()
			r, name = f, path
		}
		data, err := io.ReadAll(io.LimitReader(r, max+1))
		if err != nil {
			return nil, fmt.Errorf("%w: %s from %s: %v", errUsage, what, name, err)
		}
		if int64(len(data)) > max {
			return nil, fmt.Errorf("%w: %s from %s is larger than %d bytes", errUsage, what, name, max)
		}
		return data, nil
	}
	var headText, body []byte
	var err error
	switch {
	case headersPath == "" && bodyPath == "":
		all, err := read("", maxHeadersBytes+notify.MaxBodyBytes, "the request")
		if err != nil {
			return nil, nil, err
		}
		var ok bool
		if headText, body, ok = splitRequest(all); !ok {
			return nil, nil, fmt.Errorf("%w: stdin has no empty line between the headers and the body (or give --headers and --body)", errUsage)
		}
	default:
		if headText, err = read(headersPath, maxHeadersBytes, "the headers"); err != nil {
			return nil, nil, err
		}
		if body, err = read(bodyPath, notify.MaxBodyBytes, "the body"); err != nil {
			return nil, nil, err
		}
	}
	h, err := parseHeaders(headText)
	if err != nil {
		return nil, nil, err
	}
	return h, body, nil
}

// splitRequest splits a captured request at its first empty line.
func splitRequest(all []byte) (head, body []byte, ok bool) {
	crlf, lf := bytes.Index(all, []byte("\r\n\r\n")), bytes.Index(all, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return all[:crlf], all[crlf+4:], true
	case lf >= 0:
		return all[:lf], all[lf+2:], true
	}
	return nil, nil, false
}

var requestLine = regexp.MustCompile(`^[A-Z]+ \S+ HTTP/\d(\.\d)?$`)

// parseHeaders reads "Name: value" lines. Lines are numbered in errors,
// not echoed.
func parseHeaders(text []byte) (http.Header, error) {
	h := http.Header{}
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || i == 0 && requestLine.MatchString(line) {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf(`%w: headers line %d is not "Name: value"`, errUsage, i+1)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// notifyError gives a refusal the CLI's error form: class AUTH when the
// notification cannot be trusted or the keys do not fit it, INVALID when
// it is not one WeChat Pay would send; its reason is notify's.
func notifyError(err error, body []byte) error {
	var ne *notify.Error
	if !errors.As(err, &ne) {
		return err
	}
	class := shared.ClassAuth
	switch ne.Reason {
	case notify.ReasonBadHeader, notify.ReasonUnknownAlgorithm, notify.ReasonMalformed, notify.ReasonTooLarge:
		class = shared.ClassInvalid
	}
	msg := ne.Error()
	if ne.Reason == notify.ReasonBadSignature && bytes.HasSuffix(body, []byte("\n")) {
		msg += "; the body given ends with a line break: if its file gained one when saved, the signature cannot verify (give the body byte for byte as received)"
	}
	return &shared.Error{Class: class, Message: msg, Reason: string(ne.Reason)}
}

// decodedNotification is what notify decode prints.
type decodedNotification struct {
	ID                 string          `json:"id"`
	CreateTime         string          `json:"create_time"`
	EventType          string          `json:"event_type"`
	ResourceType       string          `json:"resource_type"`
	Summary            string          `json:"summary"`
	OriginalType       string          `json:"original_type,omitempty"`
	WechatpaySerial    string          `json:"wechatpay_serial"`
	WechatpayTimestamp string          `json:"wechatpay_timestamp"`
	Resource           json.RawMessage `json:"resource"`
	OpenIDHidden       bool            `json:"openid_hidden,omitempty"`
}

func decodedJSON(n *notify.Notification, showOpenID bool) ([]byte, error) {
	out := decodedNotification{
		ID: n.ID, CreateTime: n.CreateTime, EventType: n.EventType, ResourceType: n.ResourceType, Summary: n.Summary,
		OriginalType: n.OriginalType, WechatpaySerial: n.Serial, WechatpayTimestamp: n.Timestamp.Format(time.RFC3339),
		Resource: n.Resource,
	}
	if !showOpenID {
		dec := json.NewDecoder(bytes.NewReader(n.Resource))
		dec.UseNumber() // amounts and ids print as WeChat Pay wrote them
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("reading the decrypted resource: %v", err)
		}
		out.OpenIDHidden = dropOpenIDs(v)
		if out.OpenIDHidden {
			r, err := marshalNoEscape(v, "")
			if err != nil {
				return nil, err
			}
			out.Resource = r
		}
	}
	return marshalNoEscape(out, "  ")
}

// dropOpenIDs removes every openid (and sub_openid...) from a decoded
// JSON value and reports whether there was one.
func dropOpenIDs(v any) bool {
	dropped := false
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "openid" || strings.HasSuffix(k, "_openid") {
				delete(v, k)
				dropped = true
				continue
			}
			dropped = dropOpenIDs(e) || dropped
		}
	case []any:
		for _, e := range v {
			dropped = dropOpenIDs(e) || dropped
		}
	}
	return dropped
}

// marshalNoEscape is JSON with <, > and & as themselves.
func marshalNoEscape(v any, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
