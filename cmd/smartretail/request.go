package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kioskpay/smartretail/shared"
)

// maxRequestBytes bounds a request read from a file or stdin; the plugin
// refuses anything near it anyway (shared.MaxRequestBytes).
const maxRequestBytes = 1 << 20

// request says where a command's JSON request comes from and what it is.
type request struct {
	path    string // --json: a file, "-" for stdin, "" for stdin unless it is a terminal
	command string // the command, for the message a terminal gets
	what    string // what the request holds, for that message
	prefix  string // the request's path in the message the plugin checks: "order" for a create
}

// readRequest reads a JSON request (WeChat Pay's field names) from --json
// FILE or stdin into m. The request is read before the plugin starts: the
// plugin shares our stdin. A terminal on stdin is not read unless --json -
// asks for it, and ctx (Ctrl-C, SIGTERM) stops the read.
func readRequest(ctx context.Context, r request, stdin io.Reader, m proto.Message) error {
	var data []byte
	var err error
	from := r.path
	switch r.path {
	case "", "-":
		from = "stdin"
		if r.path == "" && isTerminal(stdin) {
			return fmt.Errorf("%w: reads %s as JSON with WeChat Pay's field names from stdin or --json FILE, and stdin is a terminal: "+
				"pipe the request in (smartretail %s <<< '{...}' or < FILE), give --json FILE, or --json - to type it and end with Ctrl-D",
				errUsage, r.what, r.command)
		}
		data, err = readAll(ctx, stdin)
	default:
		data, err = readFile(r.path)
	}
	if err != nil {
		return err
	}
	return decodeStrict(data, from, r.prefix, m)
}

// readFile reads a request file; a file it cannot read is the host's
// problem (class HOST), not the request's.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the request: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the request %s: %w", path, err)
	}
	if len(data) > maxRequestBytes {
		return nil, invalidRequest(path, "", fmt.Sprintf("larger than %d bytes", maxRequestBytes))
	}
	return data, nil
}

// readAll reads stdin until its end or until ctx ends: a read blocked on a
// pipe or a terminal cannot be interrupted, so it runs aside and is left
// behind when the command stops.
func readAll(ctx context.Context, stdin io.Reader) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(stdin, maxRequestBytes+1))
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("reading the request from stdin: %w", r.err)
		}
		if len(r.data) > maxRequestBytes {
			return nil, invalidRequest("stdin", "", fmt.Sprintf("larger than %d bytes", maxRequestBytes))
		}
		return r.data, nil
	case <-ctx.Done():
		return nil, interrupted(ctx, fmt.Errorf("stopped while reading the request from stdin: %w", ctx.Err()))
	}
}

// invalidRequest is the error for a request body that cannot be used:
// class INVALID, exit 1, the field named as the plugin names it.
func invalidRequest(from, field, description string) error {
	if field == "" {
		return &shared.Error{Class: shared.ClassInvalid, Code: codes.InvalidArgument, Message: fmt.Sprintf("request from %s refused: %s", from, description)}
	}
	return &shared.Error{Class: shared.ClassInvalid, Code: codes.InvalidArgument, Message: fmt.Sprintf("request from %s refused: %s: %s", from, field, description),
		Violations: []shared.FieldViolation{{Field: field, Description: description}}}
}

// decodeStrict fills m from data, a JSON object whose keys are the fields'
// proto names, which are WeChat Pay's snake_case names: the message's
// descriptor is the one list of fields. Stricter than protojson, which also
// takes the camelCase JSON names, integers as strings and 200.0 for 200: a
// request is what WeChat Pay would take. Fields are named in errors by
// their path in the plugin's request (prefix, then order.fees[0].fee_amount).
func decodeStrict(data []byte, from, prefix string, m proto.Message) error {
	d := &strictDecoder{dec: json.NewDecoder(bytes.NewReader(data)), data: data, from: from}
	d.dec.UseNumber()
	if len(bytes.TrimSpace(data)) == 0 {
		return invalidRequest(from, "", "empty: want a JSON object")
	}
	if err := d.message(m.ProtoReflect(), prefix); err != nil {
		return err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return invalidRequest(from, "", fmt.Sprintf("more after the request's JSON object (at %s): send one object", d.position(d.dec.InputOffset())))
	}
	return nil
}

type strictDecoder struct {
	dec  *json.Decoder
	data []byte
	from string
}

