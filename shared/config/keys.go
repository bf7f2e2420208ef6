package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
)

// MinRSABits is the smallest RSA key WeChat Pay APIv3 uses.
const MinRSABits = 2048

// maxKeyFileBytes bounds a key file; real ones are under 4 KiB.
const maxKeyFileBytes = 64 << 10

// Keys are the parsed key files a config names.
type Keys struct {
	MerchantPrivateKey   *rsa.PrivateKey
	WeChatPayPublicKey   *rsa.PublicKey    // public-key mode
	WeChatPayCertificate *x509.Certificate // platform-certificate mode
}

// LoadKeys reads and checks the key files c names (paths as resolved by
// Load). Each error names the config key and the file, never key material.
func (c *Config) LoadKeys() (*Keys, error) {
	var k Keys
	var err error
	if k.MerchantPrivateKey, err = ReadPrivateKey(c.MerchantPrivateKeyFile); err != nil {
		return nil, &KeyError{Key: "merchant_private_key_file", Err: err}
	}
	if c.WeChatPayPublicKeyFile != "" {
		if k.WeChatPayPublicKey, err = ReadPublicKey(c.WeChatPayPublicKeyFile); err != nil {
			return nil, &KeyError{Key: "wechatpay_public_key_file", Err: err}
		}
	}
	if c.WeChatPayCertificateFile != "" {
		if k.WeChatPayCertificate, err = ReadCertificate(c.WeChatPayCertificateFile); err != nil {
			return nil, &KeyError{Key: "wechatpay_certificate_file", Err: err}
		}
	}
	return &k, nil
}

// readPEM reads the first PEM block of a file.
func readPEM(path string) (*pem.Block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // names the path already
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a key file", path, maxKeyFileBytes)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block found (want a -----BEGIN ...----- file)", path)
	}
	return block, nil
}

// ReadPrivateKey reads an RSA private key of at least MinRSABits, PKCS#8
// ("PRIVATE KEY", as WeChat Pay's tool writes it) or PKCS#1.
func ReadPrivateKey(path string) (*rsa.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM block is %q, want PRIVATE KEY or RSA PRIVATE KEY", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: malformed private key: %v", path, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: want an RSA private key, got %T", path, key)
	}
	if n := rk.N.BitLen(); n < MinRSABits {
		return nil, fmt.Errorf("%s: RSA key is %d bits, want at least %d", path, n, MinRSABits)
	}
	return rk, nil
}

// ReadPublicKey reads an RSA public key ("PUBLIC KEY", PKIX), as WeChat Pay
// hands out in public-key mode.
func ReadPublicKey(path string) (*rsa.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		return nil, fmt.Errorf("%s: holds a certificate; name it in wechatpay_certificate_file instead", path)
	default:
		return nil, fmt.Errorf("%s: PEM block is %q, want PUBLIC KEY", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: malformed public key: %v", path, err)
	}
	return rsaPublic(path, key)
}

// ReadCertificate reads a WeChat Pay platform certificate with an RSA key.
func ReadCertificate(path string) (*x509.Certificate, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: PEM block is %q, want CERTIFICATE", path, block.Type)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: malformed certificate: %v", path, err)
	}
	if _, err := rsaPublic(path, cert.PublicKey); err != nil {
		return nil, err
	}
	return cert, nil
}

func rsaPublic(path string, key any) (*rsa.PublicKey, error) {
	pk, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: want an RSA public key, got %T", path, key)
	}
	if n := pk.N.BitLen(); n < MinRSABits {
		return nil, fmt.Errorf("%s: RSA key is %d bits, want at least %d", path, n, MinRSABits)
	}
	return pk, nil
}
