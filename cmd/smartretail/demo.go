package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/notify"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	"github.com/kioskpay/smartretail/shared/config"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// demo walks a kiosk's day and counts what behaved.
type demo struct {
	out      io.Writer
	api      string // payscore_api: config.APISmartRetail ("" too) or config.APIServiceOrder
	dir      string
	merchant *merchantServer // at notify_url, on service orders
	srv      *sandbox.Server
	kiosk    *host.Client
	ok, fail int
}

func (d *demo) say(format string, a ...any) { fmt.Fprintf(d.out, format+"\n", a...) }

// check records one expectation.
func (d *demo) check(what string, err error) bool {
	if err != nil {
		d.fail++
		d.say("   FAIL  %s: %v", what, err)
		return false
	}
	d.ok++
	d.say("   ok    %s", what)
	return true
}

func runDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	pluginPath := fs.String("plugin", os.Getenv("SMARTRETAIL_PLUGIN_PATH"), "smartretail-plugin binary (default: beside this CLI, then PATH, then the CLI itself)")
	verbose := fs.Bool("v", false, "show the plugin's log on stderr")
	api := fs.String("api", config.APISmartRetail, "the WeChat Pay Score API the plugin speaks (payscore_api): "+config.APISmartRetail+" or "+config.APIServiceOrder)
	if code, ok := parseFlags(fs, args, stdout, stderr, commandHelp("demo")); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return printError(stderr, errUsageArgs("demo", fs.NArg()))
	}
	if *api != config.APISmartRetail && *api != config.APIServiceOrder {
		return printError(stderr, fmt.Errorf("%w: smartretail demo: --api %q: want %s or %s", errUsage, *api, config.APISmartRetail, config.APIServiceOrder))
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	d := &demo{out: stdout, api: *api}
	if err := d.setUp(ctx, *pluginPath, *verbose, stderr); err != nil {
		fmt.Fprintf(stderr, "smartretail demo: %v\n", err)
		d.tearDown()
		return 1
	}
	defer d.tearDown()

	d.daySale(ctx)
	d.walkAway(ctx)
	d.badRequest(ctx)
	// The clock and domain chapters come before the offline one: the domain
	// chapter shows the switch from the main domain, which the plugin is
	// sure to be on only before the flaky network of the offline chapter.
	d.clockOff(ctx)
	d.mainDomainDown(ctx)
	d.offline(ctx)
	d.unpaid(ctx)
	d.notificationsVerified()

	d.say("")
	d.say("summary: %d checks passed, %d failed", d.ok, d.fail)
	d.say("sandbox orders:")
	for _, o := range d.sandboxOrders() {
		d.say("   %-24s %-18s create requests: %d", o.no, o.state, o.creates)
	}
	if d.fail > 0 {
		return 1
	}
	return 0
}

