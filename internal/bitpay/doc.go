// Package bitpay is BitPay's wire format: resource JSON, the error envelope
// and its codes; shared by api, notify and web.
//
// What a BitPay client reads is decided here, once: the invoice as GET
// /invoices/:id, an IPN body and the checkout page show it (RenderInvoice,
// in one of three views), the success envelope {"facade","data"}
// (WriteData) and the error envelope with its six-digit code (Error,
// AsError, WriteError). Routing, authentication and logging stay at the
// HTTP edge, in api.
package bitpay
