package wxpay

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// The service-order calls against a server answering as WeChat Pay does,
// signed with the platform key (answer, classify_test.go): what goes on the
// wire, what comes back, and how WeChat Pay's refusals are classed.

// seen is one request as the server saw it.
type seen struct {
	method, requestURI, auth string
	body                     []byte
}

// recorder is a WeChat Pay stand-in that records each request and answers
// with reply.
type recorder struct {
	mu    sync.Mutex
	got   []seen
	reply func(w http.ResponseWriter, r *http.Request)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.got = append(rec.got, seen{r.Method, r.RequestURI, r.Header.Get("Authorization"), b})
	reply := rec.reply
	rec.mu.Unlock()
	reply(w, r)
}

func (rec *recorder) requests() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.got...)
}

func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body on the wire\n got %s\nwant %s", got, want)
	}
}

const queryAnswer = `{"appid":"wx1","mchid":"1900000109","out_order_no":"SO|1-a","service_id":"500001",
"service_introduction":"无人售货柜","state":"DONE","total_amount":800,"need_collection":true,
"post_payments":[{"name":"商品信息","amount":600,"description":"可乐","count":2},{"name":"商品信息","amount":300,"description":"雪碧","count":1}],
"post_discounts":[{"name":"满减","description":"满9减1","amount":100,"count":1}],
"risk_fund":{"name":"ESTIMATE_ORDER_COST","amount":20000},"time_range":{"start_time":"20261126180000","end_time":"20261126183000"},
"collection":{"state":"USER_PAID","total_amount":800,"paying_amount":0,"paid_amount":800,
 "details":[{"seq":1,"amount":800,"paid_type":"NEWTON","paid_time":"20261126183105","transaction_id":"4200000001",
  "promotion_detail":[{"coupon_id":"C1","name":"立减","scope":"SINGLE","type":"NOCASH","amount":50,"stock_id":"S1",
   "wechatpay_contribute":50,"merchant_contribute":0,"other_contribute":0,"currency":"CNY",
   "goods_detail":[{"goods_id":"G1","quantity":1,"unit_price":300,"discount_amount":50,"goods_remark":"雪碧"}]}]}]},
"notify_url":"https://merchant.example.com/payscore/notify","openid":"o1","order_id":"1000"}`

