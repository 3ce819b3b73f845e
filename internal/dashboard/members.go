package dashboard

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/store"
)

// InviteTTL is how long an invite link works.
const InviteTTL = 7 * 24 * time.Hour

// membersData is the members page's data.
type membersData struct {
	Members []store.Member
	Invites []account.Invite
	// Link is an invite link just made, shown once.
	Link     string
	LinkRole account.Role
	Roles    []account.Role
	Me       string
}

var memberFlashes = map[string]string{
	"removed": "Member removed.",
	"revoked": "Invite revoked.",
}

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	s.renderMembers(w, r, v, http.StatusOK, memberFlashes[r.URL.Query().Get("done")], "", "", "")
}

func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, v Viewer, status int, flash, errMsg, link string, role account.Role) {
	ms, err := s.cfg.Members.Members(r.Context(), v.StoreID)
	if err != nil {
		s.serverError(w, r, "list members", err)
		return
	}
	invs, err := s.cfg.Invites.PendingInvites(r.Context(), v.StoreID, s.now())
	if err != nil {
		s.serverError(w, r, "list invites", err)
		return
	}
	s.render(w, r, status, "Members", "members", view{Flash: flash, Error: errMsg, D: membersData{Members: ms, Invites: invs,
		Link: link, LinkRole: role, Roles: []account.Role{account.RoleEmployee, account.RoleManager, account.RoleOwner}, Me: v.User.ID}})
}

// Members stores the users' roles in stores; *store.DB implements it.
type Members interface {
	// SetMember gives a user a role in a store, replacing any it had.
	SetMember(ctx context.Context, m account.Membership, at time.Time) error
	// RemoveMember takes a user out of a store; store.ErrNotFound when it
	// was not in.
	RemoveMember(ctx context.Context, userID, storeID string) error
	// MemberRole returns a user's role in a store or fails with
	// store.ErrNotFound.
	MemberRole(ctx context.Context, userID, storeID string) (account.Role, error)
	// StoresOfUser returns the stores a user is in, oldest first.
	StoresOfUser(ctx context.Context, userID string) ([]store.StoreRole, error)
	// Members returns a store's users, oldest membership first.
	Members(ctx context.Context, storeID string) ([]store.Member, error)
}

// InviteStore stores invites; *store.DB implements it.
type InviteStore interface {
	CreateInvite(ctx context.Context, i account.Invite) error
}

// Invites stores the one-time invites of the members page and the links
// they are redeemed at; *store.DB implements it.
type Invites interface {
	// CreateInvite stores an invite (NewInvite makes it).
	CreateInvite(ctx context.Context, i account.Invite) error
	// GetInvite loads an invite by the hash of its secret or fails with
	// store.ErrNotFound; whether it is usable is the caller's to check.
	GetInvite(ctx context.Context, tokenHash string) (account.Invite, error)
	// PendingInvites returns a store's unused, unexpired invites.
	PendingInvites(ctx context.Context, storeID string, now time.Time) ([]account.Invite, error)
	// RevokeInvite makes a store's pending invite unusable, or fails with
	// store.ErrNotFound.
	RevokeInvite(ctx context.Context, storeID, id string, at time.Time) error
	// RedeemInvite spends an invite with what it grants (newUser created
	// when not nil, then userID joins its store), in one transaction. It
	// fails with account.ErrInviteUnusable for a used, expired or unknown
	// invite, store.ErrDuplicate for a taken email.
	RedeemInvite(ctx context.Context, tokenHash string, now time.Time, newUser *account.User, userID string) (account.Invite, error)
}

// NewInvite stores a one-time invite and returns its link: to join a
// store with a role (storeID set), or to open a merchant account for
// email (storeID "", for an approved merchant application).
func NewInvite(ctx context.Context, db InviteStore, publicURL, storeID string, role account.Role, email, createdBy string, now time.Time) (string, error) {
	secret := randomToken()
	kind := account.KindMember
	if storeID == "" {
		kind = account.KindMerchant
	}
	err := db.CreateInvite(ctx, account.Invite{TokenHash: hashToken(secret), ID: auth.NewID(), Kind: kind, StoreID: storeID,
		Role: role, Email: email, CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(InviteTTL)})
	if err != nil {
		return "", err
	}
	return strings.TrimRight(publicURL, "/") + "/dashboard/invite/" + secret, nil
}

