package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/sandbox"
)

const notifyOpenID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

func notifyCreds(t *testing.T) *sandbox.Credentials {
	t.Helper()
	c, err := sandbox.DefaultCredentials()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeNotifyConfig writes a config in public-key mode, or in
// certificate mode, with the given APIv3 key.
func writeNotifyConfig(t *testing.T, certMode bool, apiv3Key string) string {
	t.Helper()
	c := notifyCreds(t)
	dir := t.TempDir()
	write := func(name, pemType string, der []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.MerchantPrivateKey)
	cfg := map[string]any{
		"mchid": c.MchID, "merchant_serial_no": c.MerchantSerialNo, "appid": c.AppID, "service_id": c.ServiceID,
		"merchant_private_key_file": write("merchant_private_key.pem", "PRIVATE KEY", der, err), "apiv3_key": apiv3Key,
	}
	if certMode {
		cfg["wechatpay_certificate_file"] = write("wechatpay_certificate.pem", "CERTIFICATE", c.PlatformCertificate.Raw, nil)
	} else {
		der, err := x509.MarshalPKIXPublicKey(c.WechatPayPublicKey())
		cfg["wechatpay_public_key_id"] = c.PublicKeyID
		cfg["wechatpay_public_key_file"] = write("wechatpay_public_key.pem", "PUBLIC KEY", der, err)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signedNotification builds a PAYSCORE.USER_PAID notification as WeChat Pay
// does: the order encrypted with the APIv3 key, the body signed with the
// platform key at time at. It returns the headers as "Name: value" lines
// and the body.
func signedNotification(t *testing.T, serial string, at time.Time) (string, []byte) {
	t.Helper()
	c := notifyCreds(t)
	payload := `{"appid":"` + c.AppID + `","mchid":"` + c.MchID + `","out_order_no":"K17-0002","service_id":"` + c.ServiceID +
		`","order_id":"1000000000201911291000000001","openid":"` + notifyOpenID + `","state":"DONE","total_amount":600,` +
		`"post_payments":[{"name":"商品信息","amount":600,"description":"可乐 <大>","count":2}],` +
		`"collection":{"state":"USER_PAID","total_amount":600,"paying_amount":0,"paid_amount":600,"details":[{"seq":1,"amount":600,"paid_type":"NEWTON","paid_time":"20261130100000","transaction_id":"4200000000202611301234567890"}]}}`
	block, err := aes.NewCipher([]byte(c.APIv3Key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := "r4nd0mN0nce1"
	body, err := json.Marshal(map[string]any{
		"id": "EV-2018-0002", "create_time": "2026-11-30T18:00:00+08:00", "resource_type": "encrypt-resource",
		"event_type": "PAYSCORE.USER_PAID", "summary": "支付成功",
		"resource": map[string]string{
			"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "payscore", "original_type": "payscore",
			"ciphertext": base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), []byte(payload), []byte("payscore"))),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	headerNonce := "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
	sum := sha256.Sum256([]byte(ts + "\n" + headerNonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.PlatformPrivateKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	headers := fmt.Sprintf("Wechatpay-Serial: %s\r\nWechatpay-Signature: %s\r\nWechatpay-Timestamp: %s\r\nWechatpay-Nonce: %s\r\nContent-Type: application/json\r\n",
		serial, base64.StdEncoding.EncodeToString(sig), ts, headerNonce)
	return headers, body
}

func runNotifyCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runNotify(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type decodedForTest struct {
	ID                 string `json:"id"`
	EventType          string `json:"event_type"`
	Summary            string `json:"summary"`
	WechatpaySerial    string `json:"wechatpay_serial"`
	WechatpayTimestamp string `json:"wechatpay_timestamp"`
	OpenIDHidden       bool   `json:"openid_hidden"`
	Resource           struct {
		OutOrderNo   string `json:"out_order_no"`
		State        string `json:"state"`
		OpenID       string `json:"openid"`
		TotalAmount  int64  `json:"total_amount"`
		PostPayments []struct {
			Description string `json:"description"`
		} `json:"post_payments"`
		Collection struct {
			State   string `json:"state"`
			Details []struct {
				TransactionID string `json:"transaction_id"`
			} `json:"details"`
		} `json:"collection"`
	} `json:"resource"`
}

func TestNotifyDecode(t *testing.T) {
	c := notifyCreds(t)
	cfg := writeNotifyConfig(t, false, c.APIv3Key)
	at := time.Now()
	headers, body := signedNotification(t, c.PublicKeyID, at)
	hf, bf := writeFile(t, "notify.headers", []byte(headers)), writeFile(t, "notify.json", body)

	check := func(t *testing.T, code int, out, errOut string, wantOpenID bool) {
		t.Helper()
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		var got decodedForTest
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		r := got.Resource
		if got.ID != "EV-2018-0002" || got.EventType != "PAYSCORE.USER_PAID" || got.Summary != "支付成功" || got.WechatpaySerial != c.PublicKeyID ||
			got.WechatpayTimestamp != at.Format(time.RFC3339) || r.OutOrderNo != "K17-0002" || r.State != "DONE" || r.TotalAmount != 600 ||
			r.Collection.State != "USER_PAID" || len(r.Collection.Details) != 1 || r.Collection.Details[0].TransactionID != "4200000000202611301234567890" ||
			len(r.PostPayments) != 1 || r.PostPayments[0].Description != "可乐 <大>" {
			t.Errorf("decoded:\n%s", out)
		}
		if !strings.Contains(out, `"可乐 <大>"`) {
			t.Errorf("text is escaped:\n%s", out)
		}
		if wantOpenID != strings.Contains(out, notifyOpenID) || wantOpenID != (r.OpenID == notifyOpenID) || wantOpenID == got.OpenIDHidden {
			t.Errorf("openid shown %v, want %v:\n%s", !got.OpenIDHidden, wantOpenID, out)
		}
	}

	t.Run("files", func(t *testing.T) {
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", cfg, "--headers", hf, "--body", bf)
		check(t, code, out, errOut, false)
	})
	t.Run("show openid", func(t *testing.T) {
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", cfg, "--headers", hf, "--body", bf, "--show-openid")
		check(t, code, out, errOut, true)
	})
	t.Run("a captured request on stdin", func(t *testing.T) {
		code, out, errOut := runNotifyCLI(t, "POST /wechatpay/notify HTTP/1.1\r\nHost: merchant.example\r\n"+headers+"\r\n"+string(body), "decode", "--config", cfg)
		check(t, code, out, errOut, false)
	})
	t.Run("body on stdin", func(t *testing.T) {
		code, out, errOut := runNotifyCLI(t, string(body), "decode", "--config", cfg, "--headers", hf)
		check(t, code, out, errOut, false)
	})
	t.Run("headers on stdin", func(t *testing.T) {
		code, out, errOut := runNotifyCLI(t, strings.ReplaceAll(headers, "\r\n", "\n"), "decode", "--config", cfg, "--body", bf)
		check(t, code, out, errOut, false)
	})
	t.Run("certificate mode", func(t *testing.T) {
		h, b := signedNotification(t, c.PlatformCertificateSerial(), at)
		code, out, errOut := runNotifyCLI(t, h+"\r\n"+string(b), "decode", "--config", writeNotifyConfig(t, true, c.APIv3Key))
		if code != 0 || !strings.Contains(out, `"wechatpay_serial": "`+c.PlatformCertificateSerial()+`"`) {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})
	t.Run("captured earlier", func(t *testing.T) {
		old := at.Add(-time.Hour)
		h, b := signedNotification(t, c.PublicKeyID, old)
		hf, bf := writeFile(t, "old.headers", []byte(h)), writeFile(t, "old.json", b)
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", cfg, "--headers", hf, "--body", bf)
		wantNotifyError(t, code, out, errOut, "AUTH", "STALE_TIMESTAMP", "is 1h0m") // and some seconds: the clock runs
		for _, when := range []string{strconv.FormatInt(old.Add(time.Minute).Unix(), 10), old.Format(time.RFC3339)} {
			code, out, errOut = runNotifyCLI(t, "", "decode", "--config", cfg, "--headers", hf, "--body", bf, "--received-at", when)
			if code != 0 {
				t.Errorf("--received-at %s: exit %d\n%s\n%s", when, code, out, errOut)
			}
		}
	})
}

// wantNotifyError checks a refusal: exit 1, nothing on stdout, the CLI's
// JSON error with class and reason, a message saying what is wrong and
// holding neither the APIv3 key nor the openid.
func wantNotifyError(t *testing.T, code int, out, errOut, class, reason, says string) {
	t.Helper()
	c := notifyCreds(t)
	var got struct {
		Error struct {
			Class   string `json:"class"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"error"`
	}
	wantCode := 1
	if class == "USAGE" {
		wantCode = exitUsage
	}
	if code != wantCode || out != "" || json.Unmarshal([]byte(errOut), &got) != nil || got.Error.Class != class || got.Error.Reason != reason ||
		!strings.Contains(got.Error.Message, says) {
		t.Errorf("exit %d, want %d %s %s saying %q\nstdout: %s\nstderr: %s", code, wantCode, class, reason, says, out, errOut)
	}
	if strings.Contains(errOut, c.APIv3Key) || strings.Contains(errOut, notifyOpenID) || strings.Contains(errOut, "abcdefghijklmnopqrstuvwxyz012345") {
		t.Errorf("the error holds a secret:\n%s", errOut)
	}
}

func TestNotifyDecodeRefuses(t *testing.T) {
	c := notifyCreds(t)
	cfg := writeNotifyConfig(t, false, c.APIv3Key)
	headers, body := signedNotification(t, c.PublicKeyID, time.Now())
	hf := writeFile(t, "notify.headers", []byte(headers))
	bodyFile := func(b []byte) string { return writeFile(t, "notify.json", b) }

	t.Run("tampered body", func(t *testing.T) {
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", cfg, "--headers", hf, "--body",
			bodyFile(bytes.Replace(body, []byte("支付成功"), []byte("确认订单"), 1)))
		wantNotifyError(t, code, out, errOut, "AUTH", "BAD_SIGNATURE", "does not verify with the WeChat Pay public key "+c.PublicKeyID)
		if strings.Contains(errOut, "line break") {
			t.Errorf("a hint about a line break the body does not have:\n%s", errOut)
		}
	})
	t.Run("a line break added by an editor", func(t *testing.T) {
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", cfg, "--headers", hf, "--body", bodyFile(append(bytes.Clone(body), '\n')))
		wantNotifyError(t, code, out, errOut, "AUTH", "BAD_SIGNATURE", "the body given ends with a line break")
	})
	t.Run("forged with another key", func(t *testing.T) {
		forged := strings.Replace(headers, "Wechatpay-Serial: "+c.PublicKeyID, "Wechatpay-Serial: PUB_KEY_ID_0000000000000000000000000000", 1)
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", cfg, "--headers", writeFile(t, "h", []byte(forged)), "--body", bodyFile(body))
		wantNotifyError(t, code, out, errOut, "AUTH", "UNKNOWN_SERIAL", "not a configured WeChat Pay key")
	})
	t.Run("signature probe", func(t *testing.T) {
		var probe []string
		for _, line := range strings.Split(headers, "\r\n") {
			if strings.HasPrefix(line, "Wechatpay-Signature:") {
				line = "Wechatpay-Signature: WECHATPAY/SIGNTEST/MTIz"
			}
			probe = append(probe, line)
		}
		code, out, errOut := runNotifyCLI(t, strings.Join(probe, "\n")+"\n"+string(body), "decode", "--config", cfg)
		wantNotifyError(t, code, out, errOut, "AUTH", "SIGNATURE_PROBE", "refused as not verified")
	})
	t.Run("missing header", func(t *testing.T) {
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", cfg, "--headers", writeFile(t, "h", []byte("Content-Type: application/json\n")), "--body", bodyFile(body))
		wantNotifyError(t, code, out, errOut, "AUTH", "MISSING_HEADER", "missing header Wechatpay-Serial, Wechatpay-Signature, Wechatpay-Timestamp, Wechatpay-Nonce")
	})
	t.Run("another APIv3 key", func(t *testing.T) {
		other := writeNotifyConfig(t, false, "abcdefghijklmnopqrstuvwxyz012345")
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", other, "--headers", hf, "--body", bodyFile(body))
		wantNotifyError(t, code, out, errOut, "AUTH", "DECRYPT_FAILED", "the APIv3 key is not the one set at WeChat Pay")
	})
	t.Run("wrong APIv3 key length", func(t *testing.T) {
		// The config's loader refuses it, naming the key; how the CLI
		// classes a config error is printError's business.
		code, out, errOut := runNotifyCLI(t, "", "decode", "--config", writeNotifyConfig(t, false, "short"), "--headers", hf, "--body", bodyFile(body))
		var got struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if code != 1 || out != "" || json.Unmarshal([]byte(errOut), &got) != nil || !strings.Contains(got.Error.Message, `"apiv3_key": want 32 bytes, got 5`) ||
			strings.Contains(errOut, `short"`) {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})
	t.Run("platform certificate to a public-key config", func(t *testing.T) {
		h, b := signedNotification(t, c.PlatformCertificateSerial(), time.Now())
		code, out, errOut := runNotifyCLI(t, h+"\n"+string(b), "decode", "--config", cfg)
		wantNotifyError(t, code, out, errOut, "AUTH", "UNKNOWN_SERIAL", c.PlatformCertificateSerial())
	})

	usage := []struct {
		name  string
		stdin string
		args  []string
		says  string
	}{
		{"no subcommand", "", nil, "takes the subcommand decode"},
		{"another subcommand", "", []string{"encode"}, "takes the subcommand decode"},
		{"unknown flag", "", []string{"decode", "--config", cfg, "--key", "x"}, "flag provided but not defined: -key"},
		{"arguments", "", []string{"decode", "--config", cfg, notifyOpenID}, "1 unexpected arguments"},
		{"not a header line", "", []string{"decode", "--config", cfg, "--headers", writeFile(t, "h", []byte("Wechatpay-Serial: x\n"+notifyOpenID+"\n")), "--body", bodyFile(body)},
			`headers line 2 is not "Name: value"`},
		{"no empty line on stdin", headers, []string{"decode", "--config", cfg}, "no empty line between the headers and the body"},
		{"no such file", "", []string{"decode", "--config", cfg, "--headers", filepath.Join(t.TempDir(), "none"), "--body", bodyFile(body)}, "no such file"},
		{"bad --received-at", "", []string{"decode", "--config", cfg, "--received-at", "yesterday"}, "neither RFC 3339"},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runNotifyCLI(t, tc.stdin, tc.args...)
			wantNotifyError(t, code, out, errOut, "USAGE", "", tc.says)
		})
	}
}

func TestNotifyHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"decode", "-h"}} {
		code, out, errOut := runNotifyCLI(t, "", args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: smartretail notify decode --config FILE") {
			t.Errorf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
	}
	if _, out, _ := runNotifyCLI(t, "", "decode", "-h"); !strings.Contains(out, "-show-openid") {
		t.Errorf("decode -h lists no flags:\n%s", out)
	}
}