func TestServiceOrderCallsOnTheWire(t *testing.T) {
	keys(t)
	const no, escaped = "SO|1-a", "SO%7C1-a" // out_order_no may hold |: path-escaped
	ctx := context.Background()
	create := validServiceCreate()
	create.OutOrderNo, create.AppID, create.ServiceID = no, "", "" // Settings fill them
	complete := validServiceComplete()
	complete.OutOrderNo, complete.AppID, complete.ServiceID = no, "", ""
	modify := validServiceModify()
	modify.OutOrderNo, modify.AppID, modify.ServiceID = no, "", ""
	cases := []struct {
		name    string
		call    func(*Client) (any, error)
		method  string
		path    string
		query   url.Values
		body    string // "" for none
		status  int
		answer  string
		checkTo func(t *testing.T, got any)
	}{
		{"create", func(c *Client) (any, error) { return c.CreateServiceOrder(ctx, create) },
			"POST", "/v3/payscore/serviceorder", nil,
			`{"out_order_no":"SO|1-a","appid":"wx1","service_id":"500001","service_introduction":"无人售货柜",
			"post_discounts":[{"name":"新客立减","description":"首单减1元"}],
			"time_range":{"start_time":"OnAccept","start_time_remark":"开门","end_time":"20261126183000","end_time_remark":"关门"},
			"location":{"start_location":"A栋1楼","end_location":"A栋1楼"},
			"risk_fund":{"name":"ESTIMATE_ORDER_COST","amount":20000,"description":"柜内商品"},
			"attach":"kiosk%3DK-17","notify_url":"https://merchant.example.com/payscore/notify",
			"need_user_confirm":true,"device":{"start_device_id":"K-17"}}`,
			200, `{"appid":"wx1","mchid":"1900000109","out_order_no":"SO|1-a","service_id":"500001","state":"CREATED","order_id":"1000","package":"DJIOSQPYWDxsjdlde"}`,
			func(t *testing.T, got any) {
				o := got.(*ServiceOrder)
				if o.State != ServiceOrderCreated || o.Package != "DJIOSQPYWDxsjdlde" || o.OrderID != "1000" || o.MchID != "1900000109" {
					t.Errorf("create answer %+v", o)
				}
			}},
		{"query by out_order_no", func(c *Client) (any, error) { return c.QueryServiceOrder(ctx, QueryRequest{OutOrderNo: no}) },
			"GET", "/v3/payscore/serviceorder", url.Values{"appid": {"wx1"}, "service_id": {"500001"}, "out_order_no": {no}}, "",
			200, queryAnswer,
			func(t *testing.T, got any) {
				o := got.(*ServiceOrder)
				c := o.Collection
				if o.State != ServiceOrderDone || !o.NeedCollection || o.TotalAmount != 800 || len(o.PostPayments) != 2 ||
					o.PostPayments[1] != (Payment{Name: SmartRetailPaymentName, Amount: 300, Description: "雪碧", Count: 1}) ||
					o.PostDiscounts[0].Amount != 100 || o.RiskFund.Name != RiskFundEstimateOrderCost || o.TimeRange.EndTime != "20261126183000" ||
					c == nil || c.State != CollectionUserPaid || c.PaidAmount != 800 || len(c.Details) != 1 {
					t.Fatalf("query answer %+v", o)
				}
				d := c.Details[0]
				if d.PaidType != PaidTypeNewton || d.TransactionID != "4200000001" || d.PaidTime != "20261126183105" || len(d.PromotionDetail) != 1 {
					t.Fatalf("collection detail %+v", d)
				}
				p := d.PromotionDetail[0]
				if p.CouponID != "C1" || p.WechatpayContribute != 50 || p.Currency != "CNY" ||
					len(p.GoodsDetail) != 1 || p.GoodsDetail[0] != (PromotionGoods{GoodsID: "G1", Quantity: 1, UnitPrice: 300, DiscountAmount: 50, GoodsRemark: "雪碧"}) {
					t.Errorf("promotion detail %+v", p)
				}
			}},
		{"query by query_id", func(c *Client) (any, error) {
			return c.QueryServiceOrder(ctx, QueryRequest{QueryID: "Q 9&x", AppID: "wx2", ServiceID: "500002"})
		},
			"GET", "/v3/payscore/serviceorder", url.Values{"appid": {"wx2"}, "service_id": {"500002"}, "query_id": {"Q 9&x"}}, "",
			200, `{"out_order_no":"SO|1-a","state":"DOING","state_description":"USER_CONFIRM"}`,
			func(t *testing.T, got any) {
				if o := got.(*ServiceOrder); o.State != ServiceOrderDoing || o.StateDescription != DescriptionUserConfirm {
					t.Errorf("query answer %+v", o)
				}
			}},
		{"cancel", func(c *Client) (any, error) {
			return c.CancelServiceOrder(ctx, CancelServiceOrderRequest{OutOrderNo: no, Reason: "顾客未取货"})
		},
			"POST", "/v3/payscore/serviceorder/" + escaped + "/cancel", nil,
			`{"appid":"wx1","service_id":"500001","reason":"顾客未取货"}`,
			200, `{"appid":"wx1","mchid":"1900000109","out_order_no":"SO|1-a","service_id":"500001","order_id":"1000"}`,
			func(t *testing.T, got any) {
				want := OrderRef{AppID: "wx1", MchID: "1900000109", OutOrderNo: no, ServiceID: "500001", OrderID: "1000"}
				if *got.(*OrderRef) != want {
					t.Errorf("cancel answer %+v", got)
				}
			}},
		{"modify", func(c *Client) (any, error) { return c.ModifyServiceOrder(ctx, modify) },
			"POST", "/v3/payscore/serviceorder/" + escaped + "/modify", nil,
			`{"appid":"wx1","service_id":"500001","post_payments":[{"name":"商品信息","amount":300,"description":"可乐","count":1}],
			"total_amount":300,"reason":"少取一瓶"}`,
			200, `{"out_order_no":"SO|1-a","state":"DOING","state_description":"MCH_COMPLETE","total_amount":300,
			"collection":{"state":"USER_PAYING","total_amount":300,"paying_amount":300,"paid_amount":0}}`,
			func(t *testing.T, got any) {
				o := got.(*ServiceOrder)
				if o.StateDescription != DescriptionMchComplete || o.Collection == nil || o.Collection.State != CollectionUserPaying || o.Collection.PayingAmount != 300 {
					t.Errorf("modify answer %+v", o)
				}
			}},
		{"complete", func(c *Client) (any, error) { return c.CompleteServiceOrder(ctx, complete) },
			"POST", "/v3/payscore/serviceorder/" + escaped + "/complete", nil,
			`{"appid":"wx1","service_id":"500001",
			"post_payments":[{"name":"商品信息","amount":600,"description":"可乐","count":2},{"name":"商品信息","amount":300,"description":"雪碧","count":1}],
			"post_discounts":[{"name":"满减","description":"满9减1","amount":100,"count":1}],"total_amount":800,
			"time_range":{"end_time":"20261126183000"},"location":{"end_location":"A栋1楼"},"profit_sharing":false,"goods_tag":"tag"}`,
			200, `{"out_order_no":"SO|1-a","state":"DOING","state_description":"MCH_COMPLETE","total_amount":800,"need_collection":true}`,
			func(t *testing.T, got any) {
				if o := got.(*ServiceOrder); o.StateDescription != DescriptionMchComplete || o.TotalAmount != 800 || !o.NeedCollection {
					t.Errorf("complete answer %+v", o)
				}
			}},
		{"pay, 200 with a body", func(c *Client) (any, error) { return c.PayServiceOrder(ctx, PayServiceOrderRequest{OutOrderNo: no}) },
			"POST", "/v3/payscore/serviceorder/" + escaped + "/pay", nil,
			`{"appid":"wx1","service_id":"500001"}`,
			200, `{"appid":"wx1","out_order_no":"SO|1-a","service_id":"500001","order_id":"1000"}`,
			func(t *testing.T, got any) {
				if r := got.(*OrderRef); r.OrderID != "1000" || r.OutOrderNo != no {
					t.Errorf("pay answer %+v", r)
				}
			}},
		{"pay, 204 empty", func(c *Client) (any, error) { return c.PayServiceOrder(ctx, PayServiceOrderRequest{OutOrderNo: no}) },
			"POST", "/v3/payscore/serviceorder/" + escaped + "/pay", nil,
			`{"appid":"wx1","service_id":"500001"}`,
			204, ``,
			func(t *testing.T, got any) {
				if r := got.(*OrderRef); *r != (OrderRef{}) {
					t.Errorf("pay answer %+v, want empty", r)
				}
			}},
		{"sync", func(c *Client) (any, error) {
			return c.SyncServiceOrder(ctx, SyncServiceOrderRequest{OutOrderNo: no, Detail: SyncDetail{PaidTime: "20261126190000"}})
		},
			"POST", "/v3/payscore/serviceorder/" + escaped + "/sync", nil,
			`{"appid":"wx1","service_id":"500001","type":"Order_Paid","detail":{"paid_time":"20261126190000"}}`,
			200, `{"out_order_no":"SO|1-a","state":"DONE","collection":{"state":"USER_PAID","total_amount":800,"paying_amount":0,"paid_amount":800,
			"details":[{"seq":1,"amount":800,"paid_type":"MCH","paid_time":"20261126190000"}]}}`,
			func(t *testing.T, got any) {
				o := got.(*ServiceOrder)
				if o.State != ServiceOrderDone || o.Collection == nil || len(o.Collection.Details) != 1 || o.Collection.Details[0].PaidType != PaidTypeMch {
					t.Errorf("sync answer %+v", o)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{reply: func(w http.ResponseWriter, r *http.Request) { answer(w, platformKy, tc.status, tc.answer) }}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			got, err := tc.call(newTestClient(t, srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			path, rawQuery, _ := strings.Cut(r.requestURI, "?")
			if r.method != tc.method || path != tc.path {
				t.Errorf("%s %s, want %s %s", r.method, path, tc.method, tc.path)
			}
			q, err := url.ParseQuery(rawQuery)
			if err != nil || (tc.query != nil || len(q) > 0) && !reflect.DeepEqual(q, tc.query) {
				t.Errorf("query %v, want %v", q, tc.query)
			}
			if tc.body == "" {
				if len(r.body) != 0 {
					t.Errorf("a %s with a body: %s", r.method, r.body)
				}
			} else {
				sameJSON(t, r.body, tc.body)
			}
			if !strings.HasPrefix(r.auth, `WECHATPAY2-SHA256-RSA2048 mchid="1900000109"`) {
				t.Errorf("not signed: %q", r.auth)
			}
			tc.checkTo(t, got)
		})
	}
}

// WeChat Pay's refusals get the classes every call gets (classOf): the
// order's state is Invalid, a missing order NotFound, except at create.
func TestServiceOrderErrorClasses(t *testing.T) {
	keys(t)
	ctx := context.Background()
	calls := map[string]func(*Client) error{
		"create": func(c *Client) error { _, err := c.CreateServiceOrder(ctx, validServiceCreate()); return err },
		"query": func(c *Client) error {
			_, err := c.QueryServiceOrder(ctx, QueryRequest{OutOrderNo: "SO-1"})
			return err
		},
		"cancel": func(c *Client) error {
			_, err := c.CancelServiceOrder(ctx, CancelServiceOrderRequest{OutOrderNo: "SO-1", Reason: "r"})
			return err
		},
		"modify":   func(c *Client) error { _, err := c.ModifyServiceOrder(ctx, validServiceModify()); return err },
		"complete": func(c *Client) error { _, err := c.CompleteServiceOrder(ctx, validServiceComplete()); return err },
		"pay": func(c *Client) error {
			_, err := c.PayServiceOrder(ctx, PayServiceOrderRequest{OutOrderNo: "SO-1"})
			return err
		},
		"sync": func(c *Client) error {
			_, err := c.SyncServiceOrder(ctx, SyncServiceOrderRequest{OutOrderNo: "SO-1", Detail: SyncDetail{PaidTime: "20261126"}})
			return err
		},
	}
	cases := []struct {
		name    string
		ops     []string
		status  int
		body    string
		signer  *rsa.PrivateKey
		class   Class
		code    string
		reached bool
	}{
		{"wrong state", []string{"cancel", "modify", "complete", "pay", "sync"}, 400, `{"code":"INVALID_ORDER_STATE","message":"订单状态不合法"}`, platformKy, Invalid, "INVALID_ORDER_STATE", false},
		{"already cancelled", []string{"cancel", "modify", "complete", "pay", "sync"}, 400, `{"code":"ORDER_CANCELED","message":"订单已取消"}`, platformKy, Invalid, "ORDER_CANCELED", false},
		{"already done", []string{"cancel", "modify", "complete", "pay", "sync"}, 400, `{"code":"ORDER_DONE","message":"订单已完成"}`, platformKy, Invalid, "ORDER_DONE", false},
		{"same number, other parameters", []string{"create"}, 400, `{"code":"INVALID_REQUEST","message":"请确认相同单号是否使用了不同的参数"}`, platformKy, Invalid, "INVALID_REQUEST", false},
		{"param error", []string{"create", "complete"}, 400, `{"code":"PARAM_ERROR","message":"最终总金额计算非法"}`, platformKy, Invalid, "PARAM_ERROR", false},
		{"no such order", []string{"query", "cancel", "modify", "complete", "pay", "sync"}, 404, `{"code":"ORDER_NOT_EXIST","message":"订单不存在"}`, platformKy, NotFound, "ORDER_NOT_EXIST", false},
		{"404 at create: a wrong URL", []string{"create"}, 404, `{"code":"NOT_FOUND","message":"no such path"}`, platformKy, Invalid, "NOT_FOUND", false},
		{"no auth", []string{"create", "pay"}, 403, `{"code":"NO_AUTH","message":"商户暂无权限使用此服务"}`, platformKy, Auth, "NO_AUTH", false},
		{"rate limited", []string{"create", "query"}, 429, `{"code":"FREQUENCY_LIMITED","message":"slow"}`, platformKy, RateLimited, "FREQUENCY_LIMITED", false},
		{"system error", []string{"create", "complete", "sync"}, 500, `{"code":"SYSTEM_ERROR","message":"oops"}`, platformKy, Transient, "SYSTEM_ERROR", false},
		{"forged success", []string{"create", "complete", "pay"}, 200, `{"state":"DONE"}`, forgerKey, Auth, "", true},
		{"unsigned refusal", []string{"cancel"}, 400, `{"code":"ORDER_DONE","message":"portal"}`, nil, Auth, "ORDER_DONE", true},
		// The order body is the answer: a verified empty one may hide an
		// effect, so the outcome is unknown.
		{"empty success where an order is due", []string{"create", "modify", "complete", "sync"}, 200, ``, platformKy, Transient, "", true},
	}
	for _, tc := range cases {
		for _, op := range tc.ops {
			t.Run(tc.name+" "+op, func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					answer(w, tc.signer, tc.status, tc.body)
				}))
				defer srv.Close()
				err := calls[op](newTestClient(t, srv.URL))
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("want *Error, got %v", err)
				}
				if e.Class != tc.class || e.Code != tc.code || e.StatusCode != tc.status || e.Op != op {
					t.Errorf("got %v %q HTTP %d op %q, want %v %q %d %q (%v)", e.Class, e.Code, e.StatusCode, e.Op, tc.class, tc.code, tc.status, op, e)
				}
				if e.ReachedServer != tc.reached || e.Ambiguous() != (tc.reached || tc.class == Transient) {
					t.Errorf("reached %v ambiguous %v, want reached %v", e.ReachedServer, e.Ambiguous(), tc.reached)
				}
			})
		}
	}
}