func (s *Server) inviteCreate(w http.ResponseWriter, r *http.Request, v Viewer) {
	role, ok := account.ParseRole(r.PostFormValue("role"))
	if !ok {
		s.renderMembers(w, r, v, http.StatusUnprocessableEntity, "", "Pick a role: employee, manager or owner.", "", "")
		return
	}
	link, err := NewInvite(r.Context(), s.cfg.Invites, s.cfg.PublicURL, v.StoreID, role, "", v.User.ID, s.now())
	if err != nil {
		s.serverError(w, r, "create invite", err)
		return
	}
	s.cfg.Log.Info("dashboard: invite created", "user", v.User.ID, "store", v.StoreID, "role", role)
	s.renderMembers(w, r, v, http.StatusOK, "", "", link, role)
}

func (s *Server) memberRemove(w http.ResponseWriter, r *http.Request, v Viewer) {
	id := r.PostFormValue("user")
	if id == v.User.ID {
		s.renderMembers(w, r, v, http.StatusUnprocessableEntity, "", "You cannot remove yourself.", "", "")
		return
	}
	err := s.cfg.Members.RemoveMember(r.Context(), id, v.StoreID)
	if errors.Is(err, store.ErrNotFound) {
		s.renderMembers(w, r, v, http.StatusNotFound, "", "That user is not a member of this store.", "", "")
		return
	}
	if err != nil {
		s.serverError(w, r, "remove member", err)
		return
	}
	// The removed user's open pages lose the store at their next request.
	s.cfg.Log.Info("dashboard: member removed", "user", v.User.ID, "store", v.StoreID, "removed", id)
	s.redirect(w, r, storePath(v.StoreID, "/members?done=removed"))
}

func (s *Server) inviteRevoke(w http.ResponseWriter, r *http.Request, v Viewer) {
	err := s.cfg.Invites.RevokeInvite(r.Context(), v.StoreID, r.PostFormValue("invite"), s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.renderMembers(w, r, v, http.StatusNotFound, "", "No such pending invite.", "", "")
		return
	}
	if err != nil {
		s.serverError(w, r, "revoke invite", err)
		return
	}
	s.cfg.Log.Info("dashboard: invite revoked", "user", v.User.ID, "store", v.StoreID)
	s.redirect(w, r, storePath(v.StoreID, "/members?done=revoked"))
}

// inviteInfo describes an invite on its page.
type inviteInfo struct {
	Secret    string
	StoreName string
	Role      account.Role
	Merchant  bool
	SignedIn  string // the signed-in user's email, if any
}

// loadInvite finds a usable invite by its link's secret; it answers and
// returns false when there is none.
func (s *Server) loadInvite(w http.ResponseWriter, r *http.Request) (account.Invite, *inviteInfo, bool) {
	secret := r.PathValue("secret")
	var inv account.Invite
	var err error
	if len(secret) >= 32 && len(secret) <= 64 {
		inv, err = s.cfg.Invites.GetInvite(r.Context(), hashToken(secret))
	} else {
		err = store.ErrNotFound
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.serverError(w, r, "load invite", err)
		return inv, nil, false
	}
	if err != nil || !inv.Usable(s.now()) {
		s.cfg.Log.Info("dashboard: unusable invite link", "addr", clientAddr(r).String())
		s.message(w, r, http.StatusGone, "Invite link not valid", account.ErrInviteUnusable.Error()+". Ask for a new one.")
		return inv, nil, false
	}
	info := &inviteInfo{Secret: secret, Role: inv.Role, Merchant: inv.Kind == account.KindMerchant}
	if inv.StoreID != "" {
		st, err := s.cfg.Stores.GetStore(r.Context(), inv.StoreID)
		if err != nil {
			s.serverError(w, r, "load invite store", err)
			return inv, nil, false
		}
		info.StoreName = st.Name
	}
	return inv, info, true
}

