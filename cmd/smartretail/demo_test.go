package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kioskpay/smartretail/notify"
	"github.com/kioskpay/smartretail/shared/config"
)

// The whole demo passes on both APIs: every check it prints is ok, and
// each API shows what only it has, or the other's counterpart answering
// UNIMPLEMENTED. The counts guard against a check silently dropped.
func TestDemoOnBothAPIs(t *testing.T) {
	for _, tc := range []struct {
		api    string
		checks int
		shows  []string
	}{
		{config.APISmartRetail, 56, []string{
			"on the smartretail API", "ok    state USER_PAID, total_amount 650 fen",
			"ok    ModifyOrder answers UNIMPLEMENTED", "ok    CollectPayment answers UNIMPLEMENTED", "ok    SyncOrderPaid answers UNIMPLEMENTED",
		}},
		{config.APIServiceOrder, 72, []string{
			"on the serviceorder API", "notify_url https://127.0.0.1:",
			"ok    state is DOING+USER_CONFIRM (stage CONFIRMED)",
			"ok    kiosk lowers the amount: 3.50 + 2.00 - 1.00 = 4.50 CNY",
			"ok    state DONE (stage PAID), total_amount 450 fen, collection USER_PAID",
			"ok    notify_url got PAYSCORE.USER_PAID (支付成功) for it: signature verified, decrypted: DONE, 450 fen paid",
			"ok    its complete at -3.50 CNY refused, as INVALID_ARGUMENT naming fees[0].fee_amount",
			"ok    kiosk asks WeChat Pay to collect again (CollectPayment)",
			"ok    the deduction failed again: still DOING+MCH_COMPLETE, collection USER_PAYING",
			"(SyncOrderPaid)", "by MCH at",
		}},
	} {
		t.Run(tc.api, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", "demo", "--api", tc.api)
			if code != 0 {
				t.Fatalf("demo --api %s exit %d:\n%s\n%s", tc.api, code, out, errOut)
			}
			m := regexp.MustCompile(`summary: (\d+) checks passed, (\d+) failed`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no summary:\n%s", out)
			}
			passed, _ := strconv.Atoi(m[1])
			if m[2] != "0" || passed != tc.checks || strings.Contains(out, "   FAIL  ") {
				t.Errorf("%s checks passed, %s failed, want %d and 0:\n%s", m[1], m[2], tc.checks, out)
			}
			for _, s := range tc.shows {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

// A bad --api is a usage error naming the flag and the values allowed.
func TestDemoAPIFlag(t *testing.T) {
	code, out, errOut := runCLI(t, "", "demo", "--api", "smart-retail")
	var e struct {
		Error struct{ Class, Message string }
	}
	if err := json.Unmarshal([]byte(errOut), &e); err != nil {
		t.Fatalf("stderr is not a JSON error: %v\n%s", err, errOut)
	}
	if code != exitUsage || out != "" || e.Error.Class != "USAGE" {
		t.Errorf("exit %d, class %q, stdout %q; want %d, USAGE, nothing", code, e.Error.Class, out, exitUsage)
	}
	for _, s := range []string{"--api", `"smart-retail"`, "smartretail", "serviceorder"} {
		if !strings.Contains(e.Error.Message, s) {
			t.Errorf("message %q lacks %s", e.Error.Message, s)
		}
	}
	code, out, _ = runCLI(t, "", "demo", "-h")
	if code != 0 || !strings.Contains(out, "-api") {
		t.Errorf("demo -h: exit %d, flags listed:\n%s", code, out)
	}
}

// The merchant's server at notify_url refuses a notification that does
// not verify, and the demo's check of the notifications then fails.
func TestDemoNotificationCheckFailsOnARefusedNotification(t *testing.T) {
	d, out := startDemo(t, config.APIServiceOrder)
	d.notificationsVerified()
	if d.fail != 0 || d.ok != 1 {
		t.Fatalf("with nothing posted: %d ok, %d failed, want 1 and 0:\n%s", d.ok, d.fail, out)
	}
	req, err := http.NewRequest(http.MethodPost, d.merchant.notifyURL(), bytes.NewReader([]byte(`{"id":"forged"}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Wechatpay-Serial", d.srv.Credentials.PublicKeyID)
	req.Header.Set("Wechatpay-Signature", "Zm9yZ2Vk")
	req.Header.Set("Wechatpay-Timestamp", strconv.FormatInt(d.merchant.now().Unix(), 10))
	req.Header.Set("Wechatpay-Nonce", "forged")
	res, err := d.merchant.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 == 2 {
		t.Errorf("a forged notification was answered %d, want a refusal", res.StatusCode)
	}
	d.merchant.mu.Lock()
	refused := append([]error(nil), d.merchant.refused...)
	d.merchant.mu.Unlock()
	if len(refused) != 1 || !errors.Is(refused[0], notify.ErrBadSignature) {
		t.Errorf("the merchant's server refused %v, want one BAD_SIGNATURE", refused)
	}
	d.notificationsVerified()
	if d.fail != 1 || !strings.Contains(out.String(), "FAIL  the merchant's server verified and decrypted every notification WeChat Pay posted (0): notify: Wechatpay-Signature does not verify") {
		t.Errorf("after a forged notification: %d failed, want 1 saying the signature does not verify:\n%s", d.fail, out)
	}
}
