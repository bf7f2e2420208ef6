package sandbox

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// ConfigFile is the smartretail config file WriteConfig writes.
const ConfigFile = "config.json"

// merchantConfig is smartretail's config file (see the README): the keys a
// merchant fills in for the real WeChat Pay, here pointing at the sandbox.
// The sandbox writes it without importing the plugin's code so that it stays
// independent; a test in cmd/smartretail loads it with the real reader.
type merchantConfig struct {
	MchID                  string `json:"mchid"`
	MerchantSerialNo       string `json:"merchant_serial_no"`
	MerchantPrivateKeyFile string `json:"merchant_private_key_file"`
	WeChatPayPublicKeyID   string `json:"wechatpay_public_key_id"`
	WeChatPayPublicKeyFile string `json:"wechatpay_public_key_file"`
	APIv3Key               string `json:"apiv3_key"`
	AppID                  string `json:"appid"`
	ServiceID              string `json:"service_id"`
	APIBaseURL             string `json:"api_base_url"`
	APIBackupBaseURL       string `json:"api_backup_base_url,omitempty"`
	OutboxPath             string `json:"outbox_path"`
}

// WriteConfig writes the credentials' key files and a smartretail config
// file (ConfigFile, public-key mode) into dir, pointing at s.URL (and at
// s.BackupURL as api_backup_base_url when a backup listener serves; none
// otherwise, which for a base URL other than WeChat Pay's means no backup
// domain), and returns the config file's path. File paths in it are
// relative to dir.
func (s *Server) WriteConfig(dir string) (string, error) {
	if err := saveCredentials(dir, s.Credentials); err != nil {
		return "", err
	}
	c := s.Credentials
	data, err := json.MarshalIndent(merchantConfig{
		MchID:                  c.MchID,
		MerchantSerialNo:       c.MerchantSerialNo,
		MerchantPrivateKeyFile: MerchantPrivateKeyFile,
		WeChatPayPublicKeyID:   c.PublicKeyID,
		WeChatPayPublicKeyFile: WechatPayPublicKeyFile,
		APIv3Key:               c.APIv3Key,
		AppID:                  c.AppID,
		ServiceID:              c.ServiceID,
		APIBaseURL:             s.URL,
		APIBackupBaseURL:       s.BackupURL,
		OutboxPath:             "outbox.db",
	}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("sandbox: config: %w", err)
	}
	path := filepath.Join(dir, ConfigFile)
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return "", err
	}
	return path, nil
}
