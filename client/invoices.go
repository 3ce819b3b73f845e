package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// createInvoiceBody is an InvoiceRequest with the facade token appended, as
// the SDKs send it.
type createInvoiceBody struct {
	InvoiceRequest
	Token string `json:"token"`
}

// tokenBody is a body that carries only a token.
type tokenBody struct {
	Token string `json:"token"`
}

// CreateInvoice creates an invoice with the token of facade ("pos" or
// "merchant"). The request is signed when the client has a key; a bearer
// pos token works without one.
func (c *Client) CreateInvoice(ctx context.Context, facade string, req InvoiceRequest) (*Invoice, error) {
	tok, err := c.token(facade)
	if err != nil {
		return nil, fmt.Errorf("create invoice: %w", err)
	}
	var inv Invoice
	r := request{
		method: http.MethodPost,
		path:   "/invoices",
		body:   createInvoiceBody{InvoiceRequest: req, Token: tok},
		sign:   c.key != nil,
	}
	if err := c.do(ctx, r, &inv); err != nil {
		return nil, fmt.Errorf("create invoice: %w", err)
	}
	return &inv, nil
}

// Invoice fetches an invoice by id. With facade "" (FacadePublic) the
// request carries no token and no signature and returns the public view;
// otherwise it uses that facade's token.
func (c *Client) Invoice(ctx context.Context, facade, id string) (*Invoice, error) {
	inv, err := c.getInvoice(ctx, facade, "/invoices/"+url.PathEscape(id))
	if err != nil {
		return nil, fmt.Errorf("get invoice %s: %w", id, err)
	}
	return inv, nil
}

// InvoiceByGUID fetches the invoice created with guid, using facade's token.
func (c *Client) InvoiceByGUID(ctx context.Context, facade, guid string) (*Invoice, error) {
	if facade == FacadePublic {
		return nil, fmt.Errorf("get invoice by guid %s: %w %q", guid, ErrNoToken, facade)
	}
	inv, err := c.getInvoice(ctx, facade, "/invoices/guid/"+url.PathEscape(guid))
	if err != nil {
		return nil, fmt.Errorf("get invoice by guid %s: %w", guid, err)
	}
	return inv, nil
}

// getInvoice GETs one invoice at path with facade's token, if any.
func (c *Client) getInvoice(ctx context.Context, facade, path string) (*Invoice, error) {
	r := request{method: http.MethodGet, path: path}
	if facade != FacadePublic {
		tok, err := c.token(facade)
		if err != nil {
			return nil, err
		}
		r.query = []param{{"token", tok}}
		r.sign = c.key != nil
	}
	var inv Invoice
	if err := c.do(ctx, r, &inv); err != nil {
		return nil, err
	}
	return &inv, nil
}

// Filter selects invoices for Invoices. Zero fields are not sent.
type Filter struct {
	// DateStart and DateEnd bound the invoice creation date, inclusive; only
	// the calendar date (YYYY-MM-DD, in the time's location) is sent.
	DateStart, DateEnd time.Time
	Status             Status
	OrderID            string
	Limit, Offset      int
}

// query renders the filter in the SDKs' parameter order.
func (f Filter) query() []param {
	var q []param
	if !f.DateStart.IsZero() {
		q = append(q, param{"dateStart", f.DateStart.Format(time.DateOnly)})
	}
	if !f.DateEnd.IsZero() {
		q = append(q, param{"dateEnd", f.DateEnd.Format(time.DateOnly)})
	}
	if f.Status != "" {
		q = append(q, param{"status", string(f.Status)})
	}
	if f.OrderID != "" {
		q = append(q, param{"orderId", f.OrderID})
	}
	if f.Limit > 0 {
		q = append(q, param{"limit", strconv.Itoa(f.Limit)})
	}
	if f.Offset > 0 {
		q = append(q, param{"offset", strconv.Itoa(f.Offset)})
	}
	return q
}

// Invoices lists the merchant's invoices matching f (merchant facade).
func (c *Client) Invoices(ctx context.Context, f Filter) ([]Invoice, error) {
	tok, err := c.token(FacadeMerchant)
	if err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	r := request{
		method: http.MethodGet,
		path:   "/invoices",
		query:  append(f.query(), param{"token", tok}),
		sign:   c.key != nil,
	}
	var list []Invoice
	if err := c.do(ctx, r, &list); err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	return list, nil
}

// CancelInvoice cancels an unpaid invoice (merchant facade) and returns it
// as the server reports it afterwards.
func (c *Client) CancelInvoice(ctx context.Context, id string) (*Invoice, error) {
	tok, err := c.token(FacadeMerchant)
	if err != nil {
		return nil, fmt.Errorf("cancel invoice %s: %w", id, err)
	}
	r := request{
		method: http.MethodDelete,
		path:   "/invoices/" + url.PathEscape(id),
		query:  []param{{"token", tok}},
		sign:   c.key != nil,
	}
	var inv Invoice
	if err := c.do(ctx, r, &inv); err != nil {
		return nil, fmt.Errorf("cancel invoice %s: %w", id, err)
	}
	return &inv, nil
}

// ResendNotification asks the server to send the invoice's latest IPN
// again (merchant facade; event 1012).
func (c *Client) ResendNotification(ctx context.Context, id string) error {
	tok, err := c.token(FacadeMerchant)
	if err != nil {
		return fmt.Errorf("resend notification for invoice %s: %w", id, err)
	}
	r := request{
		method: http.MethodPost,
		path:   "/invoices/" + url.PathEscape(id) + "/notifications",
		body:   tokenBody{Token: tok},
		sign:   c.key != nil,
	}
	if err := c.do(ctx, r, nil); err != nil {
		return fmt.Errorf("resend notification for invoice %s: %w", id, err)
	}
	return nil
}
