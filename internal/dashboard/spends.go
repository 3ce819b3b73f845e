package dashboard

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// SpendLookup reads the stores' spends and the refunds they pay;
// *store.DB implements it.
type SpendLookup interface {
	// Spends returns a store's spends in the given statuses (every status
	// when none is given), oldest first.
	Spends(ctx context.Context, storeID string, statuses ...spend.Status) ([]spend.Spend, error)
	// GetSpend loads a spend or fails with store.ErrNotFound.
	GetSpend(ctx context.Context, id string) (spend.Spend, error)
	// GetRefund loads a refund or fails with store.ErrNotFound.
	GetRefund(ctx context.Context, id string) (refund.Refund, error)
	// GetHotKey loads a store's hot signer key (its daily limit) or
	// fails with store.ErrNotFound when it has none.
	GetHotKey(ctx context.Context, storeID string) (store.HotKey, error)
}

// Spends signs spends off with the merchant's wallet; *spender.Engine
// implements it.
type Spends interface {
	// PSBT returns the spend with its PSBT to sign (spend.ToSign: an
	// unsigned spend's, rebuilt first when its coins were spent elsewhere
	// since it was made, or a sent spend's fee bump); a spend that waits
	// for no signature fails with spender.ErrNotSignable.
	PSBT(ctx context.Context, spendID string) (spend.Spend, error)
	// Submit takes the merchant's signed upload (a PSBT in base64, hex or
	// binary, or the raw transaction in hex), checks it pays exactly what
	// was approved, records it and sends it, and returns the spend. A
	// refused upload changes nothing: its error wraps one of wallet's
	// check errors or spender.ErrStale (the spend was rebuilt; the
	// returned spend holds the new PSBT), ErrNotSignable or
	// ErrOtherTransaction.
	Submit(ctx context.Context, spendID string, upload []byte) (spend.Spend, error)
	// PrepareRefund makes the spend that pays a refund created with an
	// address (or returns its open one).
	PrepareRefund(ctx context.Context, refundID string) (spend.Spend, error)
	// Bump prepares a replacement of a sent, unconfirmed spend at a
	// higher fee rate, whose PSBT then waits for a signature; it fails
	// with spender.ErrNotBumpable or ErrBumpRate, or wallet's
	// ErrInsufficientFunds when the spend's coins cannot pay the fee.
	Bump(ctx context.Context, spendID string, rate money.Sats) (spend.Spend, error)
	// SignHot signs an unsigned spend with its store's hot key within the
	// store's daily limit and sends it; a refusal changes nothing and
	// wraps spender.ErrNoHotSigner, ErrNoHotKey, ErrHotLimit, ErrHotKey,
	// ErrNotSignable or the upload check's errors.
	SignHot(ctx context.Context, spendID string) (spend.Spend, error)
}

// roleSigner is the least role that may download a spend's PSBT and
// upload it signed.
const roleSigner = account.RoleManager

// signedPattern is the upload's route: the one form whose body may be
// larger than the dashboard's usual bound.
const signedPattern = "POST /dashboard/stores/{id}/spends/{spend}/signed"

// maxSignedForm bounds the upload form: a file of wallet.MaxUploadBytes
// or its text (hex is twice as long), with room for the form's fields.
const maxSignedForm = 2*wallet.MaxUploadBytes + 64<<10

// openStatuses are the spends still under way, listed first.
var openStatuses = []spend.Status{spend.StatusUnsigned, spend.StatusSigned, spend.StatusBroadcast, spend.StatusConfirmed}

// spendRow is a spend as the spend pages show it.
type spendRow struct {
	ID, URL    string
	Kind       spend.Kind
	Status     spend.Status
	Refund     *refundRef
	Outputs    []spend.Output
	Inputs     []spend.Input
	Change     money.Sats
	FeeRate    money.Sats
	Fee        money.Sats
	TxID       string
	Height     int32
	Created    time.Time
	Updated    time.Time
	FailReason string
	// Bump is the fee bump waiting for its signature; Replaced the
	// transactions earlier bumps replaced.
	Bump     *spend.Plan
	Replaced []string
}

