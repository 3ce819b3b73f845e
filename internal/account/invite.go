package account

import (
	"errors"
	"time"
)

// ErrInviteUnusable is returned for an invite that was used, has expired
// or does not exist.
var ErrInviteUnusable = errors.New("this invite link was used, has expired or does not exist")

// Invite is a one-time link: to join a store with a role (kind member),
// or to open a merchant account (kind merchant, for an approved
// application). Only the hash of the link's secret is stored.
type Invite struct {
	TokenHash string
	ID        string // shown in lists, to revoke by
	Kind      Kind   // KindMember or KindMerchant: the account it opens
	StoreID   string // "" for a merchant invite
	Role      Role
	// Email, when set, is the only address the invite opens an account for.
	Email     string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
	UsedBy    string
}

// Usable reports whether the invite may still be redeemed at now: it was
// not used and has not expired.
func (i Invite) Usable(now time.Time) bool { return i.UsedAt.IsZero() && now.Before(i.ExpiresAt) }
