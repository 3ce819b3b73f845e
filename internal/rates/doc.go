// Package rates supplies bitcoin exchange rates (fiat per BTC) to the rest of
// kassa from memory, so that pricing an invoice never waits on the network.
//
// A Provider fetches rates from one source: a fixed table from configuration
// (Fixed) or a public exchange API (Kraken, Coinbase, Bitstamp, CoinGecko).
// Rates are decimals from end to end; JSON numbers are decoded as
// json.Number or from strings, never as float64.
//
// The Rates service keeps each provider's last good answer with the time it
// arrived. Rate reports, for one currency, the median of the answers that are
// younger than the staleness limit; with an even number of answers it is the
// mean of the two middle ones, rounded to 8 decimals. Refresh asks every
// provider once, concurrently and each under its own timeout; Run calls it on
// a ticker in one background goroutine. A provider that fails or hangs only
// ages its own answers: readers never wait for a fetch, and the other
// providers' answers keep being used.
//
// # Configuration grammar
//
// Parse reads the KASSA_RATES setting:
//
//	spec  = entry { sep entry }
//	sep   = "," | ";"
//	entry = name | "fixed:" pairs
//	name  = "kraken" | "coinbase" | "bitstamp" | "coingecko"
//	pairs = "BTC_" code "=" decimal { "," "BTC_" code "=" decimal }
//
// Names are case-insensitive and blanks around entries are ignored. A
// "fixed:" entry takes everything up to the next ";" (or the end of the
// string), commas included, so a fixed table is best written last or ended
// with ";". These are equivalent:
//
//	kraken,coinbase,fixed:BTC_USD=50000,BTC_EUR=45000
//	fixed:BTC_USD=50000,BTC_EUR=45000;kraken;coinbase
//
// Each provider may appear once.
package rates