// refundRef is the refund a spend pays, linked on its invoice's page.
type refundRef struct {
	ID, InvoiceURL string
	Status         refund.Status
}

func (s *Server) spendRow(ctx context.Context, v Viewer, sp spend.Spend) (spendRow, error) {
	row := spendRow{ID: sp.ID, URL: s.base + storePath(v.StoreID, "/spends/"+url.PathEscape(sp.ID)), Kind: sp.Kind,
		Status: sp.Status, Outputs: sp.Outputs, Inputs: sp.Inputs, Change: sp.Change, FeeRate: sp.FeeRate, Fee: sp.Fee,
		TxID: sp.TxID, Height: sp.Height, Created: sp.CreatedAt, Updated: sp.UpdatedAt, FailReason: sp.FailReason,
		Replaced: sp.Replaced}
	if sp.Status == spend.StatusBroadcast {
		row.Bump = sp.Bump
	}
	if sp.Kind == spend.KindRefund {
		r, err := s.cfg.SpendLookup.GetRefund(ctx, sp.SubjectID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return row, err
		}
		if err == nil {
			row.Refund = &refundRef{ID: r.ID, Status: r.Status,
				InvoiceURL: s.base + storePath(v.StoreID, "/invoices/"+url.PathEscape(r.InvoiceID)) + "#refund-" + url.PathEscape(r.ID)}
		}
	}
	return row, nil
}

// spendsPage lists a store's spends, the open ones first (oldest first),
// then the others (newest first): GET …/spends.
func (s *Server) spendsPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	ctx := r.Context()
	open, err := s.cfg.SpendLookup.Spends(ctx, v.StoreID, openStatuses...)
	if err != nil {
		s.serverError(w, r, "list spends", err)
		return
	}
	done, err := s.cfg.SpendLookup.Spends(ctx, v.StoreID, spend.StatusFinal, spend.StatusFailed, spend.StatusCancelled)
	if err != nil {
		s.serverError(w, r, "list spends", err)
		return
	}
	var d struct{ Open, Done []spendRow }
	for i := len(done) - 1; i >= 0; i-- {
		open = append(open, done[i])
	}
	for i, sp := range open {
		row, err := s.spendRow(ctx, v, sp)
		if err != nil {
			s.serverError(w, r, "load a spend's refund", err)
			return
		}
		if i < len(open)-len(done) {
			d.Open = append(d.Open, row)
		} else {
			d.Done = append(d.Done, row)
		}
	}
	s.render(w, r, http.StatusOK, "Spends", "spends", view{D: d})
}

// spendData is a spend's page.
type spendData struct {
	S spendRow
	// CanSign: the viewer may download and upload (an owner or manager)
	// and the spend waits for a signature (unsigned, or its fee bump).
	CanSign bool
	// CanBump: the viewer may raise the fee of this sent spend;
	// SuggestRate is the rate the form offers.
	CanBump     bool
	SuggestRate money.Sats
	Bump        string
	// Hot is the hot signer's button, for an owner, on an unsigned
	// refund spend of a store with a hot key.
	Hot *hotButton
	// NoNode: kassa cannot send transactions (no Spends).
	NoNode bool
	// PSBT is the unsigned PSBT in base64; Rebuilt says it is a new one
	// (the coins of the one before were spent elsewhere).
	PSBT    string
	Rebuilt bool
	// Download and Upload are the PSBT file's and the form's URLs.
	Download, Upload string
	MaxUpload        string
}

var spendFlashes = map[string]string{
	"sent": "Signed transaction checked, recorded and sent: the node has it.",
	"bump": "Fee bump prepared: sign its PSBT below and upload it. Until then the transaction sent stands, " +
		"and either may be the one that confirms.",
	"recorded": "Signed transaction checked and recorded; the node did not take it yet: kassa sends it again until it does.",
}

