package client

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrNoKey is returned by calls that need a Key (pairing, listing tokens)
// when the client has none.
var ErrNoKey = errors.New("bitpay: client has no key")

// ErrNoToken is returned when a call needs a token for a facade the client
// was not given with WithToken.
var ErrNoToken = errors.New("bitpay: no token for facade")

// ErrInvalidResponse is returned when the server answers with something that
// is not a BitPay envelope of the expected shape.
var ErrInvalidResponse = errors.New("bitpay: invalid response")

// APIError is an error reported by the server in BitPay's error envelope
// (spec §0.6), or an HTTP error status without one.
type APIError struct {
	// Status is the HTTP status code of the response.
	Status int
	// Code is BitPay's six-digit error code ("020101"), empty when the server
	// sent none.
	Code string
	// Message is the server's error text, e.g. "Object not found".
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("bitpay: %s (HTTP %d, code %s)", msg, e.Status, e.Code)
	}
	return fmt.Sprintf("bitpay: %s (HTTP %d)", msg, e.Status)
}

// NotFound reports whether the error means the resource does not exist: an
// HTTP 404, BitPay's "Object not found" text, or a six-digit code ending in
// 01 (generic, invoice and refund "not found", spec §0.6).
func (e *APIError) NotFound() bool {
	if e.Status == http.StatusNotFound || e.Message == "Object not found" {
		return true
	}
	return len(e.Code) == 6 && e.Code[4:] == "01"
}

// IsNotFound reports whether err, or an error it wraps, is an *APIError
// meaning the resource does not exist.
func IsNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.NotFound()
}
