package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Stores stores the merchant stores and their settings; *store.DB
// implements it.
type Stores interface {
	// CreateStore adds a store; a taken id fails with store.ErrDuplicate.
	CreateStore(ctx context.Context, s merchant.Store) error
	// GetStore loads a store or fails with store.ErrNotFound.
	GetStore(ctx context.Context, id string) (merchant.Store, error)
	// ListStores returns every store, oldest first.
	ListStores(ctx context.Context) ([]merchant.Store, error)
	// UpdateStoreSettings stores a store's settings; it fails with
	// store.ErrKeyLocked when the key would change on a store with
	// invoices.
	UpdateStoreSettings(ctx context.Context, s merchant.Store) error
	// StoreHasInvoices reports whether any invoice was made for the
	// store.
	StoreHasInvoices(ctx context.Context, storeID string) (bool, error)
}

// setupPage is the first run's first step: the owner's account. Once an
// account exists it sends everyone to the dashboard.
func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	if s.setupDone(r.Context()) {
		s.redirect(w, r, "/dashboard/")
		return
	}
	s.render(w, r, http.StatusOK, "Set up kassa", "setup", view{CSRF: s.formToken(w, r), D: accountForm{}})
}

// accountForm is the email and password form of the setup, sign-up and
// invite pages.
type accountForm struct {
	Email      string
	EmailFixed bool
	Invite     *inviteInfo
}

func (s *Server) setupPost(w http.ResponseWriter, r *http.Request) {
	if s.setupDone(r.Context()) {
		s.redirect(w, r, "/dashboard/")
		return
	}
	f := accountForm{Email: strings.TrimSpace(r.PostFormValue("email"))}
	if !s.checkForm(r) {
		s.render(w, r, http.StatusForbidden, "Set up kassa", "setup",
			view{CSRF: s.formToken(w, r), D: f, Error: "This form expired. Send it again."})
		return
	}
	email, err := checkAccount(f.Email, r.PostFormValue("password"), r.PostFormValue("password2"))
	if err != nil {
		s.cfg.Log.Info("dashboard: setup refused", "reason", err.Error())
		s.render(w, r, http.StatusUnprocessableEntity, "Set up kassa", "setup", view{CSRF: s.formToken(w, r), D: f, Error: err.Error()})
		return
	}
	hash, err := s.passwords.hash(r.PostFormValue("password"))
	if err != nil {
		s.serverError(w, r, "hash password", err)
		return
	}
	now := s.now()
	u := account.User{ID: auth.NewID(), Email: email, PasswordHash: hash, Kind: account.KindAdmin, CreatedAt: now}
	if err := s.cfg.Users.CreateFirstUser(r.Context(), u); errors.Is(err, account.ErrSetupDone) {
		s.redirect(w, r, "/dashboard/login")
		return
	} else if err != nil {
		s.serverError(w, r, "create first user", err)
		return
	}
	s.hasUsers.Store(true)
	s.cfg.Log.Info("dashboard: owner account created", "user", u.ID)
	if err := s.startSession(w, r, u, account.StageFull); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	s.redirect(w, r, "/dashboard/stores/new?setup=1")
}

// checkAccount validates a new account's email and password and returns
// the email in lower case.
func checkAccount(email, pw, pw2 string) (string, error) {
	email, err := account.CheckEmail(email)
	if err != nil {
		return "", err
	}
	if err := account.CheckPassword(pw); err != nil {
		return "", err
	}
	if pw != pw2 {
		return "", errors.New("the two passwords differ")
	}
	return email, nil
}

// home sends a user to their only store, to the new store form when they
// have none and may create one, or to the store list.
func (s *Server) home(w http.ResponseWriter, r *http.Request, v *Viewer) {
	stores, err := s.storesOf(r, v)
	if err != nil {
		s.serverError(w, r, "list stores", err)
		return
	}
	switch {
	case len(stores) == 1:
		s.redirect(w, r, storePath(stores[0].Store.ID, ""))
	case len(stores) == 0 && s.canCreateStores(v):
		s.redirect(w, r, "/dashboard/stores/new")
	default:
		s.storeList(w, r, v)
	}
}

// storesOf lists the stores a user may open: every store for an admin.
func (s *Server) storesOf(r *http.Request, v *Viewer) ([]store.StoreRole, error) {
	if !v.User.Admin {
		return s.cfg.Members.StoresOfUser(r.Context(), v.User.ID)
	}
	all, err := s.cfg.Stores.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]store.StoreRole, len(all))
	for i, st := range all {
		out[i] = store.StoreRole{Store: st, Role: account.RoleOwner}
	}
	return out, nil
}

