package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// File names used by LoadOrCreateCredentials inside its directory.
const (
	MerchantPrivateKeyFile   = "merchant_private_key.pem"  // PKCS#8 "PRIVATE KEY", 0600
	MerchantPublicKeyFile    = "merchant_public_key.pem"   // PKIX "PUBLIC KEY"
	WechatPayPublicKeyFile   = "wechatpay_public_key.pem"  // PKIX "PUBLIC KEY", for public-key mode
	WechatPayCertificateFile = "wechatpay_certificate.pem" // self-signed platform certificate
	WechatPayPrivateKeyFile  = "wechatpay_private_key.pem" // PKCS#8 "PRIVATE KEY", 0600; only the sandbox uses it
	CredentialsFile          = "credentials.json"          // ids and the APIv3 key, 0600
)

// Credentials is everything a merchant and the platform hold. A real merchant
// never sees the platform private key; the sandbox needs it to sign answers.
type Credentials struct {
	MchID     string
	AppID     string
	ServiceID string

	MerchantSerialNo   string          // serial_no the client puts in Authorization
	MerchantPrivateKey *rsa.PrivateKey // RSA-2048; used by clients to sign requests

	PublicKeyID         string            // "PUB_KEY_ID_..."; Wechatpay-Serial in public-key mode
	PlatformPrivateKey  *rsa.PrivateKey   // RSA-2048; the sandbox signs answers with it
	PlatformCertificate *x509.Certificate // self-signed over the platform public key

	APIv3Key string // 32 ASCII bytes
}

// PlatformCertificateSerial is the platform certificate serial number in the
// form the SDK uses (utils.GetCertificateSerialNumber: upper-case hex).
func (c *Credentials) PlatformCertificateSerial() string {
	if c == nil || c.PlatformCertificate == nil {
		return ""
	}
	return utils.GetCertificateSerialNumber(*c.PlatformCertificate)
}

// WechatPayPublicKey is the platform public key, as a merchant downloads it
// for public-key mode (option.WithWechatPayPublicKeyAuthCipher).
func (c *Credentials) WechatPayPublicKey() *rsa.PublicKey {
	return &c.PlatformPrivateKey.PublicKey
}

func (c *Credentials) validate() error {
	switch {
	case c == nil:
		return errors.New("sandbox: Credentials is nil")
	case c.MchID == "" || c.AppID == "" || c.ServiceID == "":
		return errors.New("sandbox: Credentials needs MchID, AppID and ServiceID")
	case c.MerchantSerialNo == "" || c.MerchantPrivateKey == nil:
		return errors.New("sandbox: Credentials needs MerchantSerialNo and MerchantPrivateKey")
	case !strings.HasPrefix(c.PublicKeyID, "PUB_KEY_ID_"):
		return errors.New("sandbox: Credentials.PublicKeyID must start with PUB_KEY_ID_")
	case c.PlatformPrivateKey == nil || c.PlatformCertificate == nil:
		return errors.New("sandbox: Credentials needs PlatformPrivateKey and PlatformCertificate")
	case len(c.APIv3Key) != 32:
		return errors.New("sandbox: Credentials.APIv3Key must be 32 bytes")
	}
	pub, ok := c.PlatformCertificate.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&c.PlatformPrivateKey.PublicKey) {
		return errors.New("sandbox: PlatformCertificate does not match PlatformPrivateKey")
	}
	return nil
}

const (
	digits = "0123456789"
	hexUp  = "0123456789ABCDEF"
	alnum  = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// randString draws n characters of set from crypto/rand.
func randString(set string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(set)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = set[v.Int64()]
	}
	return string(b)
}

// GenerateCredentials makes a fresh, self-consistent set of ids and keys.
func GenerateCredentials() (*Credentials, error) {
	mk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generate merchant key: %w", err)
	}
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generate platform key: %w", err)
	}
	mchID := "19" + randString(digits, 8)
	cert, err := selfSignedCertificate(pk, mchID)
	if err != nil {
		return nil, err
	}
	return &Credentials{
		MchID:               mchID,
		AppID:               "wx" + strings.ToLower(randString(hexUp, 16)),
		ServiceID:           "5000" + randString(digits, 26),
		MerchantSerialNo:    randString(hexUp, 40),
		MerchantPrivateKey:  mk,
		PublicKeyID:         "PUB_KEY_ID_01" + mchID + randString(digits, 16),
		PlatformPrivateKey:  pk,
		PlatformCertificate: cert,
		APIv3Key:            randString(alnum, 32),
	}, nil
}

func selfSignedCertificate(key *rsa.PrivateKey, mchID string) (*x509.Certificate, error) {
	// 20 bytes with a non-zero top nibble: the SDK's %X form is then 40 hex digits.
	serialBytes := make([]byte, 20)
	if _, err := rand.Read(serialBytes); err != nil {
		return nil, err
	}
	serialBytes[0] = serialBytes[0]&0x7f | 0x10
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serialBytes),
		Subject: pkix.Name{
			CommonName:         "WeChat Pay Sandbox Platform " + mchID,
			Organization:       []string{"WeChat Pay Sandbox"},
			OrganizationalUnit: []string{"Sandbox"},
		},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sandbox: create platform certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// credentialsJSON is the on-disk form of the ids (CredentialsFile).
