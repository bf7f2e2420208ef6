// Package config reads and writes smartretail's config file: a JSON object
// naming the merchant's identity, key files and WeChat Pay endpoint.
//
// Relative file paths are taken from the config file's folder, so a config
// folder can be moved whole. Keys are checked strictly: an unknown key is an
// error, not ignored, because a misspelt key would otherwise silently fall
// back to a default.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the config file. Its JSON keys are the contract; the plugin's
// Configure message carries the same keys.
type Config struct {
	MchID                  string `json:"mchid"`
	MerchantSerialNo       string `json:"merchant_serial_no"`
	MerchantPrivateKeyFile string `json:"merchant_private_key_file"`
	// Public-key mode (new merchants): the key id PUB_KEY_ID_... and the key.
	WeChatPayPublicKeyID   string `json:"wechatpay_public_key_id,omitempty"`
	WeChatPayPublicKeyFile string `json:"wechatpay_public_key_file,omitempty"`
	// Platform-certificate mode, instead of the two keys above.
	WeChatPayCertificateFile string `json:"wechatpay_certificate_file,omitempty"`
	// APIv3Key is the 32-byte APIv3 key (decrypts callbacks). A secret:
	// never printed, never in an error.
	APIv3Key   string `json:"apiv3_key"`
	AppID      string `json:"appid"`
	ServiceID  string `json:"service_id"`
	APIBaseURL string `json:"api_base_url,omitempty"`
	OutboxPath string `json:"outbox_path,omitempty"`

	// The outbox and offline sales. Zero values mean the defaults.
	OutboxKeyFile           string `json:"outbox_key_file,omitempty"`
	OutboxRetention         string `json:"outbox_retention,omitempty"` // Go duration
	OfflineMaxOrders        int64  `json:"offline_max_orders,omitempty"`
	OfflineMaxOrderAmount   int64  `json:"offline_max_order_amount,omitempty"` // fen
	OfflineMaxTotalAmount   int64  `json:"offline_max_total_amount,omitempty"` // fen
	OfflineMaxAge           string `json:"offline_max_age,omitempty"`          // Go duration
	OfflineAllowUserConfirm bool   `json:"offline_allow_user_confirm,omitempty"`
	ForwardConcurrency      int64  `json:"forward_concurrency,omitempty"`
	// ForwardMaxRate caps how fast the forwarder sends, requests a second:
	// this kiosk's share of the merchant's WeChat Pay rate limit. 0: none.
	ForwardMaxRate float64 `json:"forward_max_rate,omitempty"`

	// APIBackupBaseURL is WeChat Pay's backup domain, used while
	// api_base_url cannot be reached; "off" for none.
	APIBackupBaseURL   string `json:"api_backup_base_url,omitempty"`
	ClockSkewThreshold string `json:"clock_skew_threshold,omitempty"` // Go duration

	// AdminSocket is a Unix socket on which the plugin also serves its
	// service (Configure excepted) to the kiosk's operators; "" for none.
	AdminSocket string `json:"admin_socket,omitempty"`

	// The Pay Score API the merchant's service uses, and what service
	// orders need (README: Which API).
	PayScoreAPI  string `json:"payscore_api,omitempty"`
	NotifyURL    string `json:"notify_url,omitempty"`
	RiskFundName string `json:"risk_fund_name,omitempty"`
}

// The Pay Score APIs (payscore_api).
const (
	APISmartRetail  = "smartretail"
	APIServiceOrder = "serviceorder"
)

// RiskFundNames are WeChat Pay's names for a service order's risk fund:
// DEPOSIT, ADVANCE and CASH_DEPOSIT are 先免 (the charge is capped by the
// fund), ESTIMATE_ORDER_COST is 先享 (capped by the service's risk amount).
// (../shared/design/wechatpay-serviceorder.md 2.3: V-sdk EV, Y, GP; V-org SK.)
var RiskFundNames = []string{"DEPOSIT", "ADVANCE", "CASH_DEPOSIT", "ESTIMATE_ORDER_COST"}

