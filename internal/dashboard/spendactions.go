package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// bumpStep is what the fee bump form adds to the spend's rate by default
// (sat/vB): enough to outbid it by the relay fee (BIP125) with room.
const bumpStep = 5

// maxBumpRate bounds the rate the form takes; the store's fee ceiling
// bounds it further in the engine.
const maxBumpRate = 100_000

// roleHot is the least role that may sign with the store's hot key: the
// key spends the store's money with no wallet in the loop, so owners
// only, with their second factor.
const roleHot = account.RoleOwner

// hotButton is the hot signer's form on a spend's page.
type hotButton struct {
	URL string
	// Limit is the store's hot signer limit per HotWindow.
	Limit money.Sats
	// TwoFactor: the owner has a second factor; without one the page
	// says to turn it on first.
	TwoFactor bool
}

// hotButton returns the hot signer's form for the viewer on sp's page,
// or nil: only owners see it, on an unsigned refund spend of a store with
// a hot key, when kassa can send.
func (s *Server) hotButton(ctx context.Context, v Viewer, sp spend.Spend) (*hotButton, error) {
	if s.cfg.Spends == nil || !v.Can(roleHot) || sp.Status != spend.StatusUnsigned || sp.Kind != spend.KindRefund {
		return nil, nil
	}
	k, err := s.cfg.SpendLookup.GetHotKey(ctx, v.StoreID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.cfg.Users.GetUser(ctx, v.User.ID)
	if err != nil {
		return nil, err
	}
	return &hotButton{URL: s.base + storePath(v.StoreID, "/spends/"+url.PathEscape(sp.ID)+"/hot"), Limit: k.DailyLimit,
		TwoFactor: u.TOTPSecret != ""}, nil
}

// bumpErrors are the fee bump's refusals that speak to the merchant.
var bumpErrors = []error{spender.ErrBumpRate, spender.ErrNotBumpable}

// spendBump prepares a fee bump of a sent, unconfirmed spend at the rate
// asked for: POST …/spends/{spend}/bump. Its PSBT then waits on the page
// for a signature; a refusal says why and changes nothing.
func (s *Server) spendBump(w http.ResponseWriter, r *http.Request, v Viewer) {
	sp, ok := s.spendToAct(w, r, v)
	if !ok {
		return
	}
	text := strings.TrimSpace(r.PostFormValue("rate"))
	rate, err := strconv.ParseInt(text, 10, 64)
	if err != nil || rate < 1 || rate > maxBumpRate {
		s.cfg.Log.Info("dashboard: fee bump refused", "spend", sp.ID, "rate", shortText(text))
		s.renderSpend(w, r, v, http.StatusUnprocessableEntity, sp, false, "",
			"Enter the new fee rate as a whole number of sat/vB, above the spend's "+strconv.FormatInt(int64(sp.FeeRate), 10)+".")
		return
	}
	next, err := s.cfg.Spends.Bump(r.Context(), sp.ID, money.Sats(rate))
	if err != nil {
		problem := sentinelProblem(err, bumpErrors)
		if errors.Is(err, wallet.ErrInsufficientFunds) {
			problem = "The spend's coins cannot pay that fee (the bump takes it from the change): choose a lower rate."
		}
		if problem == "" {
			s.serverError(w, r, "bump a spend's fee", err)
			return
		}
		s.spendRefused(w, r, v, sp, http.StatusUnprocessableEntity, "fee bump", problem, err)
		return
	}
	s.cfg.Log.Info("dashboard: fee bump prepared", "user", v.User.ID, "store", v.StoreID, "spend", sp.ID,
		"rate", rate, "fee", int64(next.Bump.Fee))
	s.redirect(w, r, storePath(v.StoreID, "/spends/"+url.PathEscape(sp.ID))+"?done=bump")
}

// spendHot signs an unsigned spend with the store's hot key and sends it:
// POST …/spends/{spend}/hot, owners only, with a current TOTP code (field
// "code", each accepted once, wrong ones throttled as at sign-in). The
// engine applies the store's daily limit and the upload check; a refusal
// says why and changes nothing.
func (s *Server) spendHot(w http.ResponseWriter, r *http.Request, v Viewer) {
	ctx := r.Context()
	sp, ok := s.spendToAct(w, r, v)
	if !ok {
		return
	}
	if status, problem, err := s.secondFactor(ctx, r, v); err != nil {
		s.serverError(w, r, "check the second factor", err)
		return
	} else if problem != "" {
		s.renderSpend(w, r, v, status, sp, false, "", problem)
		return
	}
	next, err := s.cfg.Spends.SignHot(ctx, sp.ID)
	if err != nil {
		problem := hotProblem(err, sp.ID)
		if problem == "" {
			s.serverError(w, r, "sign with the hot signer", err)
			return
		}
		s.spendRefused(w, r, v, sp, http.StatusConflict, "hot signer", problem, err)
		return
	}
	s.spendSent(w, r, v, next, "spend signed with the hot signer")
}

// secondFactor checks the viewer's current TOTP code (the form's field
// "code"): accepted once per 30-second step, wrong ones throttled and
// counted as at sign-in. It returns the status and the reason to show
// when it refuses; an account without a second factor is refused too.
func (s *Server) secondFactor(ctx context.Context, r *http.Request, v Viewer) (int, string, error) {
	u, err := s.cfg.Users.GetUser(ctx, v.User.ID)
	if err != nil {
		return 0, "", err
	}
	if u.TOTPSecret == "" {
		s.cfg.Log.Info("dashboard: hot signer asked without a second factor", "user", u.ID)
		return http.StatusForbidden, "Signing with the hot signer needs your second factor: turn on two-factor " +
			"authentication on your account page first.", nil
	}
	acct := accountKey(u.Email)
	if wait, err := s.limits.wait(ctx, acct, r); err != nil {
		return 0, "", err
	} else if wait > 0 {
		s.cfg.Log.Warn("dashboard: second factor throttled", "user", u.ID, "wait", wait)
		return http.StatusTooManyRequests, "Too many wrong codes. Try again in " + waitText(wait) + ".", nil
	}
	code := strings.Join(strings.Fields(r.PostFormValue("code")), "")
	accepted := false
	if step, match := matchTOTP(u.TOTPSecret, code, s.cfg.Clock()); match {
		if accepted, err = s.cfg.SecondFactor.UseTOTPStep(ctx, u.ID, step); err != nil {
			return 0, "", err
		}
	}
	if !accepted {
		if err := s.limits.fail(ctx, acct, r); err != nil {
			return 0, "", err
		}
		s.cfg.Log.Warn("dashboard: wrong or reused second-factor code for the hot signer", "user", u.ID)
		return http.StatusUnauthorized, "Wrong or already used code: enter the current code of your authenticator app.", nil
	}
	if err := s.limits.succeed(ctx, acct); err != nil {
		s.cfg.Log.Warn("dashboard: reset login throttle", "err", err)
	}
	return 0, "", nil
}

// hotProblem says in plain words why the hot signer did not sign, or ""
// for an error that is kassa's.
func hotProblem(err error, spendID string) string {
	switch {
	case errors.Is(err, spender.ErrNoHotSigner):
		return "This kassa cannot open hot keys: it runs without the hot signer's passphrase " +
			"(KASSA_HOT_WALLET_PASSPHRASE). Sign the spend with your wallet."
	case errors.Is(err, spender.ErrNoHotKey):
		return "This store has no hot signer key (kassa store hot-signer). Sign the spend with your wallet."
	case errors.Is(err, spender.ErrHotLimit):
		msg := strings.TrimPrefix(err.Error(), "spend "+spendID+": ")
		return "Not signed: " + msg + ". Sign it with your wallet, or wait until the limit allows it."
	case errors.Is(err, spender.ErrHotKey):
		return "The hot signer cannot use the store's key (it does not open, or does not sign this spend). " +
			"Sign the spend with your wallet."
	}
	return uploadProblem(err)
}