type credentialsJSON struct {
	MchID            string `json:"mchid"`
	AppID            string `json:"appid"`
	ServiceID        string `json:"service_id"`
	MerchantSerialNo string `json:"merchant_serial_no"`
	PublicKeyID      string `json:"public_key_id"`
	PlatformSerialNo string `json:"platform_certificate_serial_no"` // informative only
	APIv3Key         string `json:"apiv3_key"`
}

// DefaultCredentials is one set of credentials generated on first use and
// shared by the whole process, so that tests which need no particular keys
// pay for RSA key generation once.
func DefaultCredentials() (*Credentials, error) { return defaultCredentials() }

var defaultCredentials = sync.OnceValues(GenerateCredentials)

// LoadOrCreateCredentials generates credentials on first use and reuses them
// afterwards. CredentialsFile is written last, so its presence means a
// complete set; without it everything is (re)generated. A damaged file is an
// error naming the file.
func LoadOrCreateCredentials(dir string) (*Credentials, error) {
	credPath := filepath.Join(dir, CredentialsFile)
	if _, err := os.Stat(credPath); err == nil {
		return loadCredentials(dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sandbox: %s: %w", credPath, err)
	}
	c, err := GenerateCredentials()
	if err != nil {
		return nil, err
	}
	if err := saveCredentials(dir, c); err != nil {
		return nil, err
	}
	return c, nil
}

func saveCredentials(dir string, c *Credentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sandbox: create credentials dir: %w", err)
	}
	mPriv, err := privateKeyPEM(c.MerchantPrivateKey)
	if err != nil {
		return err
	}
	pPriv, err := privateKeyPEM(c.PlatformPrivateKey)
	if err != nil {
		return err
	}
	mPub, err := publicKeyPEM(&c.MerchantPrivateKey.PublicKey)
	if err != nil {
		return err
	}
	pPub, err := publicKeyPEM(&c.PlatformPrivateKey.PublicKey)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.PlatformCertificate.Raw})
	ids, err := json.MarshalIndent(credentialsJSON{
		MchID: c.MchID, AppID: c.AppID, ServiceID: c.ServiceID,
		MerchantSerialNo: c.MerchantSerialNo, PublicKeyID: c.PublicKeyID,
		PlatformSerialNo: c.PlatformCertificateSerial(), APIv3Key: c.APIv3Key,
	}, "", "  ")
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{MerchantPrivateKeyFile, mPriv, 0o600},
		{MerchantPublicKeyFile, mPub, 0o644},
		{WechatPayPrivateKeyFile, pPriv, 0o600},
		{WechatPayPublicKeyFile, pPub, 0o644},
		{WechatPayCertificateFile, certPEM, 0o644},
		{CredentialsFile, append(ids, '\n'), 0o600}, // last: marks the set complete
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes via a temporary file and rename, so a crash never
// leaves a half-written key behind.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("sandbox: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sandbox: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("sandbox: write %s: %w", path, err)
	}
	return nil
}

func privateKeyPEM(k *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("sandbox: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func publicKeyPEM(k *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("sandbox: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func loadCredentials(dir string) (*Credentials, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("sandbox: read %s: %w", filepath.Join(dir, name), err)
		}
		return string(b), nil
	}
	bad := func(name string, err error) error {
		return fmt.Errorf("sandbox: %s is damaged or incomplete: %v", filepath.Join(dir, name), err)
	}

	raw, err := read(CredentialsFile)
	if err != nil {
		return nil, err
	}
	var ids credentialsJSON
	if err := json.Unmarshal([]byte(raw), &ids); err != nil {
		return nil, bad(CredentialsFile, err)
	}
	c := &Credentials{
		MchID: ids.MchID, AppID: ids.AppID, ServiceID: ids.ServiceID,
		MerchantSerialNo: ids.MerchantSerialNo, PublicKeyID: ids.PublicKeyID, APIv3Key: ids.APIv3Key,
	}

	s, err := read(MerchantPrivateKeyFile)
	if err != nil {
		return nil, err
	}
	if c.MerchantPrivateKey, err = utils.LoadPrivateKey(s); err != nil {
		return nil, bad(MerchantPrivateKeyFile, err)
	}
	if s, err = read(MerchantPublicKeyFile); err != nil {
		return nil, err
	}
	mPub, err := utils.LoadPublicKey(s)
	if err != nil {
		return nil, bad(MerchantPublicKeyFile, err)
	}
	if !mPub.Equal(&c.MerchantPrivateKey.PublicKey) {
		return nil, bad(MerchantPublicKeyFile, errors.New("does not match "+MerchantPrivateKeyFile))
	}
	if s, err = read(WechatPayPrivateKeyFile); err != nil {
		return nil, err
	}
	if c.PlatformPrivateKey, err = utils.LoadPrivateKey(s); err != nil {
		return nil, bad(WechatPayPrivateKeyFile, err)
	}
	if s, err = read(WechatPayPublicKeyFile); err != nil {
		return nil, err
	}
	pPub, err := utils.LoadPublicKey(s)
	if err != nil {
		return nil, bad(WechatPayPublicKeyFile, err)
	}
	if !pPub.Equal(&c.PlatformPrivateKey.PublicKey) {
		return nil, bad(WechatPayPublicKeyFile, errors.New("does not match "+WechatPayPrivateKeyFile))
	}
	if s, err = read(WechatPayCertificateFile); err != nil {
		return nil, err
	}
	if c.PlatformCertificate, err = utils.LoadCertificate(s); err != nil {
		return nil, bad(WechatPayCertificateFile, err)
	}
	if err := c.validate(); err != nil {
		return nil, bad(CredentialsFile, err)
	}
	return c, nil
}
