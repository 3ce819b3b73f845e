package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

func runStore(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "store", map[string]string{
		"create":     "create a store and print its id",
		"update":     "change a store's settings (only the flags given)",
		"list":       "list stores as JSON",
		"hot-signer": "turn a store's hot signer on (private key on stdin, --limit SATS per 24 h) or off (--remove)",
	})
	if err != nil {
		return err
	}
	synopsis := "store " + sub + " [flags]"
	switch sub {
	case "update":
		synopsis = "store update --store ID [flags]"
	case "hot-signer":
		synopsis = "store hot-signer --store ID --limit SATS < private-key, or --store ID --remove"
	}
	fs, resolve := flagSet(env, "store "+sub, synopsis)
	id := fs.String("store", "", "store id (update only)")
	name := fs.String("name", "", "store name (required)")
	key := fs.String("xpub", "", "receiving key: xpub/ypub/zpub/tpub/upub/vpub or a descriptor such as wpkh(xpub…/0/*) (required)")
	speed := fs.String("speed", "medium", "default transaction speed: high, medium or low")
	currency := fs.String("currency", "USD", "default invoice currency")
	expiry := fs.Duration("expiry", merchant.DefaultExpiry, "invoice payment window")
	gap := fs.Int("gap-limit", merchant.DefaultGapLimit, "most unpaid addresses in a row before addresses are reused")
	feeFloor := fs.Int64("fee-floor", int64(merchant.DefaultFeeFloor), "lowest fee rate of the store's refunds and payouts, sat/vB (update)")
	feeCeiling := fs.Int64("fee-ceiling", int64(merchant.DefaultFeeCeiling), "highest fee rate of the store's refunds and payouts, sat/vB; a signed transaction paying more is refused (update)")
	origin := fs.String("key-origin", "", "the key's origin, [fingerprint/84h/0h/0h] as the wallet shows it: hardware wallets need it to sign refunds (create, update)")
	autoRefunds := fs.Bool("auto-refunds", true, "refund part-paid expired invoices and the excess of over-paid ones automatically (update)")
	hotLimit := fs.Int64("limit", 0, "most satoshis the hot signer signs per 24 hours, outputs and fees (hot-signer)")
	hotRemove := fs.Bool("remove", false, "turn the store's hot signer off and delete its sealed key (hot-signer)")
	// --invoice-limits is the configuration's flag (KASSA_INVOICE_LIMITS,
	// the server's default); given to these commands, it sets the store's own.
	if err := parse(fs, args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var limits *merchant.Limits
	if given["invoice-limits"] {
		l, err := merchant.ParseLimits(fs.Lookup("invoice-limits").Value.String())
		if err != nil {
			return fmt.Errorf("%w: --invoice-limits: %v", ErrUsage, err)
		}
		limits = &l
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	db, err := openDB(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "hot-signer":
		return runHotSigner(ctx, env, cfg, db, *id, money.Sats(*hotLimit), *hotRemove)
	case "list":
		stores, err := db.ListStores(ctx)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(stores))
		for _, s := range stores {
			run, err := db.GapRun(ctx, s.ID)
			if err != nil {
				return err
			}
			floor, ceiling := s.FeeRates()
			lim := "default (" + cfg.InvoiceLimits.String() + ")"
			if s.InvoiceLimits != nil {
				lim = s.InvoiceLimits.String()
			}
			hot, err := hotSignerJSON(ctx, db, s.ID)
			if err != nil {
				return err
			}
			out = append(out, map[string]any{"id": s.ID, "name": s.Name, "network": s.Network, "key": s.Key,
				"speed": s.Speed, "currency": s.DefaultCurrency, "expiry": s.Expiry.String(), "gapLimit": s.GapLimit,
				"unpaidRun": run, "invoiceLimits": lim, "feeFloor": floor, "feeCeiling": ceiling, "autoRefunds": !s.NoAutoRefunds,
				"hotSigner": hot})
		}
		return printJSON(env, out)
	case "update":
		if *id == "" {
			return fmt.Errorf("%w: --store is required", ErrUsage)
		}
		st, err := db.GetStore(ctx, *id)
		if err != nil {
			return fmt.Errorf("store %s: %w", *id, err)
		}
		if given["name"] {
			st.Name = *name
		}
		if given["xpub"] {
			st.Key, st.Network = *key, cfg.Network
		}
		if given["speed"] {
			st.Speed = invoice.Speed(*speed)
		}
		if given["currency"] {
			st.DefaultCurrency = *currency
		}
		if given["expiry"] {
			st.Expiry = *expiry
		}
		if given["gap-limit"] {
			st.GapLimit = *gap
		}
		if given["invoice-limits"] {
			st.InvoiceLimits = limits
		}
		if given["key-origin"] {
			if st.Key, err = withOrigin(st.Key, st.Network, *origin); err != nil {
				return err
			}
		}
		if given["fee-floor"] {
			st.FeeFloor = money.Sats(*feeFloor)
		}
		if given["fee-ceiling"] {
			st.FeeCeiling = money.Sats(*feeCeiling)
		}
		if given["auto-refunds"] {
			st.NoAutoRefunds = !*autoRefunds
		}
		if err := checkStore(&st); err != nil {
			return err
		}
		if err := db.UpdateStoreSettings(ctx, st); err != nil {
			return fmt.Errorf("update store: %w", err)
		}
		fmt.Fprintf(env.Stderr, "updated store %q; running nodes apply the change within %s\n", st.Name, merchant.SettingsTTL)
		return nil
	}
	st := merchant.Store{ID: auth.NewID(), Name: *name, Network: cfg.Network, Key: *key, Speed: invoice.Speed(*speed),
		Expiry: *expiry, GapLimit: *gap, DefaultCurrency: *currency, InvoiceLimits: limits,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if *origin != "" {
		if st.Key, err = withOrigin(st.Key, st.Network, *origin); err != nil {
			return err
		}
	}
	if err := checkStore(&st); err != nil {
		return err
	}
	if err := db.CreateStore(ctx, st); err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	fmt.Fprintln(env.Stdout, st.ID)
	fmt.Fprintf(env.Stderr, "created store %q on %s receiving to %s\n", st.Name, st.Network, st.Key)
	if k, err := wallet.ParseKey(st.Key, st.Network); err == nil && !k.HasOrigin() {
		fmt.Fprintln(env.Stderr, "the key has no origin: to sign refunds with a hardware wallet, give it with --key-origin "+
			"[fingerprint/84h/0h/0h] (kassa store update --store "+st.ID+" --key-origin …), as the wallet shows it")
	}
	return nil
}

// withOrigin gives a receiving key its key origin.
func withOrigin(key, network, origin string) (string, error) {
	k, err := wallet.ParseKey(key, network)
	if err != nil {
		return "", fmt.Errorf("%w: --xpub: %v", ErrUsage, err)
	}
	k, err = k.WithOrigin(origin)
	if err != nil {
		return "", fmt.Errorf("%w: --key-origin: %v", ErrUsage, err)
	}
	return k.String(), nil
}

// checkStore validates a store's settings (merchant.Store.Validate) and
// words a refusal with the flag to fix.
func checkStore(st *merchant.Store) error {
	err := st.Validate()
	var se *merchant.SettingError
	if errors.As(err, &se) {
		if se.Field == "xpub" && se.Err != nil {
			return fmt.Errorf("receiving key: %w", se.Err)
		}
		return fmt.Errorf("%w: --%s: %s", ErrUsage, se.Field, se.Msg)
	}
	return err
}

func runToken(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "token", map[string]string{
		"create": "create a bearer token (no client signature required) and print it",
		"list":   "list a store's tokens as JSON",
	})
	if err != nil {
		return err
	}
	fs, resolve := flagSet(env, "token "+sub, "token "+sub+" --store ID [flags]")
	storeID := fs.String("store", "", "store id (required)")
	facade := fs.String("facade", "pos", "facade: pos, merchant or payout")
	label := fs.String("label", "", "label shown in token lists")
	_, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := requireStore(ctx, db, *storeID); err != nil {
		return err
	}
	if sub == "list" {
		toks, err := db.ListTokens(ctx, *storeID)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(toks))
		for _, t := range toks {
			out = append(out, map[string]any{"facade": t.Facade, "label": t.Label, "sin": t.SIN, "active": t.Active,
				"pairingCode": t.PairingCode, "created": t.CreatedAt, "revoked": !t.RevokedAt.IsZero()})
		}
		return printJSON(env, out)
	}
	f, err := auth.ParseFacade(*facade)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	t := auth.Token{Value: auth.NewTokenValue(), StoreID: *storeID, Facade: f, Label: *label, Active: true,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := db.CreateToken(ctx, t); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	fmt.Fprintln(env.Stdout, t.Value)
	fmt.Fprintf(env.Stderr, "created %s token for store %s; it works without a client signature: keep it secret\n", f, *storeID)
	return nil
}

