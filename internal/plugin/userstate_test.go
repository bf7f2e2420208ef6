package plugin_test

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	"github.com/kioskpay/smartretail/shared"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

const customer = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

// Through the gRPC adapters, as a host sees it: WeChat Pay's answer, with
// appid and service_id taken from the config when the request leaves them out.
func TestGetUserServiceState(t *testing.T) {
	e := newOfflineEnv(t, nil)
	got, err := e.o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{Openid: customer})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetUseServiceState() != "AVAILABLE" || got.GetOpenid() != customer ||
		got.GetAppid() != e.cfg.GetAppid() || got.GetServiceId() != e.cfg.GetServiceId() {
		t.Errorf("answer %v", got)
	}
	if err := e.sb.SetUserServiceState(customer, sandbox.UserServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	got, err = e.o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{Openid: customer,
		Appid: e.cfg.GetAppid(), ServiceId: e.cfg.GetServiceId()})
	if err != nil || got.GetUseServiceState() != "UNAVAILABLE" {
		t.Errorf("after the customer withdrew: %v, %v", got, err)
	}

	_, err = e.o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{Openid: strings.Repeat("o", 129)})
	se := testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	if len(se.Violations) != 1 || se.Violations[0].Field != "openid" {
		t.Errorf("violations %v, want one on openid", se.Violations)
	}
	_, err = e.o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{Openid: customer, Appid: "wxOther"})
	se = testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassInvalid)
	if se.WeChatPay == nil || se.WeChatPay.Code != "INVALID_REQUEST" {
		t.Errorf("a foreign appid: %v", se)
	}
}

func TestGetUserServiceStateIsAWorkingCall(t *testing.T) {
	o := harness(t)
	_, err := o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{Openid: customer})
	testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassNotConfigured)

	e := newOfflineEnv(t, nil)
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	o = harness(t)
	if _, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: e.cfg, Inspect: true}); err != nil {
		t.Fatal(err)
	}
	calls := e.sb.Calls.Load()
	_, err = o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{Openid: customer})
	testkit.WantError(t, err, codes.FailedPrecondition, shared.ClassNotConfigured)
	if n := e.sb.Calls.Load() - calls; n != 0 {
		t.Errorf("an inspecting plugin sent %d requests", n)
	}
}

// The call tells the forwarder whether WeChat Pay answers, as a query does;
// a request refused before it was sent tells it nothing. The openid reaches
// neither the log, nor the status, nor the event log.
func TestGetUserServiceStateAndTheNetwork(t *testing.T) {
	var logBuf syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logBuf, Level: hclog.Trace})
	sb := testkit.Start(t, sandbox.Options{})
	o, _ := harnessLogged(t, logger)
	cfg := sb.Config(t)
	if _, err := o.Configure(testkit.Context(t), &v1.ConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	network := func() v1.NetworkStatus {
		st, err := o.GetStatus(testkit.Context(t), &v1.GetStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return st.GetNetworkStatus()
	}

	sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	_, err := o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{Openid: customer})
	testkit.WantError(t, err, codes.Unavailable, shared.ClassNetwork)
	if got := network(); got != v1.NetworkStatus_NETWORK_STATUS_OFFLINE {
		t.Fatalf("after a failed call: %v, want OFFLINE", got)
	}
	_, err = o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{})
	testkit.WantError(t, err, codes.InvalidArgument, shared.ClassInvalid)
	if got := network(); got != v1.NetworkStatus_NETWORK_STATUS_OFFLINE {
		t.Errorf("a request refused before sending set the network to %v", got)
	}

	st, err := o.GetStatus(testkit.Context(t), &v1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{st.GetLastError(), logBuf.String()}
	// The event that says the plugin went offline carries the error too.
	errFound := errors.New("found")
	err = o.WatchEvents(testkit.Context(t), &v1.WatchEventsRequest{}, func(ev *v1.Event) error {
		if ev.GetType() == v1.EventType_EVENT_TYPE_NETWORK_STATUS_CHANGED && ev.GetNetworkStatus() == v1.NetworkStatus_NETWORK_STATUS_OFFLINE {
			texts = append(texts, ev.GetMessage())
			return errFound
		}
		return nil
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("no OFFLINE event: %v", err)
	}
	if !strings.Contains(st.GetLastError(), "user-service-state") {
		t.Errorf("last_error %q does not say what failed", st.GetLastError())
	}
	for _, s := range texts {
		if strings.Contains(s, customer) || strings.Contains(s, url.QueryEscape(customer)) {
			t.Errorf("the openid is in %q", s)
		}
	}

	sb.SetFaults(sandbox.Faults{Mode: sandbox.FaultNone})
	if _, err := o.GetUserServiceState(testkit.Context(t), &v1.GetUserServiceStateRequest{Openid: customer}); err != nil {
		t.Fatal(err)
	}
	if got := network(); got != v1.NetworkStatus_NETWORK_STATUS_ONLINE {
		t.Errorf("after an answer: %v, want ONLINE", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
