package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

const testAPIv3Key = "0123456789abcdef0123456789abcdef"

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// keyDir writes a merchant key, a platform public key and certificate.
func keyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	k := testKey(t)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	writePEM(t, filepath.Join(dir, "merchant.pem"), "PRIVATE KEY", der)
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	writePEM(t, filepath.Join(dir, "wechatpay_pub.pem"), "PUBLIC KEY", pub)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5157F09EFDC096DE), Subject: pkix.Name{CommonName: "test platform"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "platform.pem"), "CERTIFICATE", cert)
	return dir
}

func validJSON() string {
	return `{
  "mchid": "1900000109",
  "merchant_serial_no": "3775B6A45ACD588826D15E583A95F5DD",
  "merchant_private_key_file": "merchant.pem",
  "wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000000",
  "wechatpay_public_key_file": "wechatpay_pub.pem",
  "apiv3_key": "` + testAPIv3Key + `",
  "appid": "wxd678efh567hg6787",
  "service_id": "500001"
}`
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadResolvesPathsAndDefaults(t *testing.T) {
	dir := keyDir(t)
	c, err := Load(writeConfig(t, dir, validJSON()))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "merchant.pem"); c.MerchantPrivateKeyFile != want {
		t.Errorf("merchant_private_key_file = %q, want %q", c.MerchantPrivateKeyFile, want)
	}
	if want := filepath.Join(dir, DefaultOutboxPath); c.OutboxPath != want {
		t.Errorf("outbox_path = %q, want %q", c.OutboxPath, want)
	}
	if c.APIBaseURL != DefaultAPIBaseURL {
		t.Errorf("api_base_url = %q, want the default", c.APIBaseURL)
	}
	k, err := c.LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	if k.MerchantPrivateKey == nil || k.WeChatPayPublicKey == nil || k.WeChatPayCertificate != nil {
		t.Errorf("keys = %+v, want merchant and public key only", k)
	}
}

func TestCertificateMode(t *testing.T) {
	dir := keyDir(t)
	body := strings.Replace(validJSON(),
		`"wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000000",
  "wechatpay_public_key_file": "wechatpay_pub.pem",`,
		`"wechatpay_certificate_file": "platform.pem",`, 1)
	c, err := Load(writeConfig(t, dir, body))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	if k.WeChatPayCertificate == nil || k.WeChatPayPublicKey != nil {
		t.Errorf("want the certificate only, got %+v", k)
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	cases := []struct {
		name string
		edit func(string) string
		want []string // all must appear in the error
	}{
		{"unknown key", func(s string) string { return strings.Replace(s, `"appid"`, `"app_id"`, 1) },
			[]string{`key "app_id": unknown key`}},
		{"missing keys", func(s string) string {
			s = strings.Replace(s, `"mchid": "1900000109",`, "", 1)
			return strings.Replace(s, `"service_id": "500001"`, `"api_base_url": "http://127.0.0.1:1"`, 1)
		}, []string{`key "mchid": missing`, `key "service_id": missing`}},
		{"wrong case", func(s string) string { return strings.Replace(s, `"mchid"`, `"MchID"`, 1) },
			[]string{`key "MchID": unknown key`}},
		{"wrong type", func(s string) string { return strings.Replace(s, `"1900000109"`, `1900000109`, 1) },
			[]string{`key "mchid"`, "want a string"}},
		{"short apiv3 key", func(s string) string { return strings.Replace(s, testAPIv3Key, testAPIv3Key[1:], 1) },
			[]string{`"apiv3_key"`, "want 32 bytes, got 31"}},
		{"both verification modes", func(s string) string {
			return strings.Replace(s, `"appid"`, `"wechatpay_certificate_file": "platform.pem", "appid"`, 1)
		}, []string{"not both"}},
		{"public key id without file", func(s string) string {
			return strings.Replace(s, `"wechatpay_public_key_file": "wechatpay_pub.pem",`, "", 1)
		}, []string{"wechatpay_public_key_file"}},
		{"no verification key", func(s string) string {
			s = strings.Replace(s, `"wechatpay_public_key_file": "wechatpay_pub.pem",`, "", 1)
			return strings.Replace(s, `"wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000000",`, "", 1)
		}, []string{"wechatpay_certificate_file"}},
		{"bad key id", func(s string) string { return strings.Replace(s, "PUB_KEY_ID_0114", "KEY_0114", 1) },
			[]string{"wechatpay_public_key_id", "PUB_KEY_ID_"}},
		{"bad base url", func(s string) string {
			return strings.Replace(s, `"appid"`, `"api_base_url": "ftp://x", "appid"`, 1)
		}, []string{"api_base_url", "ftp://x"}},
		{"bad backup url", func(s string) string {
			return strings.Replace(s, `"appid"`, `"api_backup_base_url": "api2.mch.weixin.qq.com", "appid"`, 1)
		}, []string{"api_backup_base_url", "want an http:// or https:// URL"}},
		{"bad skew threshold", func(s string) string {
			return strings.Replace(s, `"appid"`, `"clock_skew_threshold": "a minute", "appid"`, 1)
		}, []string{"clock_skew_threshold", "positive duration"}},
		{"unknown payscore_api", func(s string) string {
			return strings.Replace(s, `"appid"`, `"payscore_api": "payscore", "appid"`, 1)
		}, []string{"payscore_api", `"serviceorder"`}},
		{"serviceorder without notify_url", func(s string) string {
			return strings.Replace(s, `"appid"`, `"payscore_api": "serviceorder", "appid"`, 1)
		}, []string{"notify_url", "required with payscore_api serviceorder"}},
		{"http notify_url", func(s string) string {
			return strings.Replace(s, `"appid"`, `"payscore_api": "serviceorder", "notify_url": "http://merchant.example/n", "appid"`, 1)
		}, []string{"notify_url", "https://"}},
		{"notify_url with a query", func(s string) string {
			return strings.Replace(s, `"appid"`, `"payscore_api": "serviceorder", "notify_url": "https://merchant.example/n?k=1", "appid"`, 1)
		}, []string{"notify_url", "no query"}},
		{"unknown risk_fund_name", func(s string) string {
			return strings.Replace(s, `"appid"`, `"risk_fund_name": "UDEPOSIT", "appid"`, 1)
		}, []string{"risk_fund_name", "ESTIMATE_ORDER_COST"}},
		{"trailing data", func(s string) string { return s + "{}" }, []string{"after the JSON object"}},
		{"not an object", func(string) string { return `[1,2]` }, []string{"want a JSON object"}},
		{"empty", func(string) string { return `` }, []string{"empty"}},
		{"syntax", func(s string) string { return s[:40] }, []string{"not valid JSON"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := keyDir(t)
			path := writeConfig(t, dir, tc.edit(validJSON()))
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testAPIv3Key[1:]) {
				t.Errorf("error leaks the APIv3 key: %q", err)
			}
		})
	}
}

