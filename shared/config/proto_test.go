package config

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// The config file is the Configure message in protojson form: the same keys,
// no more, no fewer.
func TestConfigFileIsTheConfigMessage(t *testing.T) {
	var protoKeys []string
	fields := (&v1.Config{}).ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		protoKeys = append(protoKeys, string(fields.Get(i).Name()))
	}
	fileKeys := append([]string(nil), FileKeys()...)
	var structKeys []string
	ty := reflect.TypeOf(Config{})
	for i := 0; i < ty.NumField(); i++ {
		name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
		structKeys = append(structKeys, name)
	}
	sort.Strings(protoKeys)
	sort.Strings(fileKeys)
	sort.Strings(structKeys)
	if !reflect.DeepEqual(protoKeys, fileKeys) || !reflect.DeepEqual(structKeys, fileKeys) {
		t.Fatalf("keys differ:\nproto  %v\nfile   %v\nstruct %v", protoKeys, fileKeys, structKeys)
	}

	c := &Config{}
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("value-" + ty.Field(i).Name)
		case reflect.Int64:
			f.SetInt(int64(100 + i))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Float64:
			f.SetFloat(float64(i) + 0.5)
		default:
			t.Fatalf("field %s of kind %v: extend this test", ty.Field(i).Name, f.Kind())
		}
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var p v1.Config
	if err := protojson.Unmarshal(data, &p); err != nil {
		t.Fatalf("config file is not the Config message in protojson: %v", err)
	}
	if !proto.Equal(&p, c.Proto()) {
		t.Errorf("protojson %v != Proto() %v", &p, c.Proto())
	}
	if back := FromProto(&p); !reflect.DeepEqual(back, c) {
		t.Errorf("FromProto(Proto()) = %+v, want %+v", back, c)
	}
	var count int
	p.ProtoReflect().Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool { count++; return true })
	if count != len(fileKeys) {
		t.Errorf("Proto() sets %d fields, want %d", count, len(fileKeys))
	}
}