// canCreateStores: admins and merchants always, anyone when sign-up is
// open (they could open a merchant account anyway).
func (s *Server) canCreateStores(v *Viewer) bool {
	return v.User.Admin || v.User.kind == account.KindMerchant || s.cfg.Signup
}

func (s *Server) storeList(w http.ResponseWriter, r *http.Request, v *Viewer) {
	stores, err := s.storesOf(r, v)
	if err != nil {
		s.serverError(w, r, "list stores", err)
		return
	}
	s.render(w, r, http.StatusOK, "Stores", "stores", view{D: struct {
		Stores    []store.StoreRole
		CanCreate bool
	}{stores, s.canCreateStores(v)}})
}

// storeForm is the store form's fields as typed, for showing it again.
type storeForm struct {
	Setup    bool // the first run's second step
	Action   string
	Name     string
	Currency string
	Key      string
	// KeyOrigin is the key's origin as the wallet shows it
	// ([fingerprint/84h/0h/0h]), which hardware wallets need to sign
	// refunds; OriginAllowed: the viewer may give it (an owner, even once
	// the key is locked: not one address changes); NoOrigin: the key has
	// none yet.
	KeyOrigin     string
	OriginAllowed bool
	NoOrigin      bool
	Speed         string
	Expiry        string // minutes
	GapLimit      string
	// InvoiceLimits is the store's own limits ("100/h,60/m,10/s", "off"),
	// empty for the server's default.
	InvoiceLimits string
	Network       string
	Preview       *keyPreview
	KeyLocked     bool // settings: the store has invoices, or the viewer is no owner
	KeyHidden     bool
	Currencies    []string
}

// keyPreview is what the preview shows for a key: its script type and
// first receive addresses, or why it was refused.
type keyPreview struct {
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	Network    string   `json:"network,omitempty"`
	Type       string   `json:"type,omitempty"`
	Descriptor string   `json:"descriptor,omitempty"`
	Addresses  []string `json:"addresses,omitempty"`
}

func (s *Server) defaultStoreForm(action string) storeForm {
	return storeForm{Action: action, Currency: "USD", Speed: string(invoice.SpeedMedium),
		Expiry: strconv.Itoa(int(merchant.DefaultExpiry / time.Minute)), GapLimit: strconv.Itoa(merchant.DefaultGapLimit),
		Network: s.cfg.Network, Currencies: currencyCodes(), OriginAllowed: true}
}

func currencyCodes() []string {
	var out []string
	for _, c := range money.Currencies() {
		out = append(out, c.Code)
	}
	return out
}

func (s *Server) readStoreForm(r *http.Request, f storeForm) storeForm {
	f.Name = strings.TrimSpace(r.PostFormValue("name"))
	f.Currency = strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency")))
	if !f.KeyLocked {
		f.Key = strings.TrimSpace(r.PostFormValue("key"))
	}
	f.Speed = r.PostFormValue("speed")
	f.Expiry = strings.TrimSpace(r.PostFormValue("expiry"))
	f.GapLimit = strings.TrimSpace(r.PostFormValue("gap_limit"))
	f.InvoiceLimits = strings.TrimSpace(r.PostFormValue("invoice_limits"))
	if f.OriginAllowed {
		f.KeyOrigin = strings.TrimSpace(r.PostFormValue("key_origin"))
	}
	return f
}

// previewKey parses a key for the server's network and derives its first
// three receive addresses.
func (s *Server) previewKey(key string) keyPreview {
	k, err := wallet.ParseKey(key, s.cfg.Network)
	if err != nil {
		return keyPreview{Error: keyError(err, s.cfg.Network)}
	}
	p := keyPreview{OK: true, Network: s.cfg.Network, Type: k.ScriptType().String(), Descriptor: k.String()}
	for i := range uint32(3) {
		a, err := k.Derive(i)
		if err != nil {
			return keyPreview{Error: keyError(err, s.cfg.Network)}
		}
		p.Addresses = append(p.Addresses, a.Address)
	}
	return p
}

// keyHasOrigin reports whether a stored key carries its key origin.
func keyHasOrigin(key, network string) bool {
	k, err := wallet.ParseKey(key, network)
	return err == nil && k.HasOrigin()
}