// position is a byte offset as line and column (in characters).
func (d *strictDecoder) position(offset int64) string {
	if offset > int64(len(d.data)) {
		offset = int64(len(d.data))
	}
	before := d.data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len([]rune(string(before[bytes.LastIndexByte(before, '\n')+1:]))) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

// token reads the next token; a syntax error is the request's, placed.
func (d *strictDecoder) token() (json.Token, error) {
	tok, err := d.dec.Token()
	if err == nil {
		return tok, nil
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return nil, invalidRequest(d.from, "", fmt.Sprintf("not JSON: %v (%s)", syn, d.position(syn.Offset)))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, invalidRequest(d.from, "", "not JSON: it ends before its object is closed")
	}
	return nil, invalidRequest(d.from, "", fmt.Sprintf("not JSON: %v", err))
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// message reads one JSON object into m.
func (d *strictDecoder) message(m protoreflect.Message, path string) error {
	tok, err := d.token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return invalidRequest(d.from, path, "want a JSON object, got "+describe(tok))
	}
	fields := m.Descriptor().Fields()
	seen := map[string]bool{}
	for d.dec.More() {
		tok, err := d.token()
		if err != nil {
			return err
		}
		key := tok.(string) // object keys are strings, or Token fails
		fd := fields.ByName(protoreflect.Name(key))
		if fd == nil {
			if alt := fields.ByJSONName(key); alt != nil {
				return invalidRequest(d.from, join(path, string(alt.Name())),
					fmt.Sprintf("write it %s, WeChat Pay's name, not %s", alt.Name(), key))
			}
			return invalidRequest(d.from, join(path, key), fmt.Sprintf("unknown field; the fields here are %s", fieldNames(fields)))
		}
		if seen[key] {
			return invalidRequest(d.from, join(path, key), "given twice")
		}
		seen[key] = true
		if err := d.field(m, fd, join(path, key)); err != nil {
			return err
		}
	}
	_, err = d.token() // the closing brace: More said so
	return err
}

func fieldNames(fields protoreflect.FieldDescriptors) string {
	names := make([]string, fields.Len())
	for i := range names {
		names[i] = string(fields.Get(i).Name())
	}
	return strings.Join(names, ", ")
}

// field reads the value of fd.
func (d *strictDecoder) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, path string) error {
	if fd.IsMap() {
		return invalidRequest(d.from, path, "a map, which no request has") // not reached with today's messages
	}
	if !fd.IsList() {
		v, set, err := d.value(m, fd, path)
		if set {
			m.Set(fd, v)
		}
		return err
	}
	tok, err := d.token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil // null: left out
	}
	if tok != json.Delim('[') {
		return invalidRequest(d.from, path, "want a JSON array, got "+describe(tok))
	}
	list := m.Mutable(fd).List()
	for i := 0; d.dec.More(); i++ {
		v, set, err := d.value(m, fd, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return err
		}
		if !set {
			return invalidRequest(d.from, fmt.Sprintf("%s[%d]", path, i), "null in a list")
		}
		list.Append(v)
	}
	_, err = d.token()
	return err
}

// value reads one value of fd's kind; set is false for null (left out).
func (d *strictDecoder) value(m protoreflect.Message, fd protoreflect.FieldDescriptor, path string) (protoreflect.Value, bool, error) {
	if fd.Kind() == protoreflect.MessageKind {
		if d.peekNull() {
			_, err := d.token()
			return protoreflect.Value{}, false, err
		}
		var sub protoreflect.Message
		if fd.IsList() {
			sub = m.Mutable(fd).List().NewElement().Message()
		} else {
			sub = m.NewField(fd).Message()
		}
		if err := d.message(sub, path); err != nil {
			return protoreflect.Value{}, false, err
		}
		return protoreflect.ValueOfMessage(sub), true, nil
	}
	tok, err := d.token()
	if err != nil || tok == nil {
		return protoreflect.Value{}, false, err
	}
	bad := func(want string) (protoreflect.Value, bool, error) {
		return protoreflect.Value{}, false, invalidRequest(d.from, path, fmt.Sprintf("want %s, got %s", want, describe(tok)))
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		if s, ok := tok.(string); ok {
			return protoreflect.ValueOfString(s), true, nil
		}
		return bad("a JSON string")
	case protoreflect.BoolKind:
		if b, ok := tok.(bool); ok {
			return protoreflect.ValueOfBool(b), true, nil
		}
		return bad("true or false")
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, ok := tok.(json.Number)
		if s, isString := tok.(string); isString {
			if _, err := strconv.ParseInt(s, 10, 64); err == nil {
				return protoreflect.Value{}, false, invalidRequest(d.from, path, "want a JSON integer, got a string: write "+s+" without quotes")
			}
		}
		if !ok {
			return bad("a JSON integer")
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		is32 := fd.Kind() == protoreflect.Int32Kind || fd.Kind() == protoreflect.Sint32Kind || fd.Kind() == protoreflect.Sfixed32Kind
		switch {
		case errors.Is(err, strconv.ErrRange) || err == nil && is32 && (i < math.MinInt32 || i > math.MaxInt32):
			return bad("an integer in range")
		case err != nil:
			return bad("a JSON integer (no fraction, no exponent)")
		case is32:
			return protoreflect.ValueOfInt32(int32(i)), true, nil
		}
		return protoreflect.ValueOfInt64(i), true, nil
	case protoreflect.EnumKind:
		if s, ok := tok.(string); ok {
			if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
				return protoreflect.ValueOfEnum(ev.Number()), true, nil
			}
		}
		return bad("one of the names of " + string(fd.Enum().Name()))
	}
	return bad("a kind no request has") // not reached with today's messages
}

// peekNull says whether the next value is null, without reading it.
func (d *strictDecoder) peekNull() bool {
	rest := bytes.TrimLeft(d.data[d.dec.InputOffset():], " \t\r\n:,")
	return bytes.HasPrefix(rest, []byte("null"))
}

// describe says what a token is, without quoting a long value.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string" // not quoted: it may be personal data, or long
	case bool:
		return fmt.Sprintf("%v", t)
	case json.Number:
		if len(t) > 40 {
			return fmt.Sprintf("a number (%d digits)", len(t))
		}
		return "the number " + string(t)
	}
	return fmt.Sprintf("%v", tok)
}
