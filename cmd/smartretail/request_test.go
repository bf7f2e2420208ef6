package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// oneError is the one JSON error object stderr must hold, and nothing else.
func oneError(t *testing.T, stderr string) cliError {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stderr))
	dec.DisallowUnknownFields()
	var e cliError
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("stderr is not one JSON error object (%v):\n%s", err, stderr)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("stderr holds more than the JSON error object:\n%s", stderr)
	}
	return e
}

// A request body is read strictly, as WeChat Pay would: its snake_case
// names only, integers as JSON integers. A body that breaks that is the
// request's fault: exit 1, class INVALID, the field named as the plugin
// names it. Before, protojson took riskAmount, "20000", 200.00 and
// "finish_type":"2", and what it refused was USAGE, exit 2, in protobuf's
// words ("proto: syntax error", riskAmount).
func TestRequestBodiesAreStrict(t *testing.T) {
	const sale = `"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜"`
	cases := []struct {
		name, command, body, field, says string
	}{
		{"camelCase name", "create", `{"out_order_no":"S1",` + sale + `,"riskAmount":20000}`, "order.risk_amount", "risk_amount"},
		{"integer as a string", "create", `{"out_order_no":"S1",` + sale + `,"risk_amount":"20000"}`, "order.risk_amount", "JSON integer"},
		{"integer with a fraction", "create", `{"out_order_no":"S1",` + sale + `,"risk_amount":200.00}`, "order.risk_amount", "JSON integer"},
		{"integer with an exponent", "create", `{"out_order_no":"S1",` + sale + `,"risk_amount":2e4}`, "order.risk_amount", "JSON integer"},
		{"nested integer as a string", "create", `{"out_order_no":"S1",` + sale + `,"risk_amount":100,"fees":[{"fee_name":"水","fee_count":1,"fee_amount":1},{"fee_name":"茶","fee_count":1,"fee_amount":"2"}]}`, "order.fees[1].fee_amount", "JSON integer"},
		{"int32 as a string", "complete", `{"out_order_no":"S1","finish_type":"2","fees":[{"fee_name":"水","fee_count":1,"fee_amount":200}]}`, "finish_type", "JSON integer"},
		{"int32 out of range", "complete", `{"out_order_no":"S1","finish_type":4294967298}`, "finish_type", "in range"},
		{"a string as a number", "cancel", `{"out_order_no":123,"reason":"未取货"}`, "out_order_no", "JSON string"},
		{"a bool as a string", "create", `{"out_order_no":"S1",` + sale + `,"risk_amount":100,"need_user_confirm":"false"}`, "order.need_user_confirm", "true or false"},
		{"unknown field", "cancel", `{"out_order_no":"S1","reason":"未取货","colour":"red"}`, "colour", "unknown field"},
		{"a key twice", "cancel", `{"out_order_no":"S1","reason":"未取货","reason":"x"}`, "reason", "twice"},
		{"an object where a list goes", "create", `{"out_order_no":"S1",` + sale + `,"fees":{"fee_name":"水"}}`, "order.fees", "JSON array"},
		{"not JSON", "create", `{"out_order_no": }`, "", "line 1, column 18"},
		{"not closed", "create", `{"out_order_no":"S1"`, "", "ends before"},
		{"two objects", "cancel", `{"out_order_no":"S1","reason":"x"} {}`, "", "more after"},
		{"empty", "cancel", ``, "", "empty"},
		{"an array", "cancel", `[]`, "", "JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The request is read before the plugin starts: no config is needed.
			code, out, errOut := runCLI(t, c.body, c.command, "--config", "unused.json")
			e := oneError(t, errOut)
			if code != 1 || out != "" || e.Error.Class != "INVALID" || e.Error.Field != c.field || !strings.Contains(e.Error.Message, c.says) {
				t.Errorf("exit %d, stdout %q, stderr %s; want exit 1, class INVALID, field %q, a message saying %q", code, out, errOut, c.field, c.says)
			}
			if strings.Contains(errOut, "proto:") || strings.Contains(errOut, "riskAmount") && !strings.Contains(errOut, "not riskAmount") {
				t.Errorf("the error speaks protobuf: %s", errOut)
			}
		})
	}
}

// A request that is right decodes to what protojson makes of it: the
// strict reading refuses more, never reads differently.
func TestStrictDecodingReadsWhatProtojsonReads(t *testing.T) {
	cases := []struct {
		body string
		m    func() proto.Message
	}{
		{`{"appid":"wx1","out_order_no":"S-1","service_id":"5","service_start_time":"OnAccept","service_end_time":"20300101","service_start_location":"K-17",
		  "service_end_location":"K-18","service_introduction":"无人零售柜","fees":[{"fee_name":"水","fee_count":2,"fee_amount":400,"fee_desc":"两瓶"}],
		  "discounts":[{"discount_name":"券","discount_desc":"d","discount_amount":100}],"risk_amount":9007199254740993,"attach":"a&b<c>",
		  "need_user_confirm":false,"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`, func() proto.Message { return &v1.NewOrder{} }},
		{`{"out_order_no":"S-1","appid":null,"finish_type":1,"cancel_reason":"r","total_amount":0,"profit_sharing":true,"fees":[]}`,
			func() proto.Message { return &v1.CompleteOrderRequest{} }},
		{`{"query_id":"Q1"}`, func() proto.Message { return &v1.QueryOrderRequest{} }},
		{" \n{ }\n", func() proto.Message { return &v1.CancelOrderRequest{} }},
	}
	for _, c := range cases {
		got, want := c.m(), c.m()
		if err := decodeStrict([]byte(c.body), "test", "", got); err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if err := protojson.Unmarshal([]byte(c.body), want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("strict read %v, protojson %v", got, want)
		}
	}
	// total_amount is optional: 0 given is 0 set, as protojson has it.
	var req v1.CompleteOrderRequest
	if err := decodeStrict([]byte(`{"total_amount":0}`), "test", "", &req); err != nil || req.TotalAmount == nil {
		t.Errorf("total_amount 0: %v, set %v", err, req.TotalAmount != nil)
	}
}

// The errors name the field by its path in the plugin's request, and
// never quote a string value (it may be personal data).
func TestStrictDecodingErrors(t *testing.T) {
	err := decodeStrict([]byte(`{"fees":[{"fee_name":"水","fee_count":1,"fee_amount":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}]}`), "stdin", "order", &v1.NewOrder{})
	var se *shared.Error
	if !errors.As(err, &se) || se.Class != shared.ClassInvalid || len(se.Violations) != 1 || se.Violations[0].Field != "order.fees[0].fee_amount" {
		t.Fatalf("%#v", err)
	}
	if strings.Contains(se.Error(), "oUpF8") {
		t.Errorf("the value is quoted: %v", se)
	}
	// Lines and columns count characters, not bytes.
	err = decodeStrict([]byte("{\n \"reason\": \"未取货\" x}"), "stdin", "", &v1.CancelOrderRequest{})
	if err == nil || !strings.Contains(err.Error(), "line 2, column 18") {
		t.Errorf("syntax error placed: %v", err)
	}
	var buf bytes.Buffer
	if code := printError(&buf, err); code != 1 {
		t.Errorf("a request's syntax error exits %d, want 1", code)
	}
}