// tearDown stops what setUp started, in reverse order.
func (d *demo) tearDown() {
	if d.kiosk != nil {
		d.kiosk.Close()
	}
	if d.srv != nil {
		d.srv.Close()
	}
	// After the sandbox: it stops posting before the receiver goes.
	if d.merchant != nil {
		d.merchant.close()
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

func (d *demo) setUp(ctx context.Context, pluginFlag string, verbose bool, stderr io.Writer) error {
	if d.api == "" {
		d.api = config.APISmartRetail
	}
	var err error
	if d.dir, err = os.MkdirTemp("", "smartretail-demo-"); err != nil {
		return err
	}
	dir := d.dir
	creds, err := sandbox.GenerateCredentials()
	if err != nil {
		return err
	}
	opts := sandbox.Options{Credentials: creds}
	if d.serviceOrders() {
		// The merchant's server, which WeChat Pay (the sandbox) posts the
		// orders' notifications to over TLS: the sandbox trusts its
		// certificate.
		if d.merchant, err = startMerchantServer(creds); err != nil {
			return err
		}
		opts.NotifyClient = d.merchant.client()
	}
	if d.srv, err = sandbox.NewServer(opts); err != nil {
		return err
	}
	if d.merchant != nil {
		d.merchant.followClock(d.srv.Sandbox)
	}
	// WeChat Pay's backup domain (api2), which config.json then names.
	if err := d.srv.ListenBackup("127.0.0.1:0"); err != nil {
		return err
	}
	cfg, err := d.srv.WriteConfig(dir)
	if err != nil {
		return err
	}
	// Small offline limits, so the offline chapter can show one refusing.
	c, err := config.Load(cfg)
	if err != nil {
		return err
	}
	c.OfflineMaxOrders, c.OfflineMaxOrderAmount, c.OfflineMaxTotalAmount = demoMaxOrders, demoMaxOrderAmount, demoMaxOrders*demoMaxOrderAmount
	c.PayScoreAPI = d.api
	if d.merchant != nil {
		c.NotifyURL = d.merchant.notifyURL()
	}
	if err := c.Write(cfg); err != nil {
		return err
	}
	path, how, err := findPlugin(ctx, pluginFlag)
	if err != nil {
		return err
	}
	level := hclog.Warn
	if verbose {
		level = hclog.Debug
	}
	d.say("smartretail demo: a kiosk's day against a local WeChat Pay sandbox, on the %s API", d.api)
	d.say("   sandbox  %s (merchant %s, service %s)", d.srv.URL, creds.MchID, creds.ServiceID)
	d.say("   backup   %s (WeChat Pay's backup API domain, serving the same orders)", d.srv.BackupURL)
	if d.merchant != nil {
		d.say("   api      payscore_api %s: Pay Score service orders; notify_url %s,", d.api, c.NotifyURL)
		d.say("            the merchant's server, which the demo runs: it verifies and decrypts what WeChat Pay posts")
	} else {
		d.say("   api      payscore_api %s: Pay Score smart-retail orders", d.api)
	}
	d.say("   config   %s", cfg)
	d.say("   plugin   %s (%s), loaded through go-plugin over gRPC with mTLS", path, how)
	start := time.Now()
	d.kiosk, err = host.Start(ctx, host.Options{
		PluginPath: path,
		ConfigPath: cfg,
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "demo", Output: stderr, Level: level}),
	})
	if err != nil {
		return fmt.Errorf("starting the plugin: %w", err)
	}
	st, err := d.kiosk.GetStatus(ctx, &v1.GetStatusRequest{})
	if err != nil {
		return err
	}
	d.say("   started in %v: plugin %s, configured=%v, verifying answers by %s", time.Since(start).Round(time.Millisecond),
		st.GetPluginVersion(), st.GetConfigured(), st.GetVerifyMode())
	return nil
}

