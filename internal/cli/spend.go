package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kassa-pay/kassa/internal/chain/esplora"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// spendJSON is a spend as kassa spend list prints it.
type spendJSON struct {
	ID        string         `json:"id"`
	Kind      spend.Kind     `json:"kind"`
	SubjectID string         `json:"subjectId"`
	Status    spend.Status   `json:"status"`
	Outputs   []spend.Output `json:"outputs"`
	Inputs    int            `json:"inputs"`
	Change    money.Sats     `json:"change"`
	Fee       money.Sats     `json:"fee"`
	FeeRate   money.Sats     `json:"feeRate"`
	TxID      string         `json:"txid,omitempty"`
	Height    int32          `json:"height,omitempty"`
	Failed    string         `json:"failReason,omitempty"`
}

// maxUpload bounds what spend submit reads from stdin.
const maxUpload = wallet.MaxUploadBytes

func runSpend(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "spend", map[string]string{
		"list":   "list a store's open spends as JSON (--store ID; --all for every status)",
		"psbt":   "print a spend's unsigned PSBT in base64 for the merchant's wallet to sign (spend psbt ID)",
		"submit": "read the signed PSBT (base64, hex) or raw transaction (hex) on stdin, check, record and send it; print the txid",
		"bump":   "raise the fee of a sent, unconfirmed spend (--fee-rate SAT_PER_VB) and print the replacement's PSBT to sign",
	})
	if err != nil {
		return err
	}
	fs, resolve := flagSet(env, "spend "+sub, "spend "+sub+" [flags] [SPEND_ID]")
	storeID := fs.String("store", "", "store id (list)")
	all := fs.Bool("all", false, "every spend, not only open ones (list)")
	rate := fs.Int64("fee-rate", 0, "the new fee rate in sat/vB (bump)")
	cfg, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "list" {
		st, err := requireStore(ctx, db, *storeID)
		if err != nil {
			return err
		}
		return listSpends(ctx, env, db, st.ID, *all)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: kassa spend %s SPEND_ID", ErrUsage, sub)
	}
	eng, err := cliEngine(cfg, db, env.Getenv(FaultKillEnv))
	if err != nil {
		return err
	}
	switch sub {
	case "psbt":
		s, err := eng.PSBT(ctx, fs.Arg(0))
		if err != nil {
			return spendErr(fs.Arg(0), err)
		}
		_, err = fmt.Fprintln(env.Stdout, base64.StdEncoding.EncodeToString(s.ToSign()))
		return err
	case "bump":
		if *rate <= 0 {
			return fmt.Errorf("%w: kassa spend bump --fee-rate SAT_PER_VB %s", ErrUsage, fs.Arg(0))
		}
		s, err := eng.Bump(ctx, fs.Arg(0), money.Sats(*rate))
		if err != nil {
			return spendErr(fs.Arg(0), err)
		}
		fmt.Fprintf(env.Stderr, "fee %d sats at %d sat/vB (was %d); sign this PSBT and submit it: kassa spend submit %s\n",
			s.Bump.Fee, s.Bump.FeeRate, s.Fee, s.ID)
		_, err = fmt.Fprintln(env.Stdout, base64.StdEncoding.EncodeToString(s.ToSign()))
		return err
	default: // submit
		upload, err := io.ReadAll(io.LimitReader(stdin, maxUpload+1))
		if err != nil {
			return fmt.Errorf("read the signed spend from stdin: %w", err)
		}
		if len(upload) > maxUpload {
			return fmt.Errorf("the upload is larger than %d bytes: not a PSBT kassa made", maxUpload)
		}
		if strings.TrimSpace(string(upload)) == "" {
			return fmt.Errorf("%w: pipe the signed PSBT or transaction into kassa spend submit %s", ErrUsage, fs.Arg(0))
		}
		s, err := eng.Submit(ctx, fs.Arg(0), upload)
		if err != nil {
			return spendErr(fs.Arg(0), err)
		}
		if s.Status == spend.StatusSigned {
			fmt.Fprintln(env.Stderr, "recorded; the node did not take it yet: kassa serve sends it again")
		}
		_, err = fmt.Fprintln(env.Stdout, s.TxID)
		return err
	}
}

// FaultKillEnv names kassa's fault-injection point for the chaos harness
// (test/chaos): set to spender.FaultRecorded or spender.FaultSent, it
// makes `kassa spend submit` kill itself with SIGKILL at that point of
// the submit, between recording the signed spend and sending it, or
// between sending it and recording that it was sent. Unset, it does
// nothing.
const FaultKillEnv = "KASSA_FAULT_KILL"

// cliEngine is a spend engine for one command: it sends to the configured
// backend. The serving node's engine registers new change addresses with
// its watcher on its next round. killAt is FaultKillEnv's value.
func cliEngine(cfg *config.Config, db *store.DB, killAt string) (*spender.Engine, error) {
	client, rejected, err := spendChain(cfg.Chain)
	if err != nil {
		return nil, err
	}
	var fault func(string)
	if killAt != "" {
		fault = func(point string) {
			if point == killAt {
				p, _ := os.FindProcess(os.Getpid())
				_ = p.Signal(os.Kill)
				select {} // the signal is on its way
			}
		}
	}
	return spender.New(spender.Config{Store: db, Chain: client, Rejected: rejected, Fault: fault}), nil
}

func spendErr(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no spend with id %q", id)
	}
	return err
}

func listSpends(ctx context.Context, env Env, db *store.DB, storeID string, all bool) error {
	statuses := []spend.Status{spend.StatusUnsigned, spend.StatusSigned, spend.StatusBroadcast, spend.StatusConfirmed}
	if all {
		statuses = nil
	}
	list, err := db.Spends(ctx, storeID, statuses...)
	if err != nil {
		return err
	}
	out := make([]spendJSON, 0, len(list))
	for _, s := range list {
		out = append(out, spendJSON{ID: s.ID, Kind: s.Kind, SubjectID: s.SubjectID, Status: s.Status, Outputs: s.Outputs,
			Inputs: len(s.Inputs), Change: s.Change, Fee: s.Fee, FeeRate: s.FeeRate, TxID: s.TxID, Height: s.Height,
			Failed: s.FailReason})
	}
	return printJSON(env, out)
}

// spendChain returns what the spend engine sends transactions to and asks
// fee rates of for the backend KASSA_CHAIN names (a node's RPC or an
// Esplora server), and the error its SendTx wraps when the backend refuses
// a transaction (spender.Config.Rejected).
func spendChain(raw string) (client spender.Chain, rejected error, err error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	switch scheme {
	case "rpc", "rpcs", "http", "https":
		c, err := rpc.New(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("KASSA_CHAIN: %w", err)
		}
		return c, rpc.ErrTxRejected, nil
	case "esplora+http", "esplora+https":
		c, err := esplora.New(strings.TrimPrefix(scheme, "esplora+") + "://" + rest)
		if err != nil {
			return nil, nil, fmt.Errorf("KASSA_CHAIN: %w", err)
		}
		return c, esplora.ErrTxRejected, nil
	}
	return nil, nil, fmt.Errorf("KASSA_CHAIN %q: want rpc://user:pass@host:port or esplora+https://host/api", scheme+"://…")
}
