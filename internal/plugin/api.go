package plugin

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/kioskpay/smartretail/internal/plugin/forward"
	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/internal/plugin/wxpay"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// payscore is one of WeChat Pay's Pay Score APIs as the service speaks it:
// the contract's requests as the API's bodies, its answers in the
// contract's words (convert.go for smart-retail orders,
// convert_serviceorder.go for service orders), and the wire and rule book
// (forward.API) that the forwarder uses too. Configure picks one; an order
// the outbox holds keeps the API it was made for.
type payscore interface {
	forward.API
	// create is the host's order as this API's create, checked; no is its
	// out_order_no (minted when the host gave none).
	create(o *v1.NewOrder, no string) (newCreate, error)
	// createdFrom is a create's answer (as the outbox keeps it) for the host.
	createdFrom(result json.RawMessage) (*v1.CreatedOrder, bool)
	cancel(r *v1.CancelOrderRequest) (opCall, error)
	// complete is a complete as this API takes it: on service orders one
	// that charges nothing (finish_type 1) is a cancel.
	complete(r *v1.CompleteOrderRequest) (opCall, error)
	modify(r *v1.ModifyOrderRequest) (opCall, error)
	pay(r *v1.CollectPaymentRequest) (opCall, error)
	sync(r *v1.SyncOrderPaidRequest) (opCall, error)
	// order is a query's answer in the contract's words.
	order(q forward.Shown) *v1.Order
	// queuedOrder is the order a create waiting in the outbox asks for.
	queuedOrder(mchID string, body json.RawMessage) (*v1.Order, error)
	// aboveRisk refuses a complete that charges more than the queued
	// create allows (nil when it does not, or cannot be told).
	aboveRisk(no string, create, complete json.RawMessage) error
}

// newCreate is a checked create, ready to send or queue.
type newCreate struct {
	no, appID, serviceID string
	body                 json.RawMessage
	// amount is the most the order can cost the customer (the offline
	// limits count it).
	amount int64
	// confirm: the customer must confirm the order (need_user_confirm).
	confirm bool
}

// opCall is a checked operation on an order, ready to send or queue.
type opCall struct {
	no   string
	kind outbox.OpKind
	body json.RawMessage
	ids  wxpay.OrderRef // appid and service_id, for the query before it
}

// apis are the APIs a configuration can send on: its own first, then the
// other one, for orders an earlier configuration queued there.
func apis(cfg *config.Config, client *wxpay.Client) (payscore, []payscore) {
	sr := smartRetailAPI{SmartRetail: forward.SmartRetail{WeChat: client}, cfg: cfg}
	so := serviceOrderAPI{ServiceOrders: forward.ServiceOrders{WeChat: client}, cfg: cfg}
	if cfg.API() == config.APIServiceOrder {
		return so, []payscore{so, sr}
	}
	return sr, []payscore{sr, so}
}

// apiOf is the API order o was made for: "" is smart retail (records from
// before there were two).
func (c *configured) apiOf(o *outbox.Order) payscore {
	if o == nil {
		return c.api // one the outbox does not hold: the configured API's
	}
	name := forward.APISmartRetail
	if o.API != "" {
		name = o.API
	}
	for _, a := range c.apis {
		if a.Name() == name {
			return a
		}
	}
	return c.api
}

// otherAPIError refuses a request for an order the outbox holds under the
// other API: its body would be the wrong API's.
func otherAPIError(no, made, now string) error {
	return &shared.Error{Class: shared.ClassInvalid, OutOrderNo: no, Reason: shared.ReasonOperationConflict,
		Message: "order " + no + " was made on WeChat Pay's " + made + " API and the plugin is now configured for " + now +
			" (payscore_api): what the outbox holds for it is still sent there, but new requests for it are not taken; configure payscore_api " + made + " to finish it"}
}

// checked turns a request's validation failure into the contract's error,
// its fields named as the host sent them: rename maps a wire field's JSON
// pointer, array indexes written *, to the contract's
// ("/post_payments/*/amount" to "/fees/*/fee_amount").
func checked(err error, no, prefix string, rename map[string]string) error {
	var we *wxpay.Error
	if errors.As(err, &we) {
		for i, v := range we.Violations {
			we.Violations[i].Field = renamed(v.Field, rename)
		}
	}
	return withOrder(fromWxpay(err, prefix), no)
}

// renamed is pointer as rename names it, its indexes kept; as it is when
// rename has no name for it.
func renamed(pointer string, rename map[string]string) string {
	parts := strings.Split(pointer, "/")
	var indexes []string
	for i, p := range parts {
		if isIndex(p) {
			indexes, parts[i] = append(indexes, p), "*"
		}
	}
	to, ok := rename[strings.Join(parts, "/")]
	if !ok {
		return pointer
	}
	out := strings.Split(to, "/")
	for i, p := range out {
		if p == "*" && len(indexes) > 0 {
			out[i], indexes = indexes[0], indexes[1:]
		}
	}
	return strings.Join(out, "/")
}

// marshal is json.Marshal for the bodies here, which always marshal.
func marshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
