package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/kassa-pay/kassa/client"
)

// fakeKassa stands in for a kassa server: it hands out a pairing code and
// creates an invoice once the token is used.
func fakeKassa() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch r.Method + " " + r.URL.Path {
		case "POST /tokens":
			_, _ = io.WriteString(w, `{"data":[{"token":"7mVzWJ8f1XQeHn2pYc4TqkGdA3sLbRu9","facade":"merchant",`+
				`"pairingCode":"Xk4mP2q","dateCreated":1795451206558,"pairingExpiration":1795537606558}]}`)
		case "POST /invoices":
			if r.Header.Get("X-Signature") == "" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"status":"error","error":"Invalid signature","message":"Invalid signature"}`)
				return
			}
			_, _ = io.WriteString(w, `{"facade":"merchant/invoice","data":{"id":"KSnNNfoMDsbRzd1U9ypmVH",`+
				`"url":"https://pay.example.com/invoice?id=KSnNNfoMDsbRzd1U9ypmVH","status":"new",`+
				`"exceptionStatus":false,"price":10.5,"currency":"USD","orderId":"order-1",`+
				`"paymentTotals":{"BTC":19081}}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"Object not found"}`)
		}
	}))
}

// Example pairs a new key with a merchant token and creates an invoice.
func Example() {
	srv := fakeKassa()
	defer srv.Close()
	ctx := context.Background()

	// Pair once: the merchant approves the code in kassa's dashboard.
	key, err := client.NewKey()
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(srv.URL, client.WithKey(key))
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.RequestToken(ctx, client.FacadeMerchant)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("approve pairing code", tok.PairingCode)

	// Keep key.Hex() and tok.Value; later runs start here.
	c, err = client.New(srv.URL, client.WithKey(key), client.WithToken(tok.Facade, tok.Value))
	if err != nil {
		log.Fatal(err)
	}
	inv, err := c.CreateInvoice(ctx, client.FacadeMerchant, client.InvoiceRequest{
		Price:    "10.50",
		Currency: "USD",
		OrderID:  "order-1",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(inv.Status, inv.Price, inv.Currency, inv.PaymentTotals["BTC"])
	fmt.Println(inv.URL)

	_, err = c.Invoice(ctx, client.FacadeMerchant, "unknown")
	fmt.Println("not found:", client.IsNotFound(err))
	// Output:
	// approve pairing code Xk4mP2q
	// new 10.5 USD 19081
	// https://pay.example.com/invoice?id=KSnNNfoMDsbRzd1U9ypmVH
	// not found: true
}