// DefaultRiskFundName is ESTIMATE_ORDER_COST: the only smart-retail
// service order in any source used it (B-csdn19), it is the pay-after
// (先享) name a kiosk's take-then-pay sale is, and a 免确认 service may use
// only 先享 names (C-noauth).
const DefaultRiskFundName = "ESTIMATE_ORDER_COST"

// Defaults for keys that may be left out. The config owns them; the base
// URL, key file name, retention, max age and concurrency are also the
// defaults of wxpay, outbox and forward, which this package may not import:
// plugin's TestConfigDefaultsAreThePackagesDefaults keeps each pair equal.
const (
	DefaultAPIBaseURL = "https://api.mch.weixin.qq.com"
	// DefaultAPIBackupBaseURL is WeChat Pay's published backup domain, the
	// default backup for the default api_base_url only.
	DefaultAPIBackupBaseURL = "https://api2.mch.weixin.qq.com"
	// NoBackup as api_backup_base_url turns the backup domain off.
	NoBackup          = "off"
	DefaultOutboxPath = "outbox.db"
	APIv3KeyLen       = 32

	DefaultOutboxKeyFile         = "outbox.key" // beside the outbox
	DefaultOutboxRetention       = 7 * 24 * time.Hour
	DefaultOfflineMaxOrders      = 1000
	DefaultOfflineMaxOrderAmount = 100_000    // fen: 1,000 CNY
	DefaultOfflineMaxTotalAmount = 10_000_000 // fen: 100,000 CNY
	DefaultOfflineMaxAge         = 24 * time.Hour
	DefaultForwardConcurrency    = 4
	DefaultClockSkewThreshold    = time.Minute
	// MaxForwardConcurrency is the most forward_concurrency may be.
	MaxForwardConcurrency = 64
	// MinForwardMaxRate is the slowest forward_max_rate: a request every
	// ten seconds.
	MinForwardMaxRate = 0.1
)

// maxFileBytes bounds a config file; a real one is well under 4 KiB.
const maxFileBytes = 1 << 20

// Load reads the config file at path, checks it, fills defaults and makes
// its file paths absolute. Errors name the file and the key.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("config %s: larger than %d bytes; is it the right file?", path, maxFileBytes)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.ResolvePaths(filepath.Dir(abs))
	return c, nil
}

// Parse decodes and checks a config file's contents, filling defaults.
// Paths stay as written; see ResolvePaths.
func Parse(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, decodeError(err)
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	// encoding/json matches keys case-insensitively; the file's keys are
	// exact, so "MchID" is as unknown as "mch_id".
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err == nil {
		known := map[string]bool{}
		for _, k := range FileKeys() {
			known[k] = true
		}
		for k := range keys {
			if !known[k] {
				return nil, problem(k, "unknown key (keys are exact and lower case; known keys: %s)", strings.Join(FileKeys(), ", "))
			}
		}
	}
	c.fillDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeError says which key is wrong in words a person fixing the file needs.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fmt.Errorf("want a JSON object, got %s", typeErr.Value)
		}
		return problem(typeErr.Field, "want a %s, got %s", typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("not valid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not valid JSON: the file ends before the object is closed")
	case errors.Is(err, io.EOF):
		return errors.New("empty: want a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		key, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return problem(key, "unknown key (known keys: %s)", strings.Join(FileKeys(), ", "))
	}
	return err
}

// KeyError is a problem with one key of the config.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return fmt.Sprintf("key %q: %v", e.Key, e.Err) }
func (e *KeyError) Unwrap() error { return e.Err }

// Problems are all the problems Validate found, one per key.
type Problems []*KeyError

