// Package client is a Go client for the BitPay merchant API (v2, "X-Accept-
// Version: 2.0.0") as spoken by kassa and by bitpay.com.
//
// A client identity is a secp256k1 Key. Its SIN is registered with the
// server by pairing; the resulting tokens, one per facade ("pos",
// "merchant", "payout"), are passed to New with WithToken. Requests that
// carry a facade token are signed with BitAuth when the client has a key:
// X-Identity is the compressed public key in hex and X-Signature the hex
// DER ECDSA signature over SHA-256 of the full URL (query included)
// followed by the raw body. Without a key a bearer pos token is sent
// unsigned. Public calls (rates, currencies, pairing, the public invoice
// view) are never signed. Tokens travel as "token" in the JSON body of POST
// and PUT requests and as ?token= on GET and DELETE, as the official SDKs
// send them.
//
// Money is never a float64: prices and rates are decimal json.Numbers and
// amounts in a currency's smallest unit are integers (or json.Numbers where
// they can exceed int64).
//
// Errors reported by the server are *APIError values; IsNotFound tells
// "no such invoice" apart from other failures.
//
// Pairing once, then creating an invoice:
//
//	key, _ := client.NewKey() // keep key.Hex() somewhere safe
//	c, _ := client.New("https://pay.example.com", client.WithKey(key))
//	tok, err := c.RequestToken(ctx, client.FacadeMerchant)
//	if err != nil {
//		return err
//	}
//	fmt.Println("approve pairing code", tok.PairingCode)
//
//	// After the merchant approved the code:
//	c, _ = client.New("https://pay.example.com",
//		client.WithKey(key), client.WithToken(tok.Facade, tok.Value))
//	inv, err := c.CreateInvoice(ctx, client.FacadeMerchant, client.InvoiceRequest{
//		Price:    "10.50",
//		Currency: "USD",
//		OrderID:  "order-1",
//	})
//	if err != nil {
//		return err
//	}
//	fmt.Println("send the buyer to", inv.URL)
package client
