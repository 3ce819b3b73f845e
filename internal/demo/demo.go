// Package demo serves the regtest demo's wallet actions: the checkout's
// "Pay with demo wallet" and "Mine a block" buttons and `kassa demo pay`
// and `kassa demo mine` post to these routes.
package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// Register serves POST /demo/pay (form fields invoice and, optionally,
// btc: what the node's wallet pays, by default what is still due; answers
// the txid) and POST /demo/mine (blocks, 1 to 200; answers the block
// hashes as JSON) on node.
func Register(mux *http.ServeMux, db *store.DB, node *regtest.Node) {
	mux.HandleFunc("POST /demo/pay", func(w http.ResponseWriter, r *http.Request) {
		inv, err := db.GetInvoice(r.Context(), r.FormValue("invoice"))
		if errors.Is(err, store.ErrNotFound) {
			http.Error(w, "no such invoice", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		amount := inv.Remaining()
		if s := r.FormValue("btc"); s != "" {
			if amount, err = money.ParseBTC(s); err != nil || amount <= 0 {
				http.Error(w, "bad amount", http.StatusBadRequest)
				return
			}
		}
		if amount <= 0 {
			http.Error(w, "the invoice is already paid in full; pass btc= to pay more", http.StatusConflict)
			return
		}
		txid, err := node.Wallet().Pay(r.Context(), inv.Bound().Destination, amount)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s\n", txid)
	})
	mux.HandleFunc("POST /demo/mine", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.FormValue("blocks"))
		if err != nil || n < 1 || n > 200 {
			n = 1
		}
		hashes, err := node.Mine(r.Context(), n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(hashes)
	})
}