// spendOf loads the spend {spend} of the viewer's store; it answers 404
// (and returns false) for a missing one or one of another store.
func (s *Server) spendOf(w http.ResponseWriter, r *http.Request, v Viewer) (spend.Spend, bool) {
	id := r.PathValue("spend")
	sp, err := s.cfg.SpendLookup.GetSpend(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && sp.StoreID != v.StoreID {
		if err == nil {
			s.cfg.Log.Warn("dashboard: spend of another store asked for", "store", v.StoreID, "spend", id)
		}
		s.message(w, r, http.StatusNotFound, "Not found", "This store has no such spend.")
		return spend.Spend{}, false
	}
	if err != nil {
		s.serverError(w, r, "load spend", err)
		return spend.Spend{}, false
	}
	return sp, true
}

// spendPage shows a spend: GET …/spends/{spend}. For an owner or manager
// an unsigned spend's PSBT is made fresh first (rebuilt if its coins were
// spent elsewhere) and offered to download, with the upload form.
func (s *Server) spendPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	sp, ok := s.spendOf(w, r, v)
	if !ok {
		return
	}
	rebuilt, errMsg := false, ""
	if toSign(sp) && s.cfg.Spends != nil && v.Can(roleSigner) {
		fresh, err := s.cfg.Spends.PSBT(r.Context(), sp.ID)
		switch {
		case err == nil:
			rebuilt = !bytes.Equal(fresh.PSBT, sp.PSBT)
			sp = fresh
		case errors.Is(err, spender.ErrNotSignable): // signed or cancelled meanwhile
			if sp, ok = s.spendOf(w, r, v); !ok {
				return
			}
		case errors.Is(err, wallet.ErrInsufficientFunds):
			s.cfg.Log.Info("dashboard: spend cannot be rebuilt", "spend", sp.ID, "err", err)
			errMsg = "The coins this PSBT spends were spent by another transaction, and the store's other coins " +
				"do not cover the payment and its fee: it cannot be signed until the store receives more."
		default:
			s.serverError(w, r, "make the spend's PSBT", err)
			return
		}
	}
	flash := spendFlashes[r.URL.Query().Get("done")]
	s.renderSpend(w, r, v, http.StatusOK, sp, rebuilt, flash, errMsg)
}

func (s *Server) renderSpend(w http.ResponseWriter, r *http.Request, v Viewer, status int, sp spend.Spend, rebuilt bool, flash, errMsg string) {
	row, err := s.spendRow(r.Context(), v, sp)
	if err != nil {
		s.serverError(w, r, "load the spend's refund", err)
		return
	}
	d := spendData{S: row, NoNode: s.cfg.Spends == nil, Rebuilt: rebuilt, Download: row.URL + "/psbt",
		Upload: row.URL + "/signed", MaxUpload: strconv.Itoa(wallet.MaxUploadBytes/1_000_000) + " MB",
		Bump: row.URL + "/bump"}
	if toSign(sp) && s.cfg.Spends != nil && v.Can(roleSigner) {
		d.CanSign, d.PSBT = true, base64.StdEncoding.EncodeToString(sp.ToSign())
	}
	if sp.Status == spend.StatusBroadcast && s.cfg.Spends != nil && v.Can(roleSigner) {
		d.CanBump, d.SuggestRate = true, sp.FeeRate+bumpStep
		if sp.Bump != nil {
			d.SuggestRate = sp.Bump.FeeRate + bumpStep
		}
	}
	if d.Hot, err = s.hotButton(r.Context(), v, sp); err != nil {
		s.serverError(w, r, "load the store's hot signer", err)
		return
	}
	s.render(w, r, status, "Spend "+sp.ID, "spend", view{D: d, Flash: flash, Error: errMsg})
}

