// Package api speaks BitPay's merchant API: the handlers of the v2, 2014
// and legacy v0.3 routes, BitAuth and tokens, invoice limits and the event
// stream. What the answers look like on the wire (resource JSON, the
// envelopes and their codes) is package bitpay's.
package api