func (d *demo) daySale(ctx context.Context) {
	d.say("")
	d.say("1. A customer scans the cabinet's code, takes a cola and a water, and closes the door.")
	// The official flow: ask whether the customer may use the service,
	// then create. The scan gave the kiosk the customer's openid.
	const customer = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	us, err := d.kiosk.GetUserServiceState(ctx, &v1.GetUserServiceStateRequest{Openid: customer})
	if !d.check("the customer's authorisation asked first", err) || !d.check("it is AVAILABLE", want(us.GetUseServiceState(), "AVAILABLE")) {
		return
	}
	order := &v1.NewOrder{
		Openid:               customer,
		ServiceStartTime:     "OnAccept",
		ServiceStartLocation: "徐汇区漕溪北路柜机 K-17",
		ServiceIntroduction:  "智慧零售柜购物",
		RiskAmount:           20000,
		Attach:               "cabinet=K-17",
	}
	if d.serviceOrders() {
		// A service order the customer confirms must not name them: WeChat
		// Pay learns who when they confirm.
		order.Openid = ""
	}
	resp, err := d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: order})
	if !d.check("order created at WeChat Pay", err) {
		return
	}
	no := resp.GetOrder().GetOutOrderNo()
	d.say("         out_order_no %s (minted by the plugin), order_id %s, disposition %s",
		no, resp.GetOrder().GetOrderId(), resp.GetDisposition())
	d.say("         the kiosk opens the confirmation mini-program with package %.16s...", resp.GetOrder().GetPackage())

	d.say("   The customer confirms in WeChat.")
	if !d.check("customer confirmed (sandbox accept)", d.accept(no)) {
		return
	}
	q, err := d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	o := q.GetOrder()
	if d.check("kiosk queries the order", err) {
		d.check(d.stageText(v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED), d.inStage(o, v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED))
	} else {
		return
	}
	total := int64(650)
	// No real_service_end_location: the customer ends where they started,
	// and WeChat Pay wants it left out then.
	_, err = d.kiosk.CompleteOrder(ctx, &v1.CompleteOrderRequest{
		OutOrderNo: no,
		FinishType: 2,
		Fees: []*v1.Fee{
			{FeeName: "可口可乐 330ml", FeeCount: 1, FeeAmount: 350},
			{FeeName: "农夫山泉 550ml", FeeCount: 2, FeeAmount: 400},
		},
		Discounts:    []*v1.Discount{{DiscountName: "早餐时段立减", DiscountDesc: "7-9点减1元", DiscountAmount: 100}},
		TotalAmount:  &total,
		FinishTicket: o.GetFinishTicket(),
	})
	if !d.check("kiosk completes with the goods taken: 3.50 + 4.00 - 1.00 = 6.50 CNY", err) {
		return
	}
	if d.serviceOrders() {
		if total = d.lowerWhilePending(ctx, no, total); total == 0 {
			return
		}
	}
	d.say("   WeChat Pay charges the customer.")
	if !d.check("payment taken (sandbox pay)", d.pay(no)) {
		return
	}
	var paid *v1.Order
	for i := 0; i < 20; i++ {
		q, err = d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
		if paid = q.GetOrder(); err != nil || paid.GetStage() == v1.LifecycleStage_LIFECYCLE_STAGE_PAID {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !d.check("kiosk queries until paid", err) {
		return
	}
	if !d.serviceOrders() {
		d.check(fmt.Sprintf("state USER_PAID, total_amount %d fen, paid at %s", paid.GetTotalAmount(), paid.GetPaySuccTime()),
			errors.Join(d.inStage(paid, v1.LifecycleStage_LIFECYCLE_STAGE_PAID), want(paid.GetTotalAmount(), total)))
		return
	}
	d.check(fmt.Sprintf("state DONE (stage PAID), total_amount %d fen, collection %s: %s", paid.GetTotalAmount(),
		paid.GetCollection().GetState(), collectionText(paid.GetCollection())),
		errors.Join(d.inStage(paid, v1.LifecycleStage_LIFECYCLE_STAGE_PAID), want(paid.GetTotalAmount(), total),
			collected(paid.GetCollection(), total, sandbox.PaidTypeNewton)))
	d.checkNotified(no, notify.EventUserPaid, func(o *notify.ServiceOrder) error {
		return errors.Join(want(o.State, sandbox.ServiceOrderDone), want(o.Collection != nil && o.Collection.PaidAmount == total, true))
	})
}

// demoOrder is a sale at the cabinet with what WeChat Pay requires of a
// create: a start time, location and introduction, and a risk amount.
func demoOrder() *v1.NewOrder {
	return &v1.NewOrder{OutOrderNo: fmt.Sprintf("K17-%d", time.Now().UnixNano()), ServiceStartTime: "OnAccept",
		ServiceStartLocation: "徐汇区漕溪北路柜机 K-17", ServiceIntroduction: "智慧零售柜购物", RiskAmount: 20000}
}

func (d *demo) walkAway(ctx context.Context) {
	d.say("")
	d.say("2. Another customer opens the door, changes their mind, and takes nothing.")
	resp, err := d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: demoOrder()})
	if !d.check("order created", err) {
		return
	}
	no := resp.GetOrder().GetOutOrderNo()
	_, err = d.kiosk.CancelOrder(ctx, &v1.CancelOrderRequest{OutOrderNo: no, Reason: "顾客未取商品"})
	if !d.check("kiosk cancels "+no+" before the customer confirmed", err) {
		return
	}
	q, err := d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	if d.check("kiosk queries it", err) {
		d.check("state is REVOKED: nothing charged", d.inStage(q.GetOrder(), v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED))
	}

	d.say("   A third customer confirms in WeChat, then takes nothing.")
	resp, err = d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: demoOrder()})
	if !d.check("order created", err) {
		return
	}
	no = resp.GetOrder().GetOutOrderNo()
	if !d.check("customer confirmed (sandbox accept)", d.accept(no)) {
		return
	}
	// WeChat Pay refuses a smart-retail cancel once the customer has
	// confirmed: the plugin ends the order with a complete that charges
	// nothing. A service order is cancelled while DOING as before.
	_, err = d.kiosk.CancelOrder(ctx, &v1.CancelOrderRequest{OutOrderNo: no, Reason: "顾客未取商品"})
	if !d.check("kiosk cancels "+no, err) {
		return
	}
	q, err = d.kiosk.QueryOrder(ctx, &v1.QueryOrderRequest{OutOrderNo: no})
	if d.check("kiosk queries it", err) {
		d.check(d.uncharged(q.GetOrder()))
	}
}