func (p Problems) Error() string {
	parts := make([]string, len(p))
	for i, e := range p {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func problem(key, format string, args ...any) *KeyError {
	return &KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Validate checks that every required key is there and well formed, and
// returns Problems naming each bad key. It does not read key files: see
// LoadKeys.
func (c *Config) Validate() error {
	var p Problems
	for _, kv := range [][2]string{
		{"mchid", c.MchID},
		{"merchant_serial_no", c.MerchantSerialNo},
		{"merchant_private_key_file", c.MerchantPrivateKeyFile},
		{"apiv3_key", c.APIv3Key},
		{"appid", c.AppID},
		{"service_id", c.ServiceID},
	} {
		if strings.TrimSpace(kv[1]) == "" {
			p = append(p, problem(kv[0], "missing: it is required"))
		}
	}
	pubKeyMode := c.WeChatPayPublicKeyID != "" || c.WeChatPayPublicKeyFile != ""
	switch {
	case pubKeyMode && c.WeChatPayCertificateFile != "":
		p = append(p, problem("wechatpay_certificate_file",
			"give wechatpay_public_key_id with wechatpay_public_key_file, or wechatpay_certificate_file, not both"))
	case c.WeChatPayPublicKeyID != "" && c.WeChatPayPublicKeyFile == "":
		p = append(p, problem("wechatpay_public_key_file", "missing: required with wechatpay_public_key_id"))
	case c.WeChatPayPublicKeyFile != "" && c.WeChatPayPublicKeyID == "":
		p = append(p, problem("wechatpay_public_key_id", "missing: required with wechatpay_public_key_file"))
	case !pubKeyMode && c.WeChatPayCertificateFile == "":
		p = append(p, problem("wechatpay_public_key_file",
			"missing: give wechatpay_public_key_id with wechatpay_public_key_file (public-key mode), or wechatpay_certificate_file"))
	}
	if c.WeChatPayPublicKeyID != "" && !strings.HasPrefix(c.WeChatPayPublicKeyID, "PUB_KEY_ID_") {
		p = append(p, problem("wechatpay_public_key_id", "want an id starting PUB_KEY_ID_, got %q", c.WeChatPayPublicKeyID))
	}
	if n := len(c.APIv3Key); n != 0 && n != APIv3KeyLen {
		// Never echo the key itself.
		p = append(p, problem("apiv3_key", "want %d bytes, got %d", APIv3KeyLen, n))
	}
	for _, u := range []struct{ key, value string }{{"api_base_url", c.APIBaseURL}, {"api_backup_base_url", c.APIBackupBaseURL}} {
		if u.value == "" || u.key == "api_backup_base_url" && u.value == NoBackup {
			continue
		}
		if parsed, err := url.Parse(u.value); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			p = append(p, problem(u.key, "want an http:// or https:// URL with a host, got %q", u.value))
		}
	}
	switch c.PayScoreAPI {
	case "", APISmartRetail:
	case APIServiceOrder:
		if c.NotifyURL == "" {
			p = append(p, problem("notify_url", "missing: required with payscore_api serviceorder (WeChat Pay requires it at create; it is the merchant's server, which gets the confirmation and payment notifications)"))
		}
	default:
		p = append(p, problem("payscore_api", "want %q or %q, got %q", APISmartRetail, APIServiceOrder, c.PayScoreAPI))
	}
	if c.NotifyURL != "" {
		// https, directly reachable, no query (W-21); at most 255 (O-create).
		if u, err := url.Parse(c.NotifyURL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || len(c.NotifyURL) > 255 {
			p = append(p, problem("notify_url", "want an https:// URL with a host, no query, at most 255 characters, got %q", c.NotifyURL))
		}
	}
	if c.RiskFundName != "" && !slices.Contains(RiskFundNames, c.RiskFundName) {
		p = append(p, problem("risk_fund_name", "want one of %s, got %q", strings.Join(RiskFundNames, ", "), c.RiskFundName))
	}
	for _, d := range []struct{ key, value string }{{"outbox_retention", c.OutboxRetention}, {"offline_max_age", c.OfflineMaxAge},
		{"clock_skew_threshold", c.ClockSkewThreshold}} {
		if d.value == "" {
			continue
		}
		if v, err := time.ParseDuration(d.value); err != nil || v <= 0 {
			p = append(p, problem(d.key, "want a positive duration such as \"24h\" or \"90m\", got %q", d.value))
		}
	}
	for _, n := range []struct {
		key   string
		value int64
	}{{"offline_max_orders", c.OfflineMaxOrders}, {"offline_max_order_amount", c.OfflineMaxOrderAmount},
		{"offline_max_total_amount", c.OfflineMaxTotalAmount}, {"forward_concurrency", c.ForwardConcurrency}} {
		if n.value < 0 {
			p = append(p, problem(n.key, "must not be negative, got %d", n.value))
		}
	}
	if math.IsNaN(c.ForwardMaxRate) || math.IsInf(c.ForwardMaxRate, 0) || c.ForwardMaxRate < 0 {
		p = append(p, problem("forward_max_rate", "want requests a second, 0 or more (0: no cap), got %v", c.ForwardMaxRate))
	} else if c.ForwardMaxRate > 0 && c.ForwardMaxRate < MinForwardMaxRate {
		p = append(p, problem("forward_max_rate", "at least %v requests a second (or 0: no cap), got %v", MinForwardMaxRate, c.ForwardMaxRate))
	}
	if c.ForwardConcurrency > MaxForwardConcurrency {
		p = append(p, problem("forward_concurrency", "at most %d, got %d", MaxForwardConcurrency, c.ForwardConcurrency))
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

// Retention is outbox_retention or its default.
func (c *Config) Retention() time.Duration {
	return durationOr(c.OutboxRetention, DefaultOutboxRetention)
}

// MaxAge is offline_max_age or its default.
func (c *Config) MaxAge() time.Duration { return durationOr(c.OfflineMaxAge, DefaultOfflineMaxAge) }

// API is payscore_api or its default, smartretail.
func (c *Config) API() string {
	if c.PayScoreAPI == "" {
		return APISmartRetail
	}
	return c.PayScoreAPI
}

// FundName is risk_fund_name or its default.
func (c *Config) FundName() string {
	if c.RiskFundName == "" {
		return DefaultRiskFundName
	}
	return c.RiskFundName
}

// SkewThreshold is clock_skew_threshold or its default.
func (c *Config) SkewThreshold() time.Duration {
	return durationOr(c.ClockSkewThreshold, DefaultClockSkewThreshold)
}

// BackupBaseURL is the backup API domain, "" for none: api_backup_base_url,
// or WeChat Pay's backup when api_base_url is WeChat Pay's main domain.
func (c *Config) BackupBaseURL() string {
	switch {
	case c.APIBackupBaseURL == NoBackup:
		return ""
	case c.APIBackupBaseURL != "":
		return c.APIBackupBaseURL
	case c.APIBaseURL == "" || c.APIBaseURL == DefaultAPIBaseURL:
		return DefaultAPIBackupBaseURL
	}
	return ""
}

// Concurrency is forward_concurrency or its default.
func (c *Config) Concurrency() int {
	return int(intOr(c.ForwardConcurrency, DefaultForwardConcurrency))
}

// Limits are the offline limits with defaults filled: orders, one order's
// amount and the total amount (fen).
func (c *Config) Limits() (orders, orderAmount, totalAmount int64) {
	return intOr(c.OfflineMaxOrders, DefaultOfflineMaxOrders),
		intOr(c.OfflineMaxOrderAmount, DefaultOfflineMaxOrderAmount),
		intOr(c.OfflineMaxTotalAmount, DefaultOfflineMaxTotalAmount)
}

func durationOr(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return def
}

func intOr(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// paths are the keys that name files, with their fields.
func (c *Config) paths() []struct {
	key string
	p   *string
} {
	return []struct {
		key string
		p   *string
	}{{"merchant_private_key_file", &c.MerchantPrivateKeyFile}, {"wechatpay_public_key_file", &c.WeChatPayPublicKeyFile},
		{"wechatpay_certificate_file", &c.WeChatPayCertificateFile}, {"outbox_path", &c.OutboxPath}, {"outbox_key_file", &c.OutboxKeyFile},
		{"admin_socket", &c.AdminSocket}}
}

// ResolvePaths makes the file paths absolute, relative to dir.
func (c *Config) ResolvePaths(dir string) {
	for _, k := range c.paths() {
		if *k.p != "" && !filepath.IsAbs(*k.p) {
			*k.p = filepath.Join(dir, *k.p)
		}
	}
}

// Write saves c as an indented JSON file readable only by its owner, since
// it holds the APIv3 key.
func (c *Config) Write(path string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}