func runPairing(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "pairing", map[string]string{
		"create":  "create a pairing code a client claims with POST /tokens {id, pairingCode}",
		"approve": "approve a pairing code a client requested (kassa pairing approve [--store ID] CODE)",
	})
	if err != nil {
		return err
	}
	fs, resolve := flagSet(env, "pairing "+sub, "pairing "+sub+" [flags]")
	storeID := fs.String("store", "", "store id (create; approve, when the client named none)")
	facade := fs.String("facade", "merchant", "facade: pos, merchant or payout (create)")
	label := fs.String("label", "", "label shown in token lists (create)")
	_, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if sub == "approve" {
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: kassa pairing approve CODE", ErrUsage)
		}
		t, err := db.GetTokenByPairingCode(ctx, fs.Arg(0))
		if errors.Is(err, store.ErrNotFound) {
			t, err = db.GetParkedToken(ctx, fs.Arg(0))
		}
		if errors.Is(err, store.ErrNotFound) {
			return auth.ErrPairingNotFound
		}
		if err != nil {
			return err
		}
		if t.StoreID == "" {
			// Requested on a server with several stores: the approver
			// chooses.
			if *storeID == "" {
				return fmt.Errorf("%w: the client named no store: kassa pairing approve --store ID %s", ErrUsage, fs.Arg(0))
			}
			if _, err := requireStore(ctx, db, *storeID); err != nil {
				return err
			}
			if err := t.CanApprove(now); err != nil {
				return err
			}
			if t, err = db.PlaceToken(ctx, t.PairingCode, *storeID, true); err != nil {
				return fmt.Errorf("approve pairing: %w", err)
			}
			fmt.Fprintf(env.Stderr, "approved %s access for client %s on store %s\n", t.Facade, t.SIN, t.StoreID)
			return nil
		}
		if t.SIN == "" {
			return fmt.Errorf("pairing code %s was created by the merchant: the client claims it with POST /tokens", fs.Arg(0))
		}
		if err := t.CanApprove(now); err != nil {
			return err
		}
		t.Active = true
		if err := db.UpdateToken(ctx, t); err != nil {
			return fmt.Errorf("approve pairing: %w", err)
		}
		fmt.Fprintf(env.Stderr, "approved %s access for client %s on store %s\n", t.Facade, t.SIN, t.StoreID)
		return nil
	}
	if _, err := requireStore(ctx, db, *storeID); err != nil {
		return err
	}
	f, err := auth.ParseFacade(*facade)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	t := auth.Token{Value: auth.NewTokenValue(), StoreID: *storeID, Facade: f, Label: *label,
		PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
	if err := db.CreateToken(ctx, t); err != nil {
		return fmt.Errorf("create pairing code: %w", err)
	}
	fmt.Fprintln(env.Stdout, t.PairingCode)
	fmt.Fprintf(env.Stderr, "pairing code for %s access to store %s; valid until %s\n", f, *storeID, t.PairingExpiresAt.Format(time.RFC3339))
	return nil
}