// spendPSBT sends an unsigned spend's PSBT as a file (BIP174 binary),
// which Sparrow, Electrum and hardware-wallet tools open: GET
// …/spends/{spend}/psbt.
func (s *Server) spendPSBT(w http.ResponseWriter, r *http.Request, v Viewer) {
	sp, ok := s.spendOf(w, r, v)
	if !ok {
		return
	}
	if s.cfg.Spends == nil {
		s.message(w, r, http.StatusConflict, "Spending needs a chain backend", noNode)
		return
	}
	sp, err := s.cfg.Spends.PSBT(r.Context(), sp.ID)
	switch {
	case errors.Is(err, spender.ErrNotSignable):
		s.message(w, r, http.StatusConflict, "Nothing to sign", "This spend is not waiting for a signature any more.")
		return
	case errors.Is(err, wallet.ErrInsufficientFunds):
		s.message(w, r, http.StatusConflict, "Cannot be signed", "The store's coins no longer cover this spend and its fee.")
		return
	case err != nil:
		s.serverError(w, r, "make the spend's PSBT", err)
		return
	}
	s.cfg.Log.Info("dashboard: PSBT downloaded", "user", v.User.ID, "store", v.StoreID, "spend", sp.ID, "bump", sp.Bump != nil)
	name := "spend-" + sp.ID + ".psbt"
	if sp.Status == spend.StatusBroadcast {
		name = "spend-" + sp.ID + "-bump.psbt"
	}
	psbt := sp.ToSign()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.Itoa(len(psbt)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(psbt)
}

// noNode says why there is no download or upload.
const noNode = "Spending needs a chain backend to send transactions through (KASSA_CHAIN: a node's RPC or an Esplora server), " +
	"and this dashboard runs without one."

// spendSigned takes the signed PSBT or transaction back, as a file
// (field "file") or pasted (field "signed"): POST …/spends/{spend}/signed.
// A refused upload answers the page with the reason and changes nothing.
func (s *Server) spendSigned(w http.ResponseWriter, r *http.Request, v Viewer) {
	sp, ok := s.spendToAct(w, r, v)
	if !ok {
		return
	}
	upload, problem := readUpload(r)
	if problem != "" {
		s.cfg.Log.Info("dashboard: signed spend refused", "spend", sp.ID, "why", problem)
		s.renderSpend(w, r, v, http.StatusUnprocessableEntity, sp, false, "", problem)
		return
	}
	next, err := s.cfg.Spends.Submit(r.Context(), sp.ID, upload)
	if err != nil {
		problem := uploadProblem(err)
		if problem == "" {
			s.serverError(w, r, "submit signed spend", err)
			return
		}
		if errors.Is(err, spender.ErrStale) {
			s.cfg.Log.Info("dashboard: signed spend refused", "user", v.User.ID, "spend", sp.ID, "err", err)
			s.renderSpend(w, r, v, http.StatusConflict, next, true, "", problem)
			return
		}
		s.spendRefused(w, r, v, sp, http.StatusUnprocessableEntity, "signed spend", problem, err)
		return
	}
	s.spendSent(w, r, v, next, "signed spend submitted")
}

// spendToAct loads the spend {spend} of the viewer's store for an action
// that sends or signs; without a node it answers the page saying so (and
// returns false), as for a missing spend.
func (s *Server) spendToAct(w http.ResponseWriter, r *http.Request, v Viewer) (spend.Spend, bool) {
	sp, ok := s.spendOf(w, r, v)
	if ok && s.cfg.Spends == nil {
		s.renderSpend(w, r, v, http.StatusConflict, sp, false, "", noNode)
		return sp, false
	}
	return sp, ok
}

// spendRefused logs an action on a spend that was refused and shows the
// spend's page as it is now, with the reason.
func (s *Server) spendRefused(w http.ResponseWriter, r *http.Request, v Viewer, sp spend.Spend, status int, what, problem string, err error) {
	s.cfg.Log.Info("dashboard: "+what+" refused", "user", v.User.ID, "spend", sp.ID, "err", err)
	if cur, err := s.cfg.SpendLookup.GetSpend(r.Context(), sp.ID); err == nil {
		sp = cur
	}
	s.renderSpend(w, r, v, status, sp, false, "", problem)
}

// spendSent logs a spend signed (by the merchant's upload or the hot
// signer) and sends the browser to its page, saying whether the node has
// it.
func (s *Server) spendSent(w http.ResponseWriter, r *http.Request, v Viewer, next spend.Spend, what string) {
	s.cfg.Log.Info("dashboard: "+what, "user", v.User.ID, "store", v.StoreID, "spend", next.ID,
		"txid", next.TxID, "status", next.Status)
	done := "sent"
	if next.Status == spend.StatusSigned {
		done = "recorded"
	}
	s.redirect(w, r, storePath(v.StoreID, "/spends/"+url.PathEscape(next.ID))+"?done="+done)
}

// readUpload reads the upload form's file, or else its pasted text;
// problem says what is wrong with them, for the merchant.
func readUpload(r *http.Request) (upload []byte, problem string) {
	f, _, err := r.FormFile("file")
	switch {
	case err == nil:
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, wallet.MaxUploadBytes+1))
		if err != nil {
			return nil, "The file could not be read; choose it again."
		}
		if len(b) > wallet.MaxUploadBytes {
			return nil, "The file is larger than 4 MB: it is not a PSBT of this spend."
		}
		if len(b) > 0 {
			return b, ""
		}
	case !errors.Is(err, http.ErrMissingFile) && !errors.Is(err, http.ErrNotMultipart):
		return nil, "The file could not be read; choose it again."
	}
	text := r.PostFormValue("signed")
	if len(text) > 2*wallet.MaxUploadBytes {
		return nil, "The pasted text is too long: it is not a PSBT of this spend."
	}
	if strings.TrimSpace(text) == "" {
		return nil, "Choose the signed PSBT file your wallet saved, or paste the signed PSBT (base64) or transaction (hex)."
	}
	return []byte(text), ""
}

