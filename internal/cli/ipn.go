package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
)

// runIPN shows an invoice's notification deliveries and their attempts,
// and turns a store's signed IPNs on or off.
func runIPN(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "ipn", map[string]string{
		"list":     "list an invoice's notifications (IPNs and mails) with their state, as JSON",
		"attempts": "list every delivery attempt of an invoice's notifications, as JSON",
		"sign":     "sign a store's IPNs (x-signature: HMAC-SHA256 keyed with its merchant token); --off to stop",
	})
	if err != nil {
		return err
	}
	fs, resolve := flagSet(env, "ipn "+sub, "ipn "+sub+" [flags]")
	invoiceID := fs.String("invoice", "", "invoice id (list, attempts)")
	storeID := fs.String("store", "", "store id (sign)")
	off := fs.Bool("off", false, "turn signing off (sign)")
	_, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "sign" {
		if _, err := requireStore(ctx, db, *storeID); err != nil {
			return err
		}
		if err := db.SetStoreSignIPN(ctx, *storeID, !*off); err != nil {
			return err
		}
		if *off {
			fmt.Fprintf(env.Stderr, "store %s sends unsigned IPNs\n", *storeID)
			return nil
		}
		toks, err := db.ListTokens(ctx, *storeID)
		if err != nil {
			return err
		}
		if tok, _ := notify.SigningToken(toks, ""); tok.Value == "" {
			fmt.Fprintf(env.Stderr, "warning: store %s has no active merchant or pos token to sign with: its IPNs fail until it has one\n", *storeID)
		}
		fmt.Fprintf(env.Stderr, "store %s signs its IPNs: x-signature is base64(HMAC-SHA256(body, key = the token that created the invoice, else the store's oldest active merchant token, else pos token))\n", *storeID)
		return nil
	}
	if *invoiceID == "" {
		return fmt.Errorf("%w: --invoice is required", ErrUsage)
	}
	if _, err := db.GetInvoice(ctx, *invoiceID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no invoice with id %q", *invoiceID)
	} else if err != nil {
		return err
	}
	if sub == "list" {
		ds, err := db.Deliveries(ctx, *invoiceID)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(ds))
		for _, d := range ds {
			m := map[string]any{"channel": d.Channel, "event": invoice.Code(d.Code).Name(), "code": d.Code, "eventId": d.EventID,
				"target": d.Target, "state": d.State, "attempts": d.Attempts, "created": d.CreatedAt,
				"deadline": d.Deadline}
			switch d.State {
			case store.DeliveryPending:
				m["nextAttempt"] = d.NextAttemptAt
			case store.DeliveryDelivered:
				m["delivered"] = d.DeliveredAt
			}
			if d.LastError != "" {
				m["lastError"] = d.LastError
			}
			out = append(out, m)
		}
		return printJSON(env, out)
	}
	as, err := db.DeliveryAttempts(ctx, *invoiceID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(as))
	for _, a := range as {
		m := map[string]any{"channel": a.Channel, "event": invoice.Code(a.Code).Name(), "eventId": a.EventID, "target": a.Target,
			"attempt": a.N, "at": a.At, "latency": a.Latency.Round(time.Microsecond).String()}
		if a.StatusCode != 0 {
			m["status"] = a.StatusCode
		}
		if a.Error != "" {
			m["error"] = a.Error
		}
		out = append(out, m)
	}
	return printJSON(env, out)
}