func requireStore(ctx context.Context, db *store.DB, id string) (merchant.Store, error) {
	if id == "" {
		return merchant.Store{}, fmt.Errorf("%w: --store is required", ErrUsage)
	}
	st, err := db.GetStore(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return st, fmt.Errorf("no store with id %q", id)
	}
	return st, err
}

func runInvoice(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "invoice", map[string]string{
		"create": "create an invoice and print it as JSON",
		"get":    "print an invoice as JSON (kassa invoice get ID)",
		"list":   "list a store's newest invoices as JSON",
	})
	if err != nil {
		return err
	}
	fs, resolve := flagSet(env, "invoice "+sub, "invoice "+sub+" [flags]")
	storeID := fs.String("store", "", "store id (create, list)")
	price := fs.String("price", "", "price in --currency (create)")
	currency := fs.String("currency", "", "currency (create; default: the store's)")
	speed := fs.String("speed", "", "transaction speed (create; default: the store's)")
	orderID := fs.String("order-id", "", "merchant order id (create)")
	itemDesc := fs.String("item-desc", "", "item description (create)")
	notifyURL := fs.String("notification-url", "", "IPN URL (create)")
	window := fs.Duration("window", 0, "payment window (create; default: the store's expiry)")
	limit := fs.Int("limit", 50, "how many invoices (list)")
	cfg, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	tip := chainTip(ctx, db)
	now := time.Now()
	switch sub {
	case "get":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: kassa invoice get ID", ErrUsage)
		}
		inv, err := db.GetInvoice(ctx, fs.Arg(0))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no invoice with id %q", fs.Arg(0))
		}
		if err != nil {
			return err
		}
		return printJSON(env, bitpay.RenderInvoice(&inv, bitpay.ViewMerchant, cfg.PublicURL, tip, now))
	case "list":
		if _, err := requireStore(ctx, db, *storeID); err != nil {
			return err
		}
		invs, err := db.ListInvoices(ctx, *storeID, *limit)
		if err != nil {
			return err
		}
		out := make([]bitpay.InvoiceJSON, 0, len(invs))
		for i := range invs {
			out = append(out, bitpay.RenderInvoice(&invs[i], bitpay.ViewMerchant, cfg.PublicURL, tip, now))
		}
		return printJSON(env, out)
	}
	if _, err := requireStore(ctx, db, *storeID); err != nil {
		return err
	}
	if *price == "" {
		return fmt.Errorf("%w: --price is required", ErrUsage)
	}
	providers, err := rates.Parse(cfg.Rates)
	if err != nil {
		return fmt.Errorf("KASSA_RATES: %w", err)
	}
	rs, err := rates.New(rates.Config{Providers: providers})
	if err != nil {
		return fmt.Errorf("KASSA_RATES: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := rs.Refresh(rctx); err != nil {
		return fmt.Errorf("exchange rates: %w", err)
	}
	g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: cfg.Network})
	defer g.Close()
	inv, err := g.CreateInvoice(ctx, *storeID, gateway.NewInvoice{
		Price: *price, Currency: *currency, Speed: invoice.Speed(*speed), Window: *window,
		Fields: invoice.Fields{OrderID: *orderID, ItemDesc: *itemDesc, NotificationURL: *notifyURL},
	})
	if err != nil {
		return err
	}
	return printJSON(env, bitpay.RenderInvoice(inv, bitpay.ViewMerchant, cfg.PublicURL, tip, now))
}

// chainTip returns the last processed block height, 0 if none.
func chainTip(ctx context.Context, db *store.DB) int32 {
	blocks, err := db.RecentBlocks(ctx)
	if err != nil || len(blocks) == 0 {
		return 0
	}
	return blocks[len(blocks)-1].Height
}

func printJSON(env Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