// uploadErrors are the refusals an upload can meet, each of whose
// messages speaks to the merchant.
var uploadErrors = []error{wallet.ErrNotTransaction, wallet.ErrOtherInputs, wallet.ErrOtherOutputs,
	wallet.ErrExtraOutput, wallet.ErrChangedTerms, wallet.ErrFeeTooHigh, wallet.ErrIncomplete, wallet.ErrBadSignature,
	wallet.ErrSighashType, spender.ErrStale, spender.ErrNotSignable, spender.ErrOtherTransaction,
	wallet.ErrInsufficientFunds}

// uploadProblem returns why an upload was refused, in the words of the
// check that refused it (from its sentinel on, without the spend's id),
// or "" for an error that is kassa's, not the upload's.
func uploadProblem(err error) string { return sentinelProblem(err, uploadErrors) }

// sentinelProblem returns err's message from the first of known it wraps
// on, as a sentence, or "" when it wraps none of them.
func sentinelProblem(err error, known []error) string {
	for _, e := range known {
		if errors.Is(err, e) {
			msg := err.Error()
			if i := strings.Index(msg, e.Error()); i >= 0 {
				msg = msg[i:]
			}
			msg = strings.ToUpper(msg[:1]) + msg[1:]
			if !strings.HasSuffix(msg, ".") {
				msg += "."
			}
			return msg
		}
	}
	return ""
}

// toSign reports whether a spend waits for a signature: unsigned, or sent
// with a fee bump prepared.
func toSign(sp spend.Spend) bool {
	return sp.Status == spend.StatusUnsigned || sp.Status == spend.StatusBroadcast && sp.Bump != nil
}

// spendBadge is the badge class for a spend's status.
func spendBadge(st spend.Status) string {
	switch st {
	case spend.StatusConfirmed, spend.StatusFinal:
		return "badge ok"
	case spend.StatusUnsigned, spend.StatusSigned, spend.StatusBroadcast:
		return "badge wait"
	case spend.StatusFailed, spend.StatusCancelled:
		return "badge off"
	}
	return "badge"
}
