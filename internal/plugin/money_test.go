package plugin_test

// Issue 9: what outside trials broke on the money path. Each test failed
// before its fix.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

func charge(no string, amount int64) *v1.CompleteOrderRequest {
	return &v1.CompleteOrderRequest{OutOrderNo: no, FinishType: 2, TotalAmount: &amount,
		Fees: []*v1.Fee{{FeeName: "水", FeeCount: 1, FeeAmount: amount}}}
}

// Item 2: a second complete with another amount on a completed order was
// answered SUBMITTED ("complete was already applied") while WeChat Pay
// kept the first amount; a second cancel with another reason likewise. An
// operation counts as applied only when what was applied is what is asked.
func TestAppliedMeansTheSameOperation(t *testing.T) {
	e := newOfflineEnv(t, nil)
	if _, err := e.create(t, noConfirm("DUP1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.o.CompleteOrder(testkit.Context(t), charge("DUP1", 100)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Fatalf("first complete: %v, %v", resp, err)
	}
	_, err := e.o.CompleteOrder(testkit.Context(t), charge("DUP1", 900))
	se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid)
	for _, want := range []string{"FINISHED", "finish_type 2", "total_amount 100 fen", "charging 100 fen applied"} {
		if !strings.Contains(se.Message, want) {
			t.Errorf("refusal %q does not say %q", se.Message, want)
		}
	}
	// As the trial sent it: fees only, no total_amount.
	noTotal := charge("DUP1", 900)
	noTotal.TotalAmount = nil
	_, err = e.o.CompleteOrder(testkit.Context(t), noTotal)
	testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid)
	if so, _ := e.sb.Order("DUP1"); so.TotalAmount == nil || *so.TotalAmount != 100 {
		t.Errorf("the sandbox charges %v, want 100", so.TotalAmount)
	}
	// The same complete again is its first outcome.
	if resp, err := e.o.CompleteOrder(testkit.Context(t), charge("DUP1", 100)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Errorf("the same complete again: %v, %v", resp, err)
	}

	// A cancel, then another with another reason.
	confirm := noConfirm("DUP2", 100)
	confirm.NeedUserConfirm = nil // CREATED until the customer confirms: a cancel is a cancel
	if _, err := e.create(t, confirm, v1.OfflineBehavior_OFFLINE_BEHAVIOR_REQUIRE_ONLINE); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: "DUP2", Reason: "未取货"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: "DUP2", Reason: "换货"})
	se = testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid)
	if !strings.Contains(se.Message, "REVOKED") || !strings.Contains(se.Message, `cancel with reason "未取货" applied`) {
		t.Errorf("refusal %q does not name the cancel applied", se.Message)
	}
	if resp, err := e.o.CancelOrder(testkit.Context(t), &v1.CancelOrderRequest{OutOrderNo: "DUP2", Reason: "未取货"}); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Errorf("the same cancel again: %v, %v", resp, err)
	}
}

