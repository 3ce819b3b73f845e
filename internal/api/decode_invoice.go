package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
)

// InvoiceRequest is a POST /invoices body after lenient decoding (spec
// §3.2): every spelling a client generation uses folded into one field.
type InvoiceRequest struct {
	Token         string
	GUID          string // also in Fields.GUID, which the invoice echoes
	SessionID     string // API sessions (spec §8)
	RequestNumber int64  // API sessions; 0 when absent

	Price            string // decimal as sent, exact digits ("10.50"); never empty
	Currency         string // as sent; the gateway upper-cases it
	TransactionSpeed string
	AcceptanceWindow int64 // milliseconds; 0 when absent

	Fields invoice.Fields
}

// ToNewInvoice converts the request for the gateway. The acceptance window
// is clamped to gateway.MaxWindow; a negative one is a field error.
func (q InvoiceRequest) ToNewInvoice() (gateway.NewInvoice, error) {
	if q.AcceptanceWindow < 0 {
		return gateway.NewInvoice{}, &gateway.InputError{Field: "acceptanceWindow", Msg: "must not be negative"}
	}
	window := min(q.AcceptanceWindow, gateway.MaxWindow.Milliseconds())
	return gateway.NewInvoice{
		Price:    q.Price,
		Currency: q.Currency,
		Speed:    invoice.Speed(strings.ToLower(strings.TrimSpace(q.TransactionSpeed))),
		Window:   time.Duration(window) * time.Millisecond,
		Fields:   q.Fields,
	}, nil
}

// extraFields are the request fields kassa does not interpret but stores
// in Fields.Extra and echoes, under these names, in this order.
var extraFields = []string{
	"paymentCurrencies", "supportedTransactionCurrencies", "jsonPayProRequired", "bitpayIdRequired",
	"merchantName", "itemizedDetails", "buyerSms", "forcedBuyerSelectedWallet",
	"forcedBuyerSelectedTransactionCurrency", "selectedTransactionCurrency", "refundAddresses",
	"billId", "buyerProvidedInfo", "taxIncluded", "defaultPaymentMethod", "expirationTime",
}

// extraBools are the extra fields normalised to JSON booleans, and
// extraInts those normalised to JSON integers, so the renderer can copy
// them without guessing.
var (
	extraBools = map[string]bool{"jsonPayProRequired": true, "bitpayIdRequired": true}
	extraInts  = map[string]bool{"expirationTime": true}
)

// extraNames maps the lower-cased spelling to the canonical one.
var extraNames = func() map[string]string {
	m := make(map[string]string, len(extraFields))
	for _, f := range extraFields {
		m[strings.ToLower(f)] = f
	}
	return m
}()

// DecodeInvoiceRequest reads a POST /invoices body. Keys match without
// regard to case (orderId = orderID, notificationUrl = notificationURL);
// when a key repeats the last one wins. Unknown fields are ignored. A
// value of the wrong type fails with a *gateway.InputError naming the
// field; a body that is not a JSON object, or one without a price, fails
// with a 400 *bitpay.Error. Every error matches gateway.ErrInvalid. An
// accepted request always has a decimal Price.
func DecodeInvoiceRequest(body []byte) (InvoiceRequest, error) {
	var q InvoiceRequest
	var flat, nested invoice.Buyer
	var autoRedirect, redirectAuto bool
	extras := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) == 0 {
		return q, bitpay.BadRequest("missing request body")
	}
	err := eachMember(body, func(key string, val json.RawMessage) error {
		var err error
		lk := strings.ToLower(key)
		switch lk {
		case "token":
			q.Token, err = stringish(val)
		case "guid":
			q.GUID, err = stringish(val)
		case "sessionid":
			q.SessionID, err = stringish(val)
		case "requestnumber":
			q.RequestNumber, _, err = integerish(val)
		case "price":
			var n json.Number
			n, err = numberish(val)
			q.Price = n.String()
		case "currency":
			q.Currency, err = stringish(val)
		case "transactionspeed":
			q.TransactionSpeed, err = stringish(val)
		case "acceptancewindow":
			q.AcceptanceWindow, _, err = integerish(val)
			if err == nil && q.AcceptanceWindow < 0 {
				return &gateway.InputError{Field: "acceptanceWindow", Msg: "must not be negative"}
			}
		case "orderid":
			q.Fields.OrderID, err = stringish(val)
		case "itemdesc":
			q.Fields.ItemDesc, err = stringish(val)
		case "itemcode":
			q.Fields.ItemCode, err = stringish(val)
		case "posdata":
			q.Fields.PosData, err = jsonText(val)
		case "notificationurl":
			q.Fields.NotificationURL, err = stringish(val)
		case "notificationemail":
			q.Fields.NotificationEmail, err = stringish(val)
		case "redirecturl":
			q.Fields.RedirectURL, err = stringish(val)
		case "closeurl":
			q.Fields.CloseURL, err = stringish(val)
		case "autoredirect":
			autoRedirect, err = boolish(val)
		case "redirectautomatically":
			redirectAuto, err = boolish(val)
		case "fullnotifications":
			q.Fields.FullNotifications, err = boolish(val)
		case "extendednotifications":
			q.Fields.ExtendedNotifications, err = boolish(val)
		case "physical":
			q.Fields.Physical, err = boolish(val)
		case "buyer":
			nested, err = decodeBuyer(val)
			if err != nil {
				return err
			}
		default:
			if strings.HasPrefix(lk, "buyer") && setBuyerField(&flat, lk[len("buyer"):], val, &err) {
				break
			}
			if name, ok := extraNames[lk]; ok && !isNull(val) {
				extras[name] = val
			}
		}
		if err != nil {
			return &gateway.InputError{Field: key, Msg: err.Error()}
		}
		return nil
	})
	if err != nil {
		return InvoiceRequest{}, objectError(err)
	}
	if q.Price == "" {
		return InvoiceRequest{}, bitpay.MissingParam("price")
	}
	q.Fields.GUID = q.GUID
	q.Fields.AutoRedirect = autoRedirect || redirectAuto
	q.Fields.FullNotifications = q.Fields.FullNotifications || q.Fields.ExtendedNotifications
	q.Fields.Buyer = mergeBuyer(nested, flat)
	if q.Fields.Extra, err = encodeExtra(extras); err != nil {
		return InvoiceRequest{}, err
	}
	return q, nil
}