// A request that breaks a rule never leaves: each call validates first.
func TestServiceOrderCallsCheckBeforeSending(t *testing.T) {
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent.Add(1) }))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	withProducts := validServiceCreate()
	withProducts.PostPayments = products()
	badComplete := validServiceComplete()
	badComplete.PostPayments[0].Name = "饮料"
	badModify := validServiceModify()
	badModify.Reason = ""
	for op, call := range map[string]func() error{
		"create": func() error { _, err := c.CreateServiceOrder(ctx, withProducts); return err },
		"query": func() error {
			_, err := c.QueryServiceOrder(ctx, QueryRequest{OutOrderNo: "SO-1", QueryID: "Q1"})
			return err
		},
		"cancel": func() error {
			_, err := c.CancelServiceOrder(ctx, CancelServiceOrderRequest{OutOrderNo: "SO-1"})
			return err
		},
		"modify":   func() error { _, err := c.ModifyServiceOrder(ctx, badModify); return err },
		"complete": func() error { _, err := c.CompleteServiceOrder(ctx, badComplete); return err },
		"pay":      func() error { _, err := c.PayServiceOrder(ctx, PayServiceOrderRequest{OutOrderNo: "a/b"}); return err },
		"sync": func() error {
			_, err := c.SyncServiceOrder(ctx, SyncServiceOrderRequest{OutOrderNo: "SO-1"})
			return err
		},
	} {
		err := call()
		var e *Error
		if !errors.As(err, &e) || e.Class != Invalid || e.Code != "PARAM_ERROR" || e.StatusCode != 0 || len(e.Violations) == 0 || e.Op != op {
			t.Errorf("%s: got %v, want a local PARAM_ERROR", op, err)
		}
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("%d invalid requests reached the server", n)
	}
}

