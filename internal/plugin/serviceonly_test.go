package plugin_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// On the smart-retail API the service-order-only calls answer UNIMPLEMENTED
// (class UNSUPPORTED), naming the API and what to do instead; before
// Configure they are NOT_CONFIGURED like every call.
func TestServiceOrderOnlyCallsAreUnsupportedOnSmartRetail(t *testing.T) {
	o := harness(t)
	ctx := testkit.Context(t)
	_, err := o.ModifyOrder(ctx, &v1.ModifyOrderRequest{OutOrderNo: "SO-1"})
	testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassNotConfigured)
	if _, err := o.Configure(ctx, &v1.ConfigureRequest{Config: testkit.Start(t, sandbox.Options{}).Config(t)}); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"ModifyOrder": func() error { _, err := o.ModifyOrder(ctx, &v1.ModifyOrderRequest{OutOrderNo: "SO-1"}); return err },
		"CollectPayment": func() error {
			_, err := o.CollectPayment(ctx, &v1.CollectPaymentRequest{OutOrderNo: "SO-1"})
			return err
		},
		"SyncOrderPaid": func() error { _, err := o.SyncOrderPaid(ctx, &v1.SyncOrderPaidRequest{OutOrderNo: "SO-1"}); return err },
	} {
		se := testkit.WantError(t, call(), codes.Unimplemented, shared.ClassUnsupported)
		if !strings.Contains(se.Message, name) || !strings.Contains(se.Message, "serviceorder") || se.OutOrderNo != "SO-1" {
			t.Errorf("%s: %+v", name, se)
		}
	}
}

// A query tells where an order is in the stages both APIs share.
func TestAQueryGivesTheOrdersStage(t *testing.T) {
	e := newOfflineEnv(t, nil)
	stage := func(no string) v1.LifecycleStage {
		t.Helper()
		q, err := e.o.QueryOrder(testkit.Context(t), &v1.QueryOrderRequest{OutOrderNo: no})
		if err != nil {
			t.Fatal(err)
		}
		return q.GetOrder().GetStage()
	}
	if _, err := e.create(t, withConfirm("ST-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	if got := stage("ST-1"); got != v1.LifecycleStage_LIFECYCLE_STAGE_CREATED {
		t.Errorf("created: %v", got)
	}
	if err := e.sb.Accept("ST-1"); err != nil {
		t.Fatal(err)
	}
	if got := stage("ST-1"); got != v1.LifecycleStage_LIFECYCLE_STAGE_CONFIRMED {
		t.Errorf("confirmed: %v", got)
	}
	if _, err := e.o.CompleteOrder(testkit.Context(t), charge("ST-1", 100)); err != nil {
		t.Fatal(err)
	}
	if got := stage("ST-1"); got != v1.LifecycleStage_LIFECYCLE_STAGE_AWAITING_PAYMENT {
		t.Errorf("completed: %v", got)
	}
	if err := e.sb.Pay("ST-1"); err != nil {
		t.Fatal(err)
	}
	if got := stage("ST-1"); got != v1.LifecycleStage_LIFECYCLE_STAGE_PAID {
		t.Errorf("paid: %v", got)
	}
	if _, err := e.create(t, noConfirm("ST-2", 1000), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: "ST-2", Reason: "未取货"}); err != nil {
		t.Fatal(err)
	}
	if got := stage("ST-2"); got != v1.LifecycleStage_LIFECYCLE_STAGE_REVOKED {
		t.Errorf("ended without charge (finish_type 1): %v", got)
	}
}
