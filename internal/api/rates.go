package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/money"
)

// rateJSON is one rate in BitPay's shape: {code, name, rate}.
type rateJSON struct {
	Code string      `json:"code"`
	Name string      `json:"name"`
	Rate json.Number `json:"rate"`
}

// rateList returns BTC's rates, BTC itself first, then by code.
func (s *Server) rateList() []rateJSON {
	all := s.cfg.Rates.All()
	out := []rateJSON{{Code: "BTC", Name: "Bitcoin", Rate: "1"}}
	codes := make([]string, 0, len(all))
	for c := range all {
		if c != "BTC" {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	for _, c := range codes {
		name := c
		if cur, ok := money.LookupCurrency(c); ok {
			name = cur.Name
		}
		out = append(out, rateJSON{Code: c, Name: name, Rate: json.Number(all[c].String())})
	}
	return out
}

// baseSupported reports whether kassa has rates for a base currency.
func baseSupported(base string) bool { return base == "" || strings.EqualFold(base, "BTC") }

// rates serves GET /rates and GET /rates/:base (public facade).
func (s *Server) rates(w http.ResponseWriter, r *http.Request) {
	if !baseSupported(r.PathValue("base")) {
		WriteError(w, r, bitpay.NotFound())
		return
	}
	bitpay.WriteData(w, http.StatusOK, "", s.rateList())
}

// rate serves GET /rates/:base/:currency.
func (s *Server) rate(w http.ResponseWriter, r *http.Request) {
	if !baseSupported(r.PathValue("base")) {
		WriteError(w, r, bitpay.NotFound())
		return
	}
	code := strings.ToUpper(r.PathValue("currency"))
	for _, rt := range s.rateList() {
		if rt.Code == code {
			bitpay.WriteData(w, http.StatusOK, "", rt)
			return
		}
	}
	WriteError(w, r, bitpay.NotFound())
}

// legacyRates serves the 2012 API's /api/rates[/:code] and
// /api/rates/:base/:code: no envelope, codes case-insensitive.
func (s *Server) legacyRates(w http.ResponseWriter, r *http.Request) {
	if !baseSupported(r.PathValue("base")) {
		WriteError(w, r, bitpay.NotFound())
		return
	}
	list := s.rateList()
	w.Header().Set("Content-Type", "application/json")
	code := strings.ToUpper(r.PathValue("code"))
	if code == "" {
		_ = json.NewEncoder(w).Encode(list)
		return
	}
	for _, rt := range list {
		if rt.Code == code {
			_ = json.NewEncoder(w).Encode(rt)
			return
		}
	}
	WriteError(w, r, bitpay.NotFound())
}

// currencyJSON is a currency in BitPay's shape.
type currencyJSON struct {
	Code      string `json:"code"`
	Symbol    string `json:"symbol"`
	Precision int32  `json:"precision"`
	Name      string `json:"name"`
	Plural    string `json:"plural"`
	Alts      string `json:"alts"`
	// Minimum is a JSON number: BitPay's own schema (the SDK's
	// Currency.zod.js) rejects a string.
	Minimum        json.Number `json:"minimum"`
	Sanctioned     bool        `json:"sanctioned"`
	Decimals       int32       `json:"decimals"`
	Chain          string      `json:"chain,omitempty"`
	PayoutFields   []string    `json:"payoutFields"`
	ExchangePctFee int         `json:"exchangePctFee"`
	PayoutEnabled  bool        `json:"payoutEnabled"`
}

// currencies serves GET /currencies (public facade).
func (s *Server) currencies(w http.ResponseWriter, r *http.Request) {
	out := []currencyJSON{}
	for _, c := range money.Currencies() {
		j := currencyJSON{Code: c.Code, Symbol: c.Symbol, Precision: c.Precision, Name: c.Name, Plural: c.Name,
			Alts: strings.ToLower(c.Code), Minimum: "0.01", Decimals: c.Precision, PayoutFields: []string{}}
		if c.Code == "BTC" {
			j.Chain, j.Minimum, j.Plural, j.Alts = "BTC", "0.00000001", "Bitcoin", "btc bitcoin"
		} else if c.Precision == 0 {
			j.Minimum = "1"
		} else if c.Precision == 3 {
			j.Minimum = "0.001"
		}
		out = append(out, j)
	}
	bitpay.WriteData(w, http.StatusOK, "", out)
}
