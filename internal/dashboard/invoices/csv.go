package invoices

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/store"
)

// csvHeader is the first line of the invoice export, and names its
// columns.
var csvHeader = []string{"id", "created", "status", "exception", "price", "currency", "btc_due", "btc_paid",
	"order_id", "item", "buyer_email", "txids"}

// invoiceSource is what the export reads invoices from; *store.DB
// implements it.
type invoiceSource interface {
	// EachInvoice calls fn with each of a store's invoices created in
	// [from, to) (zero times leave that end open), oldest first, without
	// holding them all, and stops at fn's first error.
	EachInvoice(ctx context.Context, storeID string, from, to time.Time, fn func(*store.Listed) error) error
}

// writeCSV writes a store's invoices created in [from, to) (zero times
// leave that end open) to w as CSV, oldest first, under csvHeader, and
// returns how many it wrote. Each invoice is written as it is read, and w
// gets what is written every store.InvoiceChunk invoices, so memory does
// not grow with the number of invoices and a long export streams. BTC
// amounts are decimal text from satoshis, created is RFC 3339 in UTC with
// milliseconds, txids are the live payments' transaction ids separated by
// spaces. Text a buyer or merchant chose that a spreadsheet would run as a
// formula (it starts with = + - @ or a tab or carriage return) is
// prefixed with a quote.
func writeCSV(ctx context.Context, w io.Writer, src invoiceSource, storeID string, from, to time.Time) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return 0, fmt.Errorf("export invoices of store %s: %w", storeID, err)
	}
	var (
		n     int
		rec   = make([]string, len(csvHeader))
		txids []string
	)
	err := src.EachInvoice(ctx, storeID, from, to, func(inv *store.Listed) error {
		txids = txids[:0]
		for _, p := range inv.Payments {
			if !p.Removed && !slices.Contains(txids, p.TxID) {
				txids = append(txids, p.TxID)
			}
		}
		rec[0] = inv.ID
		rec[1] = inv.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		rec[2] = string(inv.Status)
		rec[3] = string(inv.Exception)
		rec[4] = inv.Price.String()
		rec[5] = inv.Currency
		rec[6] = inv.Due.BTC()
		rec[7] = inv.Paid().BTC()
		rec[8] = csvText(inv.Fields.OrderID)
		rec[9] = csvText(inv.Fields.ItemDesc)
		rec[10] = csvText(inv.Fields.Buyer.Email)
		rec[11] = strings.Join(txids, " ")
		if err := cw.Write(rec); err != nil {
			return err
		}
		n++
		if n%store.InvoiceChunk == 0 {
			cw.Flush()
			return cw.Error()
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("export invoices of store %s: %w", storeID, err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("export invoices of store %s: write: %w", storeID, err)
	}
	return n, nil
}

// csvText defuses text a spreadsheet would evaluate as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
