package cli

import (
	"context"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// coinJSON is a coin as kassa coins prints it.
type coinJSON struct {
	TxID          string     `json:"txid"`
	Vout          uint32     `json:"vout"`
	Amount        money.Sats `json:"amount"`
	Address       string     `json:"address"`
	Branch        uint32     `json:"branch"`
	Index         uint32     `json:"index"`
	Height        int32      `json:"height"`
	Confirmations int32      `json:"confirmations"`
	InvoiceID     string     `json:"invoiceId"`
	SpentBy       string     `json:"spentBy"`
	SpentHeight   int32      `json:"spentHeight"`
}

func runCoins(ctx context.Context, env Env, args []string) error {
	fs, resolve := flagSet(env, "coins", "coins --store ID [--all]")
	storeID := fs.String("store", "", "store id (required)")
	all := fs.Bool("all", false, "spent coins too")
	_, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := requireStore(ctx, db, *storeID)
	if err != nil {
		return err
	}
	filter := store.CoinsUnspent
	if *all {
		filter = store.CoinsAll
	}
	coins, err := db.Coins(ctx, st.ID, filter)
	if err != nil {
		return err
	}
	tip := chainTip(ctx, db)
	out := make([]coinJSON, 0, len(coins))
	for _, c := range coins {
		addr, err := wallet.AddressForScript(c.Script, st.Network)
		if err != nil {
			return err
		}
		j := coinJSON{TxID: c.TxID, Vout: c.Vout, Amount: c.Amount, Address: addr, Branch: c.Branch, Index: c.Index,
			Height: c.Height, InvoiceID: c.InvoiceID, SpentBy: c.SpentBy, SpentHeight: c.SpentHeight}
		if c.Height > 0 && tip >= c.Height {
			j.Confirmations = tip - c.Height + 1
		}
		out = append(out, j)
	}
	return printJSON(env, out)
}
