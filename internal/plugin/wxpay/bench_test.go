package wxpay_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
)

// BenchmarkCreate is one create through this client to the sandbox;
// BenchmarkCoreClientCreate the same body through a bare core.Client: the
// difference is what wxpay adds (validation, classification, reading).
func BenchmarkCreate(b *testing.B) {
	srv := startSandbox(b, "")
	defer srv.Close()
	c := clientFor(b, srv, false)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Create(ctx, fullCreate(fmt.Sprintf("BW-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCoreClientCreate(b *testing.B) {
	srv := startSandbox(b, "")
	defer srv.Close()
	cr := srv.Credentials
	bare, err := core.NewClient(context.Background(), option.WithWechatPayPublicKeyAuthCipher(cr.MchID, cr.MerchantSerialNo,
		cr.MerchantPrivateKey, cr.PublicKeyID, cr.WechatPayPublicKey()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := fullCreate(fmt.Sprintf("BC-%d", i))
		r.AppID, r.ServiceID = cr.AppID, cr.ServiceID
		if _, err := bare.Post(ctx, srv.URL+"/v3/payscore/smartretail-orders", r); err != nil {
			b.Fatal(err)
		}
	}
}