// uncharged checks that a cancelled sale ended without charge: what must
// be, and whether it is.
func (d *demo) uncharged(o *v1.Order) (string, error) {
	if d.serviceOrders() {
		return "ended without charge: REVOKED", d.inStage(o, v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED)
	}
	return "ended without charge: REVOKED, or FINISHED with finish_type 1 and total_amount 0", uncharged(o)
}

// uncharged says whether a cancelled sale ended as WeChat Pay allows: a
// cancel before the customer confirmed (REVOKED), or after, a complete with
// the cancel flag that charged nothing.
func uncharged(o *v1.Order) error {
	if o.GetState() == "REVOKED" || o.GetState() == "FINISHED" && o.GetFinishType() == 1 && o.GetTotalAmount() == 0 {
		return nil
	}
	return fmt.Errorf("got %s, finish_type %d, total_amount %d", o.GetState(), o.GetFinishType(), o.GetTotalAmount())
}

func (d *demo) badRequest(ctx context.Context) {
	d.say("")
	d.say("3. A kiosk bug sends a negative price.")
	if d.serviceOrders() {
		d.badPriceAtComplete(ctx)
		return
	}
	order := demoOrder()
	order.Fees = []*v1.Fee{{FeeName: "可乐", FeeCount: 1, FeeAmount: -350}}
	_, err := d.kiosk.CreateOrder(ctx, &v1.CreateOrderRequest{Order: order})
	var se *shared.Error
	if !errors.As(err, &se) {
		d.check("refused with a typed error", fmt.Errorf("got %v", err))
		return
	}
	d.say("         error: %v", se)
	d.check("refused before reaching WeChat Pay, as INVALID_ARGUMENT naming order.fees[0].fee_amount", invalidField(err, "order.fees[0].fee_amount"))
}

// invalidField says whether err is an INVALID_ARGUMENT whose first
// violation names field.
func invalidField(err error, field string) error {
	var se *shared.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("got %v, want a typed INVALID_ARGUMENT error", err)
	}
	var named error
	if len(se.Violations) == 0 || se.Violations[0].Field != field {
		named = fmt.Errorf("violations %+v, want the first naming %s", se.Violations, field)
	}
	return errors.Join(want(se.Code, codes.InvalidArgument), named)
}

// eventWatch follows the plugin's events, as a kiosk's UI would.
type eventWatch struct {
	mu      sync.Mutex
	seen    []*v1.Event
	arrived chan struct{} // an event came since the last look
	stop    context.CancelFunc
	done    chan struct{}
}

// watch follows the events recorded from now on.
func (d *demo) watch(ctx context.Context) (*eventWatch, error) {
	st, err := d.kiosk.GetStatus(ctx, &v1.GetStatusRequest{})
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(ctx)
	w := &eventWatch{arrived: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_ = d.kiosk.WatchEvents(wctx, &v1.WatchEventsRequest{AfterSequence: st.GetLastEventSequence()}, func(ev *v1.Event) error {
			w.mu.Lock()
			w.seen = append(w.seen, ev)
			w.mu.Unlock()
			select {
			case w.arrived <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	return w, nil
}

// count is how many events of type t have come.
func (w *eventWatch) count(t v1.EventType) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ev := range w.seen {
		if ev.GetType() == t {
			n++
		}
	}
	return n
}

// find is the first event of type t that match accepts, nil if none came.
func (w *eventWatch) find(t v1.EventType, match func(*v1.Event) bool) *v1.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range w.seen {
		if ev.GetType() == t && match(ev) {
			return ev
		}
	}
	return nil
}

// until waits up to within for cond to hold, looking again as events come;
// it reports whether it held. The stream brings an event a moment after
// the call that caused it has returned.
func (w *eventWatch) until(within time.Duration, cond func() bool) bool {
	deadline := time.After(within)
	for !cond() {
		select {
		case <-w.arrived:
		case <-deadline:
			return cond()
		}
	}
	return true
}

// close stops following and waits for the stream to end.
func (w *eventWatch) close() {
	w.stop()
	<-w.done
}

func want[T comparable](got, wanted T) error {
	if got != wanted {
		return fmt.Errorf("got %v, want %v", got, wanted)
	}
	return nil
}
