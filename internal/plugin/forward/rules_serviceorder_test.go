package forward

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
)

func soBody(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// What a service order's state allows (fact sheet section 3), decided
// before sending, the same for the online path and the forwarder.
func TestServiceOrderBefore(t *testing.T) {
	lines := []wxpay.Payment{{Name: "商品信息", Description: "可乐", Count: 1, Amount: 300}}
	complete := soBody(t, wxpay.CompleteServiceOrderRequest{PostPayments: lines, TotalAmount: 300})
	bigComplete := soBody(t, wxpay.CompleteServiceOrderRequest{PostPayments: []wxpay.Payment{{Name: "商品信息", Description: "整箱", Count: 1, Amount: 9000}}, TotalAmount: 9000})
	cancel := soBody(t, wxpay.CancelServiceOrderRequest{Reason: "未取货"})
	modify := soBody(t, wxpay.ModifyServiceOrderRequest{PostPayments: lines, TotalAmount: 200, Reason: "少拿"})
	pay := soBody(t, wxpay.PayServiceOrderRequest{})
	created := &wxpay.ServiceOrder{State: "CREATED"}
	confirmed := &wxpay.ServiceOrder{State: "DOING", StateDescription: "USER_CONFIRM", RiskFund: &wxpay.RiskFund{Name: "ESTIMATE_ORDER_COST", Amount: 1000}}
	deposited := &wxpay.ServiceOrder{State: "DOING", StateDescription: "USER_CONFIRM", RiskFund: &wxpay.RiskFund{Name: "DEPOSIT", Amount: 1000}}
	paying := &wxpay.ServiceOrder{State: "DOING", StateDescription: "MCH_COMPLETE", TotalAmount: 300, PostPayments: lines,
		Collection: &wxpay.Collection{State: "USER_PAYING", TotalAmount: 300, PayingAmount: 300}}
	modified := &wxpay.ServiceOrder{State: "DOING", StateDescription: "MCH_COMPLETE", TotalAmount: 200,
		Collection: &wxpay.Collection{State: "USER_PAYING", TotalAmount: 200, PayingAmount: 200}}
	done := &wxpay.ServiceOrder{State: "DONE", TotalAmount: 300, PostPayments: lines,
		Collection: &wxpay.Collection{State: "USER_PAID", Details: []wxpay.CollectionDetail{{PaidType: "MCH"}}}}
	revoked := &wxpay.ServiceOrder{State: "REVOKED"}
	for _, tc := range []struct {
		name string
		kind outbox.OpKind
		body json.RawMessage
		ours bool
		q    *wxpay.ServiceOrder
		want Action
		code string
	}{
		{"cancel before confirmation", outbox.OpCancel, cancel, false, created, Send, ""},
		{"cancel once confirmed", outbox.OpCancel, cancel, false, confirmed, Send, ""},
		// The sources conflict: sent, WeChat Pay decides.
		{"cancel while payment is pending", outbox.OpCancel, cancel, false, paying, Send, ""},
		{"cancel of a paid order", outbox.OpCancel, cancel, false, done, Refuse, "ORDER_STATE_DONE"},
		{"our cancel, revoked", outbox.OpCancel, cancel, true, revoked, Applied, ""},
		{"another's cancel, revoked", outbox.OpCancel, cancel, false, revoked, Refuse, "ORDER_STATE_REVOKED"},
		{"complete once confirmed", outbox.OpComplete, complete, false, confirmed, Send, ""},
		{"complete before confirmation", outbox.OpComplete, complete, false, created, Refuse, "ORDER_STATE_CREATED"},
		{"complete over a deposit", outbox.OpComplete, bigComplete, false, deposited, Refuse, CodeTotalAboveRisk},
		// 先享: the service's cap, which only WeChat Pay knows, decides.
		{"complete over an estimate", outbox.OpComplete, bigComplete, false, confirmed, Send, ""},
		{"the same complete, applied", outbox.OpComplete, complete, false, paying, Applied, ""},
		{"the same complete, paid", outbox.OpComplete, complete, false, done, Applied, ""},
		{"another complete, applied", outbox.OpComplete, bigComplete, false, paying, Refuse, "ORDER_STATE_DOING_MCH_COMPLETE"},
		{"modify while payment is pending", outbox.OpModify, modify, false, paying, Send, ""},
		{"our modify, applied", outbox.OpModify, modify, true, modified, Applied, ""},
		{"modify upwards", outbox.OpModify, soBody(t, wxpay.ModifyServiceOrderRequest{TotalAmount: 400}), false, paying, Refuse, "PARAM_ERROR"},
		{"modify before completion", outbox.OpModify, modify, false, confirmed, Refuse, "ORDER_STATE_DOING_USER_CONFIRM"},
		{"pay while payment is pending", outbox.OpPay, pay, false, paying, Send, ""},
		{"pay of a paid order", outbox.OpPay, pay, false, done, Applied, ""},
		{"sync of an order paid by the merchant", outbox.OpSync, pay, false, done, Applied, ""},
		{"sync before completion", outbox.OpSync, pay, false, confirmed, Refuse, "ORDER_STATE_DOING_USER_CONFIRM"},
		{"an unreadable complete", outbox.OpComplete, json.RawMessage(`{`), false, confirmed, Refuse, "BAD_RECORD"},
	} {
		v := ServiceOrderBefore(tc.kind, tc.body, tc.ours, tc.q, nil)
		if v.Action != tc.want || v.Code != tc.code {
			t.Errorf("%s: %v %q (%s), want %v %q", tc.name, v.Action, v.Code, v.Message, tc.want, tc.code)
		}
	}
	if v := ServiceOrderBefore(outbox.OpCancel, cancel, false, nil, &wxpay.Error{Class: wxpay.NotFound, Code: "ORDER_NOT_EXIST"}); v.Action != Refuse || v.Code != CodeOrderNotExist {
		t.Errorf("no such order: %+v", v)
	}
	if v := ServiceOrderBefore(outbox.OpCancel, cancel, false, nil, &wxpay.Error{Class: wxpay.Network}); v.Action != Reconcile {
		t.Errorf("no answer to the query: %+v", v)
	}
}

// A refused operation is applied only if the order shows it; a create in
// flight is there or not, as on smart retail.
func TestServiceOrderAfterCheckAndQuery(t *testing.T) {
	lines := []wxpay.Payment{{Name: "商品信息", Description: "可乐", Count: 1, Amount: 300}}
	complete := soBody(t, wxpay.CompleteServiceOrderRequest{PostPayments: lines, TotalAmount: 300})
	refusal := &wxpay.Error{Class: wxpay.Invalid, Code: "INVALID_ORDER_STATE"}
	paying := &wxpay.ServiceOrder{State: "DOING", StateDescription: "MCH_COMPLETE", TotalAmount: 300}
	if v := ServiceOrderAfterCheck(outbox.OpComplete, complete, true, refusal, paying, nil); v.Action != Applied {
		t.Errorf("a refused complete the order shows: %+v", v)
	}
	if v := ServiceOrderAfterCheck(outbox.OpComplete, complete, true, refusal, &wxpay.ServiceOrder{State: "REVOKED"}, nil); v.Action != Refuse || v.Code != "INVALID_ORDER_STATE" {
		t.Errorf("a refused complete of a revoked order: %+v", v)
	}
	notFound := &wxpay.Error{Class: wxpay.NotFound}
	create := soBody(t, wxpay.CreateServiceOrderRequest{OutOrderNo: "SO-1"})
	for _, tc := range []struct {
		name               string
		reconcileOnly, old bool
		q                  *wxpay.ServiceOrder
		qerr               error
		want               Action
	}{
		{"there", false, false, &wxpay.ServiceOrder{State: "CREATED"}, nil, Applied},
		{"not there: its first arrival", false, false, nil, notFound, Send},
		{"not there, too old", false, true, nil, notFound, Refuse},
		{"not there, reconcile only", true, false, nil, notFound, Refuse},
		{"no answer", false, false, nil, errors.New("reset"), Reconcile},
	} {
		if v := ServiceOrderAfterQuery(outbox.OpCreate, create, tc.reconcileOnly, tc.old, tc.q, tc.qerr); v.Action != tc.want {
			t.Errorf("%s: %+v", tc.name, v)
		}
	}
	if v := ServiceOrderAfterQuery(outbox.OpComplete, complete, false, false, paying, nil); v.Action != Applied {
		t.Errorf("a complete in flight the order shows: %+v", v)
	}
}
