package config

import (
	"path/filepath"
	"reflect"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The config file is the Configure message (v1.Config) with the same keys:
// the message's descriptor lists them, and each Config field is paired with
// the message field its json tag names, so a key is written down once, as a
// struct field (TestConfigFileIsTheConfigMessage fails on a key of the
// message that Config lacks, or the reverse).

// protoFields holds, for each Config field by index, the message field of
// the same key and kind; nil where the message has none (the test above
// fails then).
var protoFields = func() []protoreflect.FieldDescriptor {
	fields := (&v1.Config{}).ProtoReflect().Descriptor().Fields()
	ty := reflect.TypeOf(Config{})
	out := make([]protoreflect.FieldDescriptor, ty.NumField())
	for i := range out {
		key, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
		fd := fields.ByName(protoreflect.Name(key))
		if fd != nil && kinds[fd.Kind()] != ty.Field(i).Type.Kind() {
			fd = nil // Set would panic on it
		}
		out[i] = fd
	}
	return out
}()

// kinds are the message's field kinds Config can hold.
var kinds = map[protoreflect.Kind]reflect.Kind{
	protoreflect.StringKind: reflect.String,
	protoreflect.Int64Kind:  reflect.Int64,
	protoreflect.BoolKind:   reflect.Bool,
	protoreflect.DoubleKind: reflect.Float64,
}

// FileKeys lists the config file's keys, in the order of the message.
func FileKeys() []string {
	fields := (&v1.Config{}).ProtoReflect().Descriptor().Fields()
	keys := make([]string, fields.Len())
	for i := range keys {
		keys[i] = string(fields.Get(i).Name())
	}
	return keys
}

// Proto is c as the Configure message; the keys are the same.
func (c *Config) Proto() *v1.Config {
	p := &v1.Config{}
	m := p.ProtoReflect()
	v := reflect.ValueOf(c).Elem()
	for i, fd := range protoFields {
		f := v.Field(i)
		if fd == nil || f.IsZero() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			m.Set(fd, protoreflect.ValueOfString(f.String()))
		case reflect.Int64:
			m.Set(fd, protoreflect.ValueOfInt64(f.Int()))
		case reflect.Bool:
			m.Set(fd, protoreflect.ValueOfBool(f.Bool()))
		case reflect.Float64:
			m.Set(fd, protoreflect.ValueOfFloat64(f.Float()))
		}
	}
	return p
}

// FromProto is the Configure message as a Config, defaults filled. It does
// not validate: call Validate.
func FromProto(p *v1.Config) *Config {
	c := &Config{}
	m := p.ProtoReflect() // a nil *v1.Config reads as empty
	v := reflect.ValueOf(c).Elem()
	for i, fd := range protoFields {
		if fd == nil {
			continue
		}
		f := v.Field(i)
		switch x := m.Get(fd).Interface().(type) {
		case string:
			if f.Kind() == reflect.String {
				f.SetString(x)
			}
		case int64:
			if f.Kind() == reflect.Int64 {
				f.SetInt(x)
			}
		case bool:
			if f.Kind() == reflect.Bool {
				f.SetBool(x)
			}
		case float64:
			if f.Kind() == reflect.Float64 {
				f.SetFloat(x)
			}
		}
	}
	c.fillDefaults()
	return c
}

func (c *Config) fillDefaults() {
	if c.APIBaseURL == "" {
		c.APIBaseURL = DefaultAPIBaseURL
	}
	if c.OutboxPath == "" {
		c.OutboxPath = DefaultOutboxPath
	}
	if c.OutboxKeyFile == "" {
		// Beside the outbox, wherever that is.
		c.OutboxKeyFile = filepath.Join(filepath.Dir(c.OutboxPath), DefaultOutboxKeyFile)
	}
}

// AbsolutePaths checks that every file path p (the Configure message, as a
// host sends it) names is absolute, outbox_path included: a config file's
// loader resolves relative paths against the file's folder, but over gRPC
// there is no such folder, and a relative path would land wherever the
// plugin process happens to run.
func AbsolutePaths(p *v1.Config) error {
	c := &Config{}
	m := p.ProtoReflect()
	v := reflect.ValueOf(c).Elem()
	for i, fd := range protoFields {
		if fd != nil && v.Field(i).Kind() == reflect.String {
			v.Field(i).SetString(m.Get(fd).String())
		}
	}
	var problems Problems
	if c.OutboxPath == "" {
		problems = append(problems, problem("outbox_path", "missing: a host that configures the plugin itself names the outbox, as an absolute path"))
	}
	for _, k := range c.paths() {
		if *k.p != "" && !filepath.IsAbs(*k.p) {
			problems = append(problems, problem(k.key, "want an absolute path, got %q: a config file's relative paths are resolved against its folder by the loader (config.Load); a host sending Configure must send absolute ones", *k.p))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}