// A second, different complete for an order whose first one waits in the
// outbox is refused as a precondition, naming what waits.
func TestADifferentOperationBehindAQueuedOneIsRefused(t *testing.T) {
	e := newOfflineEnv(t, nil)
	e.sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	if _, err := e.create(t, noConfirm("CONF-Q", 1000), v1.OfflineBehavior_OFFLINE_BEHAVIOR_FORCE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.o.CompleteOrder(testkit.Context(t), charge("CONF-Q", 100)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_QUEUED {
		t.Fatalf("queued complete: %v, %v", resp, err)
	}
	_, err := e.o.CompleteOrder(testkit.Context(t), charge("CONF-Q", 900))
	se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid)
	if se.Reason != shared.ReasonOperationConflict || !strings.Contains(se.Message, "charging 100 fen queued") {
		t.Errorf("refusal %+v", se)
	}
}

// Item 2, without the outbox's record (the order was completed by another
// kiosk, or the record is past its retention): WeChat Pay's refusal is a
// success only if its order shows the same amounts.
func TestAppliedElsewhereIsJudgedByTheAmounts(t *testing.T) {
	e := newOfflineEnv(t, nil)
	other := newOfflineEnvOn(t, e)
	if _, err := e.create(t, noConfirm("ELSE-1", 1000), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := other.CompleteOrder(testkit.Context(t), charge("ELSE-1", 100)); err != nil {
		t.Fatal(err)
	}
	_, err := e.o.CompleteOrder(testkit.Context(t), charge("ELSE-1", 900))
	se := testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid)
	if !strings.Contains(se.Message, "FINISHED (finish_type 2, total_amount 100 fen)") {
		t.Errorf("refusal %q does not say what WeChat Pay shows", se.Message)
	}
	if resp, err := e.o.CompleteOrder(testkit.Context(t), charge("ELSE-1", 100)); err != nil || resp.GetDisposition() != v1.Disposition_DISPOSITION_SUBMITTED {
		t.Errorf("the same complete, applied elsewhere: %v, %v", resp, err)
	}
}

// newOfflineEnvOn is a second plugin, with an outbox of its own, on e's
// sandbox.
func newOfflineEnvOn(t *testing.T, e *offlineEnv) shared.Orders {
	t.Helper()
	cfg := proto.Clone(e.cfg).(*v1.Config)
	cfg.OutboxPath = t.TempDir() + "/other.db"
	cfg.OutboxKeyFile = ""
	o, _ := harnessWith(t)
	if _, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	return o
}

// Item 3: with answers that do not verify (a wrong or rotated WeChat Pay
// public key, a captive portal's unsigned 400s), PREFER_ONLINE creates were
// answered QUEUED past every offline limit, while GetStatus said ONLINE
// with no last_error. The first is kept to reconcile and answered NETWORK
// with reached_server; the plugin then counts as offline, so the next are
// held to the limits; the status says why.
func TestUnverifiableAnswersDoNotQueuePastTheLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, c *v1.Config)
	}{
		{"wrong WeChat Pay public key", func(t *testing.T, c *v1.Config) {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
			c.WechatpayPublicKeyFile = writePEM(t, t.TempDir()+"/rotated.pem", "PUBLIC KEY", der)
		}},
		{"captive portal", func(t *testing.T, c *v1.Config) {
			portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte("<html>please log in to the shop's wifi</html>"))
			}))
			t.Cleanup(portal.Close)
			c.ApiBaseUrl = portal.URL
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newOfflineEnv(t, func(c *v1.Config) {
				c.OfflineMaxOrders, c.OfflineMaxOrderAmount = 2, 1000
				tc.setup(t, c)
			})
			queued := 0
			for i := range 5 {
				no := "UNV-" + string(rune('A'+i))
				resp, err := e.create(t, noConfirm(no, 900000), 0)
				if err == nil {
					queued++
					t.Errorf("%s: answered %v past a 1,000-fen limit", no, resp.GetDisposition())
					continue
				}
				var se *shared.Error
				if !errors.As(err, &se) {
					t.Fatalf("%s: %v", no, err)
				}
				switch {
				case i == 0 && (se.Class != shared.ClassNetwork || !se.ReachedServer || se.Reason != "MAX_ORDER_AMOUNT"):
					t.Errorf("the first create: %+v, want NETWORK reached_server MAX_ORDER_AMOUNT", se)
				case i > 0 && se.Class != shared.ClassOfflineLimit:
					t.Errorf("%s: %+v, want OFFLINE_LIMIT", no, se)
				}
			}
			st := e.status(t)
			if st.GetNetworkStatus() == v1.NetworkStatus_NETWORK_STATUS_ONLINE || !strings.Contains(st.GetLastError(), "verif") && !strings.Contains(st.GetLastError(), "Signature") {
				t.Errorf("status: network %v, last_error %q", st.GetNetworkStatus(), st.GetLastError())
			}
			if st.GetQueuedCount() != 0 {
				t.Errorf("queued_count %d", st.GetQueuedCount())
			}
		})
	}
}