// invitePage shows an invite: a signed-in user joins with one button;
// anyone else opens an account with it.
func (s *Server) invitePage(w http.ResponseWriter, r *http.Request) {
	inv, info, ok := s.loadInvite(w, r)
	if !ok {
		return
	}
	if sess, u, ok := s.session(r.Context(), r, account.StageFull); ok {
		info.SignedIn = u.Email
		s.render(w, r, http.StatusOK, "Invite", "invite", view{CSRF: sess.CSRF, D: accountForm{Invite: info}})
		return
	}
	s.render(w, r, http.StatusOK, "Invite", "invite", view{CSRF: s.formToken(w, r),
		D: accountForm{Invite: info, Email: inv.Email, EmailFixed: inv.Email != ""}})
}

func (s *Server) invitePost(w http.ResponseWriter, r *http.Request) {
	inv, info, ok := s.loadInvite(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	now := s.now()
	hash := hashToken(info.Secret)
	if sess, u, ok := s.session(ctx, r, account.StageFull); ok {
		info.SignedIn = u.Email
		if !sameToken(r.PostFormValue("csrf"), sess.CSRF) {
			s.cfg.Log.Warn("dashboard: CSRF token missing or wrong", "user", u.ID, "path", "/dashboard/invite")
			s.render(w, r, http.StatusForbidden, "Invite", "invite", view{CSRF: sess.CSRF, D: accountForm{Invite: info}, Error: "This form expired. Send it again."})
			return
		}
		if info.Merchant {
			s.render(w, r, http.StatusConflict, "Invite", "invite", view{CSRF: sess.CSRF, D: accountForm{Invite: info},
				Error: "This link opens a new merchant account: sign out first."})
			return
		}
		if _, err := s.cfg.Invites.RedeemInvite(ctx, hash, now, nil, u.ID); err != nil {
			s.inviteFailed(w, r, err)
			return
		}
		s.cfg.Log.Info("dashboard: invite accepted", "user", u.ID, "store", inv.StoreID, "role", inv.Role)
		s.redirect(w, r, storePath(inv.StoreID, ""))
		return
	}
	f := accountForm{Invite: info, Email: strings.TrimSpace(r.PostFormValue("email")), EmailFixed: inv.Email != ""}
	if inv.Email != "" {
		f.Email = inv.Email
	}
	if !s.checkForm(r) {
		s.render(w, r, http.StatusForbidden, "Invite", "invite", view{CSRF: s.formToken(w, r), D: f, Error: "This form expired. Send it again."})
		return
	}
	email, err := checkAccount(f.Email, r.PostFormValue("password"), r.PostFormValue("password2"))
	if err != nil {
		s.render(w, r, http.StatusUnprocessableEntity, "Invite", "invite", view{CSRF: s.formToken(w, r), D: f, Error: err.Error()})
		return
	}
	pwHash, err := s.passwords.hash(r.PostFormValue("password"))
	if err != nil {
		s.serverError(w, r, "hash password", err)
		return
	}
	kind := account.KindMember
	if info.Merchant {
		kind = account.KindMerchant
	}
	u := account.User{ID: auth.NewID(), Email: email, PasswordHash: pwHash, Kind: kind, CreatedAt: now}
	_, err = s.cfg.Invites.RedeemInvite(ctx, hash, now, &u, "")
	if errors.Is(err, store.ErrDuplicate) {
		s.render(w, r, http.StatusConflict, "Invite", "invite", view{CSRF: s.formToken(w, r), D: f,
			Error: "An account with this email exists: sign in first, then open this link again."})
		return
	}
	if err != nil {
		s.inviteFailed(w, r, err)
		return
	}
	s.cfg.Log.Info("dashboard: account opened by invite", "user", u.ID, "store", inv.StoreID, "role", inv.Role, "kind", kind)
	if err := s.startSession(w, r, u, account.StageFull); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	if info.Merchant {
		s.redirect(w, r, "/dashboard/stores/new")
		return
	}
	s.redirect(w, r, storePath(inv.StoreID, ""))
}

func (s *Server) inviteFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, account.ErrInviteUnusable) {
		s.message(w, r, http.StatusGone, "Invite link not valid", account.ErrInviteUnusable.Error()+". Ask for a new one.")
		return
	}
	s.serverError(w, r, "redeem invite", err)
}
