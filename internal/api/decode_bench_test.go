package api

import "testing"

// sdkInvoiceBody is the invoice the official Node SDK 8.0.4 sent.
const sdkInvoiceBody = `{"price":10.5,"currency":"USD","orderId":"smoke-1795451206570","itemDesc":"sdk_smoke item",` +
	`"notificationURL":"http://127.0.0.1:9/ipn","redirectURL":"http://127.0.0.1:9/return",` +
	`"buyer":{"email":"buyer@example.com","name":"Smoke Buyer","notify":true},"extendedNotifications":true,` +
	`"token":"CaptureTokMerchantXXXXXXXXXXXXXXXXXX","guid":"1795451206570"}`

func BenchmarkDecodeInvoiceRequest(b *testing.B) {
	body := []byte(sdkInvoiceBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeInvoiceRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
