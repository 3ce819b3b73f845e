package esplora

import (
	"context"
	"fmt"
	"net/url"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// Outspend says whether a transaction output is spent, and by what: the
// spending transaction, its input and its status.
type Outspend struct {
	Spent  bool   `json:"spent"`
	TxID   string `json:"txid"`
	Vin    uint32 `json:"vin"`
	Status Status `json:"status"`
}

// check refuses a spend without a spender or with a status no server
// sends.
func (o Outspend) check() error {
	if !o.Spent {
		return nil
	}
	if _, err := chainhash.NewHashFromStr(o.TxID); err != nil || len(o.TxID) != 2*chainhash.HashSize {
		return fmt.Errorf("spent by %q", snippet([]byte(o.TxID)))
	}
	return o.Status.check()
}

// Outspends returns the spend status of every output of a transaction, in
// output order (GET /tx/:txid/outspends); ErrNotFound when the server
// knows the transaction neither in the chain nor in the mempool. One
// request covers all of a transaction's coins.
func (c *Client) Outspends(ctx context.Context, txid string) ([]Outspend, error) {
	var out []Outspend
	if err := c.getJSON(ctx, "/tx/"+url.PathEscape(txid)+"/outspends", &out); err != nil {
		return nil, err
	}
	for i, o := range out {
		if err := o.check(); err != nil {
			return nil, fmt.Errorf("esplora: tx %s output %d: %w", snippet([]byte(txid)), i, err)
		}
	}
	return out, nil
}
