package config

import (
	"path/filepath"

	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

// Proto is c as the Configure message; the keys are the same.
func (c *Config) Proto() *v1.Config {
	return &v1.Config{
		Mchid:                    c.MchID,
		MerchantSerialNo:         c.MerchantSerialNo,
		MerchantPrivateKeyFile:   c.MerchantPrivateKeyFile,
		WechatpayPublicKeyId:     c.WeChatPayPublicKeyID,
		WechatpayPublicKeyFile:   c.WeChatPayPublicKeyFile,
		WechatpayCertificateFile: c.WeChatPayCertificateFile,
		Apiv3Key:                 c.APIv3Key,
		Appid:                    c.AppID,
		ServiceId:                c.ServiceID,
		ApiBaseUrl:               c.APIBaseURL,
		OutboxPath:               c.OutboxPath,
		OutboxKeyFile:            c.OutboxKeyFile,
		OutboxRetention:          c.OutboxRetention,
		OfflineMaxOrders:         c.OfflineMaxOrders,
		OfflineMaxOrderAmount:    c.OfflineMaxOrderAmount,
		OfflineMaxTotalAmount:    c.OfflineMaxTotalAmount,
		OfflineMaxAge:            c.OfflineMaxAge,
		OfflineAllowUserConfirm:  c.OfflineAllowUserConfirm,
		ForwardConcurrency:       c.ForwardConcurrency,
	}
}

// FromProto is the Configure message as a Config, defaults filled. It does
// not validate: call Validate.
func FromProto(p *v1.Config) *Config {
	c := &Config{
		MchID:                    p.GetMchid(),
		MerchantSerialNo:         p.GetMerchantSerialNo(),
		MerchantPrivateKeyFile:   p.GetMerchantPrivateKeyFile(),
		WeChatPayPublicKeyID:     p.GetWechatpayPublicKeyId(),
		WeChatPayPublicKeyFile:   p.GetWechatpayPublicKeyFile(),
		WeChatPayCertificateFile: p.GetWechatpayCertificateFile(),
		APIv3Key:                 p.GetApiv3Key(),
		AppID:                    p.GetAppid(),
		ServiceID:                p.GetServiceId(),
		APIBaseURL:               p.GetApiBaseUrl(),
		OutboxPath:               p.GetOutboxPath(),
		OutboxKeyFile:            p.GetOutboxKeyFile(),
		OutboxRetention:          p.GetOutboxRetention(),
		OfflineMaxOrders:         p.GetOfflineMaxOrders(),
		OfflineMaxOrderAmount:    p.GetOfflineMaxOrderAmount(),
		OfflineMaxTotalAmount:    p.GetOfflineMaxTotalAmount(),
		OfflineMaxAge:            p.GetOfflineMaxAge(),
		OfflineAllowUserConfirm:  p.GetOfflineAllowUserConfirm(),
		ForwardConcurrency:       p.GetForwardConcurrency(),
	}
	c.fillDefaults()
	return c
}

func (c *Config) fillDefaults() {
	if c.APIBaseURL == "" {
		c.APIBaseURL = DefaultAPIBaseURL
	}
	if c.OutboxPath == "" {
		c.OutboxPath = DefaultOutboxPath
	}
	if c.OutboxKeyFile == "" {
		// Beside the outbox, wherever that is.
		c.OutboxKeyFile = filepath.Join(filepath.Dir(c.OutboxPath), DefaultOutboxKeyFile)
	}
}
