// Package sample makes demo and benchmark data: a deterministic series
// of plausible invoices that tests, benchmarks and load tools seed a
// database with (store.DB.SeedInvoices inserts them in bulk). Nothing in
// a running kassa uses it.
package sample

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// products and variants make Invoice's item
// descriptions: 40 products in 25 variants, 1000 descriptions.
var (
	products = []string{"Blue T-shirt", "Red T-shirt", "Hoodie", "Coffee beans 250 g", "Coffee beans 1 kg",
		"Espresso cup", "Notebook A5", "Sticker pack", "Hardware wallet", "Seed backup plate", "Node in a box",
		"Conference ticket", "Workshop seat", "E-book: Mastering Bitcoin", "Monthly membership",
		"Yearly membership", "Donation", "Gift card 25", "Gift card 100", "Tip", "Consulting hour",
		"Shipping", "Pizza", "Lunch menu", "Beer", "Room night", "Bike rental", "Phone case", "USB cable",
		"Poster", "Mug", "Cap", "Socks", "Backpack", "Water bottle", "Pen", "Keychain", "Tea", "Chocolate", "Cake"}
	variants = []string{"XS", "S", "M", "L", "XL", "black", "white", "green", "gold", "silver", "small",
		"medium", "large", "single", "double", "pack of 3", "pack of 10", "2025 edition", "2026 edition", "deluxe",
		"basic", "pro", "kids", "limited", "refill"}
)

// Invoice fills inv with the i-th of a deterministic series of
// plausible invoices of a store (ids excepted, which are random), created
// step apart from start: 55 % expired, 25 % complete, 5 % each confirmed,
// paid and new, 2 % invalid, 1 % declined, 2 % expired after a partial
// payment; USD, EUR or CHF prices; a txid per payment; one of 1000 item
// descriptions; buyer emails buyerNNNNN@example.com, each shared by every
// 20,000th invoice; order ids order-NNNNNNN.
func Invoice(storeID string, start time.Time, step time.Duration, i int, inv *invoice.Invoice) {
	h := uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	created := start.Add(time.Duration(i) * step).UTC().Truncate(time.Millisecond)
	cur, rate := "USD", decimal.New(6543210, -2)
	switch h % 20 {
	case 0, 1, 2, 3, 4:
		cur, rate = "EUR", decimal.New(6012345, -2)
	case 5:
		cur, rate = "CHF", decimal.New(5876543, -2)
	}
	price := decimal.New(int64(100+(h>>8)%99_900), -2)
	due, _ := money.BTCDue(price, rate)
	*inv = invoice.Invoice{
		ID: auth.NewID(), StoreID: storeID, Token: auth.NewID(),
		Status: invoice.StatusExpired, Speed: invoice.SpeedMedium,
		Price: price, Currency: cur,
		Methods: []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: rate, Due: due,
			Destination: fmt.Sprintf("bcrt1qsample%010d", i), Script: []byte{0x00, 0x14, byte(i >> 8), byte(i)},
			KeyIndex: uint32(i)}},
		CreatedAt: created, ExpiresAt: created.Add(15 * time.Minute),
		UpdatedAt: created.Add(15 * time.Minute), Version: 1,
		Fields: invoice.Fields{
			OrderID:         fmt.Sprintf("order-%07d", i),
			ItemDesc:        products[(h>>20)%40] + ", " + variants[(h>>26)%25],
			NotificationURL: "https://shop.example.com/ipn",
			Buyer:           invoice.Buyer{Email: fmt.Sprintf("buyer%05d@example.com", i%20_000)},
		},
	}
	pay := func(amount money.Sats, height int32) {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		inv.Payments = append(inv.Payments, invoice.Payment{Method: invoice.MethodBTC, TxID: hex.EncodeToString(sum[:]), Amount: amount,
			Height: height, SeenAt: created.Add(2 * time.Minute)})
		inv.UpdatedAt = created.Add(2 * time.Minute)
	}
	switch p := (h >> 40) % 100; {
	case p < 55:
	case p < 80:
		inv.Status = invoice.StatusComplete
		pay(due, 800_000+int32(i%100_000))
	case p < 85:
		inv.Status = invoice.StatusConfirmed
		pay(due, 800_000+int32(i%100_000))
	case p < 90:
		inv.Status = invoice.StatusPaid
		pay(due, 0)
	case p < 95:
		inv.Status = invoice.StatusNew
	case p < 97:
		inv.Status = invoice.StatusInvalid
		pay(due, 0)
	case p < 98:
		inv.Status = invoice.StatusDeclined
	default:
		inv.Exception = invoice.ExceptionPaidPartial
		pay(due/2, 800_000+int32(i%100_000))
	}
	if len(inv.Payments) > 0 && inv.Status != invoice.StatusExpired {
		inv.PaidAt = inv.Payments[0].SeenAt
	}
}
