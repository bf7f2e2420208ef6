package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The classes the CLI prints besides the plugin's (shared.Class*); the
// README's error table lists them with their exit codes.
const (
	classUsage   shared.Class = "USAGE"   // the command line cannot run: exit 2
	classHost    shared.Class = "HOST"    // the CLI's own part failed: a file, the plugin's start, an interrupt
	classTimeout shared.Class = "TIMEOUT" // the time given ran out
)

// reasonDrainTimeout (class TIMEOUT): queue drain's --timeout passed with
// orders still pending.
const reasonDrainTimeout = "DRAIN_TIMEOUT"

// errUsage marks an error in the command line itself.
var errUsage = errors.New("usage")

// errInterrupted is a command stopped by Ctrl-C or SIGTERM.
var errInterrupted = errors.New("interrupted (Ctrl-C or SIGTERM)")

// alwaysShown are the fields printed even when empty, by message: what a
// person looks for is there, with its zero value, rather than missing. "*"
// is every field. Other empty fields are left out.
var alwaysShown = map[protoreflect.FullName][]protoreflect.Name{
	fullName(&v1.GetStatusResponse{}):           {"*"},
	fullName(&v1.Order{}):                       {"state", "order_id", "query_id"},
	fullName(&v1.QueuedOrder{}):                 {"local_state", "attempts", "last_error"},
	fullName(&v1.CreateOrderResponse{}):         {"disposition"},
	fullName(&v1.CreatedOrder{}):                {"order_id"},
	fullName(&v1.CancelOrderResponse{}):         {"disposition"},
	fullName(&v1.CompleteOrderResponse{}):       {"disposition"},
	fullName(&v1.GetUserServiceStateResponse{}): {"use_service_state"},
	fullName(&v1.ListQueueResponse{}):           {"orders"},
	fullName(&v1.DrainResponse{}):               {"*"},
	fullName(&v1.CompactOutboxResponse{}):       {"*"},
}

func fullName(m proto.Message) protoreflect.FullName { return m.ProtoReflect().Descriptor().FullName() }

func shown(m protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor) bool {
	for _, n := range alwaysShown[m.FullName()] {
		if n == "*" || n == fd.Name() {
			return true
		}
	}
	return false
}

// member is one key of a JSON object whose keys keep their order.
type member struct {
	key   string
	value any
}

// object is a JSON object printed in the order of its members: a message's
// fields in the order of the .proto, which puts what matters first.
type object []member

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := encodeTo(&b, m.key); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := encodeTo(&b, m.value); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// encodeTo writes v as JSON without escaping <, > and & (json.Marshal
// would write & as \u0026, and no one reads it in a terminal).
func encodeTo(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// messageJSON is m for printing: WeChat Pay's field names, 64-bit integers
// as JSON numbers (protojson writes them as strings), enums by name,
// timestamps and durations as protojson writes them.
func messageJSON(m protoreflect.Message) (any, error) {
	md := m.Descriptor()
	if md.ParentFile().Package() == "google.protobuf" {
		data, err := protojson.Marshal(m.Interface())
		return json.RawMessage(data), err
	}
	out := object{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) && (!shown(md, fd) || fd.Kind() == protoreflect.MessageKind && !fd.IsList()) {
			continue
		}
		v, err := fieldJSON(fd, m.Get(fd))
		if err != nil {
			return nil, err
		}
		out = append(out, member{string(fd.Name()), v})
	}
	return out, nil
}

func fieldJSON(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range out {
			var err error
			if out[i], err = singularJSON(fd, l.Get(i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case fd.IsMap():
		var keys []protoreflect.MapKey
		v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		out := object{}
		for _, k := range keys {
			e, err := singularJSON(fd.MapValue(), v.Map().Get(k))
			if err != nil {
				return nil, err
			}
			out = append(out, member{k.String(), e})
		}
		return out, nil
	}
	return singularJSON(fd, v)
}

func singularJSON(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messageJSON(v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name()), nil
		}
		return int32(v.Enum()), nil
	case protoreflect.BytesKind:
		return v.Bytes(), nil // base64, as protojson
	}
	return v.Interface(), nil // string, bool, integers as numbers, floats
}

// printJSON prints m as one indented JSON object on stdout.
func printJSON(stdout, stderr io.Writer, m proto.Message) int {
	v, err := messageJSON(m.ProtoReflect())
	if err != nil {
		return printError(stderr, err)
	}
	return writeJSON(stdout, v)
}