func TestLoadKeysRefusesBadKeyFiles(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	cases := []struct {
		name  string
		file  string
		write func(t *testing.T, path string)
		want  []string
	}{
		{"missing merchant key", "merchant.pem", func(t *testing.T, p string) { os.Remove(p) },
			[]string{"merchant_private_key_file", "no such file"}},
		{"not PEM", "merchant.pem", func(t *testing.T, p string) { os.WriteFile(p, []byte("hello"), 0o600) },
			[]string{"merchant_private_key_file", "no PEM block"}},
		{"wrong PEM type", "merchant.pem", func(t *testing.T, p string) { writePEM(t, p, "CERTIFICATE", []byte{1}) },
			[]string{"merchant_private_key_file", `"CERTIFICATE"`}},
		{"malformed key", "merchant.pem", func(t *testing.T, p string) { writePEM(t, p, "PRIVATE KEY", []byte{1, 2, 3}) },
			[]string{"merchant_private_key_file", "malformed private key"}},
		{"EC key", "merchant.pem", func(t *testing.T, p string) { writePEM(t, p, "PRIVATE KEY", ecDER) },
			[]string{"merchant_private_key_file", "want an RSA private key"}},
		{"1024-bit key", "merchant.pem", func(t *testing.T, p string) { writePEM(t, p, "PRIVATE KEY", smallDER) },
			[]string{"merchant_private_key_file", "1024 bits"}},
		{"public key is a certificate", "wechatpay_pub.pem", func(t *testing.T, p string) {
			data, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "platform.pem"))
			os.WriteFile(p, data, 0o600)
		}, []string{"wechatpay_public_key_file", "wechatpay_certificate_file instead"}},
		{"malformed public key", "wechatpay_pub.pem", func(t *testing.T, p string) { writePEM(t, p, "PUBLIC KEY", []byte{9}) },
			[]string{"wechatpay_public_key_file", "malformed public key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := keyDir(t)
			c, err := Load(writeConfig(t, dir, validJSON()))
			if err != nil {
				t.Fatal(err)
			}
			tc.write(t, filepath.Join(dir, tc.file))
			_, err = c.LoadKeys()
			if err == nil {
				t.Fatal("LoadKeys succeeded, want an error")
			}
			for _, w := range append(tc.want, filepath.Join(dir, tc.file)) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWriteThenLoad(t *testing.T) {
	dir := keyDir(t)
	c, err := Parse([]byte(validJSON()))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "out.json")
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, want 0600 (it holds the APIv3 key)", fi.Mode().Perm())
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.MchID != c.MchID || back.APIv3Key != c.APIv3Key || back.ServiceID != c.ServiceID {
		t.Errorf("round trip changed the config: %+v", back)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validJSON()))
	f.Add([]byte(`{"mchid": 1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil && c.Validate() != nil {
			t.Fatalf("Parse accepted a config Validate refuses: %s", data)
		}
	})
}

// The backup domain is WeChat Pay's only for WeChat Pay's main domain: a
// kiosk pointed at a sandbox or a proxy is never sent to api2 unasked.
func TestBackupBaseURL(t *testing.T) {
	for _, tc := range []struct{ base, backup, want string }{
		{"", "", DefaultAPIBackupBaseURL},
		{DefaultAPIBaseURL, "", DefaultAPIBackupBaseURL},
		{DefaultAPIBaseURL, NoBackup, ""},
		{"http://127.0.0.1:8080", "", ""},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081", "http://127.0.0.1:8081"},
	} {
		c := &Config{APIBaseURL: tc.base, APIBackupBaseURL: tc.backup}
		if got := c.BackupBaseURL(); got != tc.want {
			t.Errorf("api_base_url %q, api_backup_base_url %q: backup %q, want %q", tc.base, tc.backup, got, tc.want)
		}
	}
	if got := (&Config{}).SkewThreshold(); got != DefaultClockSkewThreshold {
		t.Errorf("default skew threshold %v", got)
	}
}

// Over gRPC there is no config file to resolve paths against: every file
// path a host sends must be absolute, and the outbox must be named.
func TestConfigureWantsAbsolutePaths(t *testing.T) {
	abs := &v1.Config{OutboxPath: "/var/lib/kiosk/outbox.db", MerchantPrivateKeyFile: "/etc/kiosk/key.pem"}
	if err := AbsolutePaths(abs); err != nil {
		t.Errorf("absolute paths refused: %v", err)
	}
	for _, tc := range []struct {
		cfg *v1.Config
		key string
	}{
		{&v1.Config{OutboxPath: "/o.db", OutboxKeyFile: "outbox.key"}, "outbox_key_file"},
		{&v1.Config{OutboxPath: "outbox.db"}, "outbox_path"},
		{&v1.Config{}, "outbox_path"},
		{&v1.Config{OutboxPath: "/o.db", MerchantPrivateKeyFile: "apiclient_key.pem"}, "merchant_private_key_file"},
		{&v1.Config{OutboxPath: "/o.db", AdminSocket: "admin.sock"}, "admin_socket"},
	} {
		err := AbsolutePaths(tc.cfg)
		var p Problems
		if !errors.As(err, &p) || len(p) != 1 || p[0].Key != tc.key {
			t.Errorf("%v: %v, want a problem on %s", tc.cfg, err, tc.key)
		}
	}
}

// admin_socket names a file like the key files: relative to the config
// file's folder, and off when left out.
func TestAdminSocketIsAPath(t *testing.T) {
	dir := keyDir(t)
	c, err := Load(writeConfig(t, dir, validJSON()))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminSocket != "" {
		t.Errorf("admin_socket = %q with none in the file, want off (empty)", c.AdminSocket)
	}
	body := strings.Replace(validJSON(), `"service_id": "500001"`, `"service_id": "500001", "admin_socket": "run/admin.sock"`, 1)
	if c, err = Load(writeConfig(t, dir, body)); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "run", "admin.sock"); c.AdminSocket != want {
		t.Errorf("admin_socket = %q, want %q", c.AdminSocket, want)
	}
	if got := c.Proto().GetAdminSocket(); got != c.AdminSocket {
		t.Errorf("Proto().admin_socket = %q, want %q", got, c.AdminSocket)
	}
}

// The service-order keys: smartretail unless told, ESTIMATE_ORDER_COST
// unless told; a serviceorder config with its notify_url loads.
func TestServiceOrderKeys(t *testing.T) {
	c := &Config{}
	if c.API() != APISmartRetail || c.FundName() != DefaultRiskFundName {
		t.Errorf("defaults: api %q, risk fund %q", c.API(), c.FundName())
	}
	dir := keyDir(t)
	body := strings.Replace(validJSON(), `"appid"`, `"payscore_api": "serviceorder", "notify_url": "https://merchant.example/payscore/notify", "risk_fund_name": "DEPOSIT", "appid"`, 1)
	loaded, err := Load(writeConfig(t, dir, body))
	if err != nil {
		t.Fatal(err)
	}
	if loaded.API() != APIServiceOrder || loaded.FundName() != "DEPOSIT" || loaded.Proto().GetNotifyUrl() != "https://merchant.example/payscore/notify" {
		t.Errorf("loaded %q %q %q", loaded.API(), loaded.FundName(), loaded.Proto().GetNotifyUrl())
	}
}
