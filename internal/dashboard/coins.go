package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Coins reads the stores' coins, which the chain watcher keeps; *store.DB
// implements it.
type Coins interface {
	// Coins returns a store's coins that pass filter (store.CoinsUnspent:
	// those no transaction spends, not even one in the mempool;
	// store.CoinsAll), oldest seen first.
	Coins(ctx context.Context, storeID string, filter store.CoinFilter) ([]store.Coin, error)
	// ProcessedTip is the height of the last block the watcher processed:
	// confirmations count from it.
	ProcessedTip(ctx context.Context) (int32, error)
}

// coinRow is a coin as the coins page lists it.
type coinRow struct {
	TxID       string
	Vout       uint32
	Amount     money.Sats
	Address    string // "" for a script kassa cannot name
	Change     bool   // on the key's change branch
	Index      uint32
	Height     int32
	Confs      int32
	InvoiceURL string // the invoice it paid, "" for none
	InvoiceID  string
	SpentBy    string
	SpentAt    int32 // the spending transaction's block, 0 in the mempool
	Seen       time.Time
}

// coinsData is the coins page's data.
type coinsData struct {
	All  bool
	Rows []coinRow
	// Confirmed and Unconfirmed are the unspent coins' sums: the store's
	// balance.
	Confirmed, Unconfirmed money.Sats
	Tip                    int32
}

// coinsPage lists a store's coins: GET …/coins, unspent ones (?all=1 for
// every coin the store has had), with the balance.
func (s *Server) coinsPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	ctx := r.Context()
	d := coinsData{All: r.URL.Query().Get("all") == "1"}
	filter := store.CoinsUnspent
	if d.All {
		filter = store.CoinsAll
	}
	coins, err := s.cfg.Coins.Coins(ctx, v.StoreID, filter)
	if err != nil {
		s.serverError(w, r, "list coins", err)
		return
	}
	if d.Tip, err = s.cfg.Coins.ProcessedTip(ctx); err != nil {
		s.serverError(w, r, "chain tip", err)
		return
	}
	invoices := s.base + storePath(v.StoreID, "/invoices/")
	for _, c := range coins {
		row := coinRow{TxID: c.TxID, Vout: c.Vout, Amount: c.Amount, Change: c.Branch == 1, Index: c.Index,
			Height: c.Height, InvoiceID: c.InvoiceID, SpentBy: c.SpentBy, SpentAt: c.SpentHeight, Seen: c.SeenAt}
		if a, err := wallet.AddressForScript(c.Script, v.Store.Network); err == nil {
			row.Address = a
		}
		if c.Height > 0 && d.Tip >= c.Height {
			row.Confs = d.Tip - c.Height + 1
		}
		if c.InvoiceID != "" {
			row.InvoiceURL = invoices + url.PathEscape(c.InvoiceID)
		}
		switch {
		case c.SpentBy != "":
		case row.Confs > 0:
			d.Confirmed += c.Amount
		default:
			d.Unconfirmed += c.Amount
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, http.StatusOK, "Coins", "coins", view{D: d})
}