// writeJSON prints v indented, <, > and & as themselves.
func writeJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(w, "smartretail: printing the answer: %v\n", err)
		return 1
	}
	return 0
}

// cliError is the JSON a failed command prints on stderr.
type cliError struct {
	Error struct {
		Class         string                  `json:"class"`
		Code          string                  `json:"code,omitempty"` // gRPC status code
		Message       string                  `json:"message"`
		WeChatCode    string                  `json:"wechat_code,omitempty"`
		WeChatMessage string                  `json:"wechat_message,omitempty"`
		Field         string                  `json:"field,omitempty"`
		Violations    []shared.FieldViolation `json:"violations,omitempty"`
		Reason        string                  `json:"reason,omitempty"`
		OutOrderNo    string                  `json:"out_order_no,omitempty"`
		RetryAfterMS  int64                   `json:"retry_after_ms,omitempty"`
		ReachedServer bool                    `json:"reached_server,omitempty"`
	} `json:"error"`
}

// printError prints err as the one JSON error object on stderr and
// returns the exit code: 2 for a command line that cannot run (USAGE), 1
// for everything else.
func printError(stderr io.Writer, err error) int {
	se := classify(err)
	var out cliError
	e := &out.Error
	e.Class, e.Message = string(se.Class), se.Message
	if se.Code != codes.OK {
		e.Code = codeName(se.Code)
	}
	if se.WeChatPay != nil {
		e.WeChatCode, e.WeChatMessage = se.WeChatPay.Code, se.WeChatPay.Message
	}
	if len(se.Violations) > 0 {
		e.Field, e.Violations = se.Violations[0].Field, se.Violations
	}
	e.RetryAfterMS = se.RetryAfter.Milliseconds()
	e.Reason, e.OutOrderNo = se.Reason, se.OutOrderNo
	e.ReachedServer = se.ReachedServer
	writeJSON(stderr, out)
	if se.Class == classUsage {
		return exitUsage
	}
	return 1
}

// classify gives every error a class of the README's table: the plugin's
// as they came, a deadline that passed TIMEOUT, a config the loader
// refused INVALID naming its keys (as the plugin's Configure would), the
// command line USAGE, the rest HOST.
func classify(err error) *shared.Error {
	var se *shared.Error
	if errors.As(err, &se) {
		c := *se
		switch {
		case (c.Class == shared.ClassInternal || c.Class == shared.ClassNetwork) && c.Code == codes.DeadlineExceeded:
			// The call's deadline (--timeout) passed: gRPC's, not WeChat
			// Pay's (the plugin's own network errors are UNAVAILABLE). A
			// create, cancel or complete cut short keeps reached_server.
			// The call's deadline (--timeout) passed: gRPC's, not the plugin's.
			c.Class = classTimeout
			c.Message = "the command's --timeout passed before the plugin answered: " + c.Message + timeoutAdvice
		case c.Class == shared.ClassInternal && c.Code == codes.Canceled:
			c.Class, c.Message = classHost, errInterrupted.Error()+": "+c.Message
		}
		return &c
	}
	var problems config.Problems
	var keyErr *config.KeyError
	switch {
	case errors.Is(err, errUsage):
		return &shared.Error{Class: classUsage, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &shared.Error{Class: classTimeout, Message: "the command's --timeout passed: " + err.Error() + timeoutAdvice}
	case errors.As(err, &problems):
		e := &shared.Error{Class: shared.ClassInvalid, Code: codes.InvalidArgument, Message: err.Error()}
		for _, p := range problems {
			e.Violations = append(e.Violations, shared.FieldViolation{Field: "config." + p.Key, Description: p.Err.Error()})
		}
		return e
	case errors.As(err, &keyErr):
		return &shared.Error{Class: shared.ClassInvalid, Code: codes.InvalidArgument, Message: err.Error(),
			Violations: []shared.FieldViolation{{Field: "config." + keyErr.Key, Description: keyErr.Err.Error()}}}
	}
	return &shared.Error{Class: classHost, Message: err.Error()}
}

// codeName is a gRPC code as the README's table and gRPC's own documents
// write it: INVALID_ARGUMENT, not Go's InvalidArgument.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// timeoutAdvice follows a TIMEOUT: a call cut short may still have been sent.
const timeoutAdvice = "; a create, cancel or complete cut short may still have reached WeChat Pay: query the order before sending it again"

// interrupted is err, or errInterrupted when Ctrl-C or SIGTERM ended ctx.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() == context.Canceled {
		return fmt.Errorf("%w: %v", errInterrupted, err)
	}
	return err
}