// keyError words a refused key for the merchant; it never repeats the
// key.
func keyError(err error, network string) string {
	var mm *wallet.NetworkMismatchError
	if errors.As(err, &mm) {
		want := "tpub, upub or vpub"
		if network == wallet.Mainnet {
			want = "xpub, ypub or zpub"
		}
		return "This is a " + mm.KeyNetwork + " key (" + mm.Prefix + "), but this kassa runs on " + network +
			": give a " + network + " key (" + want + ")."
	}
	msg := err.Error()
	if msg == "" {
		return "This key cannot be used."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

// checkStore validates a store form into st (its key only when
// withKey) with merchant.Store.Validate; the message says what to fix.
func (s *Server) checkStore(f storeForm, st *merchant.Store, withKey bool) string {
	next := *st
	mins, err := strconv.Atoi(f.Expiry)
	if err != nil {
		return "The invoice expiry is a number of minutes."
	}
	gap, err := strconv.Atoi(f.GapLimit)
	if err != nil {
		return "The gap limit is a whole number."
	}
	next.InvoiceLimits = nil
	if f.InvoiceLimits != "" {
		l, err := merchant.ParseLimits(f.InvoiceLimits)
		if err != nil {
			return "Invoice limits: " + strings.TrimPrefix(err.Error(), merchant.ErrLimits.Error()+": ") + "."
		}
		next.InvoiceLimits = &l
	}
	if withKey {
		next.Key, next.Network = f.Key, s.cfg.Network
	}
	if f.OriginAllowed && f.KeyOrigin != "" {
		k, err := wallet.ParseKey(next.Key, next.Network)
		if err != nil {
			return keyError(err, s.cfg.Network)
		}
		if k, err = k.WithOrigin(f.KeyOrigin); err != nil {
			return "Key origin: " + err.Error() + ". Copy it as your wallet shows it, such as [d34db33f/84h/0h/0h]."
		}
		next.Key = k.String()
	}
	next.Name, next.DefaultCurrency, next.Speed = f.Name, f.Currency, invoice.Speed(f.Speed)
	next.Expiry, next.GapLimit = time.Duration(mins)*time.Minute, gap
	err = next.Validate()
	var se *merchant.SettingError
	switch {
	case errors.As(err, &se) && se.Field == "xpub" && se.Err != nil:
		return keyError(se.Err, s.cfg.Network)
	case errors.As(err, &se):
		return strings.ToUpper(se.Msg[:1]) + se.Msg[1:] + "."
	case err != nil:
		return err.Error()
	}
	*st = next
	return ""
}

func (s *Server) newStorePage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if !s.canCreateStores(v) {
		s.cfg.Log.Warn("dashboard: store creation refused", "user", v.User.ID)
		s.message(w, r, http.StatusForbidden, "Not allowed", "Your account cannot create stores. Ask the operator.")
		return
	}
	f := s.defaultStoreForm("/dashboard/stores/new")
	f.Setup = r.URL.Query().Get("setup") == "1"
	s.render(w, r, http.StatusOK, "New store", "store_new", view{D: f})
}

func (s *Server) newStorePost(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if !s.canCreateStores(v) {
		s.cfg.Log.Warn("dashboard: store creation refused", "user", v.User.ID)
		s.message(w, r, http.StatusForbidden, "Not allowed", "Your account cannot create stores. Ask the operator.")
		return
	}
	f := s.readStoreForm(r, s.defaultStoreForm("/dashboard/stores/new"))
	f.Setup = r.PostFormValue("setup") == "1"
	if f.Key != "" {
		p := s.previewKey(f.Key)
		f.Preview = &p
	}
	if r.PostFormValue("action") == "preview" {
		s.render(w, r, http.StatusOK, "New store", "store_new", view{D: f})
		return
	}
	st := merchant.Store{ID: auth.NewID(), CreatedAt: s.now()}
	if msg := s.checkStore(f, &st, true); msg != "" {
		s.cfg.Log.Info("dashboard: store refused", "user", v.User.ID, "reason", msg)
		s.render(w, r, http.StatusUnprocessableEntity, "New store", "store_new", view{D: f, Error: msg})
		return
	}
	if err := s.cfg.Stores.CreateStore(r.Context(), st); err != nil {
		s.serverError(w, r, "create store", err)
		return
	}
	if err := s.cfg.Members.SetMember(r.Context(), account.Membership{UserID: v.User.ID, StoreID: st.ID, Role: account.RoleOwner}, st.CreatedAt); err != nil {
		s.serverError(w, r, "add store owner", err)
		return
	}
	s.cfg.Log.Info("dashboard: store created", "user", v.User.ID, "store", st.ID, "network", st.Network)
	s.redirect(w, r, storePath(st.ID, "/tokens?done=store"))
}

// preview answers the store form's live preview: the key's first three
// addresses as JSON, or why it is refused. It needs a signed-in session's
// CSRF token, or before sign-in (open sign-up) the form cookie's.
func (s *Server) preview(w http.ResponseWriter, r *http.Request) {
	allowed := false
	if sess, _, ok := s.session(r.Context(), r, account.StageFull); ok {
		allowed = sameToken(r.PostFormValue("csrf"), sess.CSRF)
	} else if s.cfg.Signup {
		allowed = s.checkForm(r)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !allowed {
		s.cfg.Log.Info("dashboard: preview refused", "path", r.URL.Path)
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(keyPreview{Error: "Sign in again to preview keys."})
		return
	}
	p := s.previewKey(strings.TrimSpace(r.PostFormValue("key")))
	if !p.OK {
		w.WriteHeader(http.StatusUnprocessableEntity)
	}
	_ = json.NewEncoder(w).Encode(p)
}

// settingsPage shows a store's settings; its key is read-only once the
// store has invoices, and hidden from managers' editing.
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	f, err := s.settingsForm(r, v)
	if err != nil {
		s.serverError(w, r, "load settings", err)
		return
	}
	done := ""
	if r.URL.Query().Get("done") == "saved" {
		done = "Settings saved."
	}
	s.render(w, r, http.StatusOK, "Settings", "settings", view{D: f, Flash: done})
}

func (s *Server) settingsForm(r *http.Request, v Viewer) (storeForm, error) {
	has, err := s.cfg.Stores.StoreHasInvoices(r.Context(), v.StoreID)
	if err != nil {
		return storeForm{}, err
	}
	st := v.Store
	limits := ""
	if st.InvoiceLimits != nil {
		limits = st.InvoiceLimits.String()
	}
	return storeForm{InvoiceLimits: limits, Action: storePath(st.ID, "/settings"), Name: st.Name, Currency: st.DefaultCurrency, Key: st.Key,
		Speed: string(st.Speed), Expiry: strconv.Itoa(int(st.Expiry / time.Minute)), GapLimit: strconv.Itoa(st.GapLimit),
		Network: st.Network, KeyLocked: has || !v.Can(account.RoleOwner), Currencies: currencyCodes(),
		OriginAllowed: v.Can(account.RoleOwner), NoOrigin: !keyHasOrigin(st.Key, st.Network)}, nil
}

func (s *Server) settingsPost(w http.ResponseWriter, r *http.Request, v Viewer) {
	f, err := s.settingsForm(r, v)
	if err != nil {
		s.serverError(w, r, "load settings", err)
		return
	}
	f = s.readStoreForm(r, f)
	if !f.KeyLocked && f.Key != "" {
		p := s.previewKey(f.Key)
		f.Preview = &p
	}
	if r.PostFormValue("action") == "preview" {
		s.render(w, r, http.StatusOK, "Settings", "settings", view{D: f})
		return
	}
	st := v.Store
	if msg := s.checkStore(f, &st, !f.KeyLocked); msg != "" {
		s.cfg.Log.Info("dashboard: settings refused", "user", v.User.ID, "store", v.StoreID, "reason", msg)
		s.render(w, r, http.StatusUnprocessableEntity, "Settings", "settings", view{D: f, Error: msg})
		return
	}
	err = s.cfg.Stores.UpdateStoreSettings(r.Context(), st)
	if errors.Is(err, store.ErrKeyLocked) {
		f.KeyLocked, f.Key = true, v.Store.Key
		s.render(w, r, http.StatusConflict, "Settings", "settings", view{D: f, Error: "The store has invoices now: its key can no longer change."})
		return
	}
	if err != nil {
		s.serverError(w, r, "update store", err)
		return
	}
	if s.cfg.StoreChanged != nil {
		s.cfg.StoreChanged(st.ID)
	}
	s.cfg.Log.Info("dashboard: store settings changed", "user", v.User.ID, "store", st.ID, "key_changed", st.Key != v.Store.Key)
	s.redirect(w, r, storePath(st.ID, "/settings?done=saved"))
}