// objectError turns eachMember's whole-body failures into a 400 and
// passes field errors through.
func objectError(err error) error {
	switch err {
	case errNotObject:
		return bitpay.BadRequest("request body " + errNotObject.Error())
	case errBadJSON:
		return bitpay.BadRequest("request body " + errBadJSON.Error())
	}
	return err
}

// decodeBuyer reads the buyer object in BitPay's names (locality, region,
// postalCode) or NBitpayClient's and BTCPay's (city, state, zip).
func decodeBuyer(raw json.RawMessage) (invoice.Buyer, error) {
	var b invoice.Buyer
	err := eachMember(raw, func(key string, val json.RawMessage) error {
		var err error
		setBuyerField(&b, strings.ToLower(key), val, &err)
		if err != nil {
			return &gateway.InputError{Field: "buyer." + key, Msg: err.Error()}
		}
		return nil
	})
	if err == errNotObject || err == errBadJSON {
		return b, &gateway.InputError{Field: "buyer", Msg: err.Error()}
	}
	return b, err
}

// setBuyerField sets the buyer field named (lower case, without any
// "buyer" prefix) name, storing a type error in *err. It reports whether
// name is a buyer field at all.
func setBuyerField(b *invoice.Buyer, name string, val json.RawMessage, err *error) bool {
	var dst *string
	switch name {
	case "name":
		dst = &b.Name
	case "address1":
		dst = &b.Address1
	case "address2":
		dst = &b.Address2
	case "locality", "city":
		dst = &b.Locality
	case "region", "state":
		dst = &b.Region
	case "postalcode", "zip":
		dst = &b.PostalCode
	case "country":
		dst = &b.Country
	case "email":
		dst = &b.Email
	case "phone":
		dst = &b.Phone
	case "notify":
		b.Notify, *err = boolish(val)
		return true
	default:
		return false
	}
	*dst, *err = stringish(val)
	return true
}

// mergeBuyer fills what the buyer object left empty from the flat
// buyerName… fields.
func mergeBuyer(b, flat invoice.Buyer) invoice.Buyer {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&b.Name, flat.Name)
	fill(&b.Address1, flat.Address1)
	fill(&b.Address2, flat.Address2)
	fill(&b.Locality, flat.Locality)
	fill(&b.Region, flat.Region)
	fill(&b.PostalCode, flat.PostalCode)
	fill(&b.Country, flat.Country)
	fill(&b.Email, flat.Email)
	fill(&b.Phone, flat.Phone)
	b.Notify = b.Notify || flat.Notify
	return b
}

// encodeExtra writes the extra fields as one compact JSON object in
// extraFields order, or nil when there are none.
func encodeExtra(extras map[string]json.RawMessage) (json.RawMessage, error) {
	if len(extras) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for _, name := range extraFields {
		val, ok := extras[name]
		if !ok {
			continue
		}
		switch {
		case extraBools[name]:
			v, err := boolish(val)
			if err != nil {
				return nil, &gateway.InputError{Field: name, Msg: err.Error()}
			}
			val = json.RawMessage(fmt.Sprint(v))
		case extraInts[name]:
			n, _, err := integerish(val)
			if err != nil {
				return nil, &gateway.InputError{Field: name, Msg: err.Error()}
			}
			val = json.RawMessage(fmt.Sprint(n))
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		buf.Write(k)
		buf.WriteByte(':')
		if err := json.Compact(&buf, val); err != nil {
			return nil, &gateway.InputError{Field: name, Msg: "is not valid JSON"}
		}
	}
	buf.WriteByte('}')
	return json.RawMessage(buf.Bytes()), nil
}