// The backup domain serves service orders as it serves smart-retail ones:
// a create the main domain does not answer goes there, once.
func TestServiceOrdersUseTheBackupDomain(t *testing.T) {
	keys(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // refused: no answer at all
	rec := &recorder{reply: func(w http.ResponseWriter, r *http.Request) {
		answer(w, platformKy, 200, `{"out_order_no":"SO-1","state":"CREATED","package":"P"}`)
	}}
	backup := httptest.NewServer(rec)
	defer backup.Close()
	var changes []string
	c, err := New(Settings{
		MchID: "1900000109", MerchantSerialNo: "ABC", MerchantPrivateKey: merchantKey,
		WeChatPayPublicKeyID: testKeyID, WeChatPayPublicKey: &platformKy.PublicKey,
		AppID: "wx1", ServiceID: "500001", BaseURL: down, BackupBaseURL: backup.URL, Timeout: 2 * time.Second,
		OnDomainChange: func(u string) { changes = append(changes, u) },
	})
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.CreateServiceOrder(context.Background(), validServiceCreate())
	if err != nil || o.Package != "P" {
		t.Fatalf("create with the main domain down: %+v, %v", o, err)
	}
	if reqs := rec.requests(); len(reqs) != 1 || reqs[0].requestURI != serviceOrderPath {
		t.Errorf("backup saw %+v", reqs)
	}
	if c.InUse() != backup.URL || len(changes) != 1 || changes[0] != backup.URL {
		t.Errorf("in use %s, changes %v; want the backup", c.InUse(), changes)
	}
}

// answerAt is answer with the timestamp a WeChat Pay whose clock reads at
// would sign with.
func answerAt(w http.ResponseWriter, at time.Time, status int, body string) {
	ts, nonce := fmt.Sprint(at.Unix()), "n0nce"
	sig, err := utils.SignSHA256WithRSA(ts+"\n"+nonce+"\n"+body+"\n", platformKy)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Wechatpay-Timestamp", ts)
	w.Header().Set("Wechatpay-Nonce", nonce)
	w.Header().Set("Wechatpay-Signature", sig)
	w.Header().Set("Wechatpay-Serial", testKeyID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// Service orders are signed on WeChat Pay's time: with WeChat Pay's clock
// an hour ahead of the kiosk's, the create is refused for its timestamp
// (not processed), goes once more, unchanged, on WeChat Pay's time, and
// the next call is signed on it from the start.
func TestServiceOrdersAreSignedOnWeChatPaysTime(t *testing.T) {
	keys(t)
	const ahead = time.Hour
	rec := &recorder{}
	rec.reply = func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().Add(ahead)
		signed, ok := signedAt(r)
		if d := now.Sub(signed); !ok || d >= 5*time.Minute || d <= -5*time.Minute {
			answerAt(w, now, 401, `{"code":"SIGN_ERROR","message":"timestamp out of range"}`)
			return
		}
		answerAt(w, now, 200, `{"out_order_no":"SO-1","state":"DOING","state_description":"USER_CONFIRM"}`)
	}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	create := validServiceCreate()
	create.NeedUserConfirm, create.OpenID = ptr(false), "o1"
	o, err := c.CreateServiceOrder(context.Background(), create)
	if err != nil || o.State != ServiceOrderDoing {
		t.Fatalf("create: %+v, %v", o, err)
	}
	if _, err := c.QueryServiceOrder(context.Background(), QueryRequest{OutOrderNo: "SO-1"}); err != nil {
		t.Fatalf("query: %v", err)
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want the refused create, its resend and the query", len(reqs))
	}
	if string(reqs[0].body) != string(reqs[1].body) || reqs[1].requestURI != serviceOrderPath {
		t.Errorf("the resend is not the same create: %s / %s", reqs[0].body, reqs[1].body)
	}
	if off, known := c.clock.Offset(); !known || (off-ahead).Abs() > 2*time.Second {
		t.Errorf("offset %v known %v, want about %v", off, known, ahead)
	}
}
