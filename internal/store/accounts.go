package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/pglock"
)

// The dashboard's accounts (migration 0004): users, their sessions,
// recovery codes and store memberships, one-time invites, the sign-in
// throttle's counters and merchant applications. The records and their
// rules (roles, expiry, password hashing) are package account's, TOTP is
// package dashboard's; this file stores them.

// ErrKeyLocked is returned by UpdateStoreSettings when the receiving
// key would change on a store that has invoices.
var ErrKeyLocked = merchant.ErrKeyLocked

const userColumns = `id, email, password_hash, kind, totp_secret, totp_pending, totp_last_step, created_at, updated_at`

func scanUser(r scanner) (account.User, error) {
	var (
		u                account.User
		created, updated int64
	)
	err := r.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Kind, &u.TOTPSecret, &u.TOTPPending, &u.TOTPLastStep,
		&created, &updated)
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	return u, err
}

func insertUser(ctx context.Context, tx *sql.Tx, u account.User) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, strings.ToLower(u.Email), u.PasswordHash, string(u.Kind), u.TOTPSecret, u.TOTPPending, u.TOTPLastStep,
		millis(u.CreatedAt), millis(u.CreatedAt))
	return dupErr(err)
}

// CountUsers returns how many accounts exist; zero means first run.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CreateUser inserts an account; a taken email fails with ErrDuplicate.
func (db *DB) CreateUser(ctx context.Context, u account.User) error {
	if err := db.writeTx(ctx, func(tx *sql.Tx) error { return insertUser(ctx, tx, u) }); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// CreateFirstUser inserts the first account, or fails with
// account.ErrSetupDone when any account exists: two set-up forms sent at
// once make one owner.
func (db *DB) CreateFirstUser(ctx context.Context, u account.User) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if db.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pglock.Account); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return account.ErrSetupDone
		}
		return insertUser(ctx, tx, u)
	})
	if err != nil {
		return fmt.Errorf("create first user: %w", err)
	}
	return nil
}

// GetUser loads an account by id or fails with ErrNotFound.
func (db *DB) GetUser(ctx context.Context, id string) (account.User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return account.User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	return u, nil
}

// GetUserByEmail loads an account by email, in any case, or fails with
// ErrNotFound.
func (db *DB) GetUserByEmail(ctx context.Context, email string) (account.User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`,
		account.NormalEmail(email)))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return account.User{}, fmt.Errorf("load user by email: %w", err)
	}
	return u, nil
}

// ListUsers returns every account, oldest first.
func (db *DB) ListUsers(ctx context.Context) ([]account.User, error) {
	out, err := queryAll(ctx, db, scanUser, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// updateUser runs one UPDATE on a user row and fails with ErrNotFound
// when no row matched.
func (db *DB) updateUser(ctx context.Context, what, query string, args ...any) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, query, args...)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// SetPassword replaces an account's password hash.
func (db *DB) SetPassword(ctx context.Context, userID, hash string, at time.Time) error {
	return db.updateUser(ctx, "set password of user "+userID,
		`UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1`, userID, hash, millis(at))
}

// SetTOTPPending stores a second-factor secret being enrolled ("" to drop
// it); the one in use does not change.
func (db *DB) SetTOTPPending(ctx context.Context, userID, secret string, at time.Time) error {
	return db.updateUser(ctx, "set pending TOTP of user "+userID,
		`UPDATE users SET totp_pending = $2, updated_at = $3 WHERE id = $1`, userID, secret, millis(at))
}

// EnableTOTP turns the second factor on with secret, marking step as
// used (the code that confirmed the enrolment), and replaces the recovery
// codes with codeHashes, in one transaction.
func (db *DB) EnableTOTP(ctx context.Context, userID, secret string, step int64, codeHashes []string, at time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		err := execOne(ctx, tx, `UPDATE users SET totp_secret = $2, totp_pending = '', totp_last_step = $3,
			updated_at = $4 WHERE id = $1`, userID, secret, step, millis(at))
		if err != nil {
			return err
		}
		return replaceCodes(ctx, tx, userID, codeHashes)
	})
	if err != nil {
		return fmt.Errorf("enable TOTP of user %s: %w", userID, err)
	}
	return nil
}

// DisableTOTP turns the second factor off and deletes the recovery codes.
func (db *DB) DisableTOTP(ctx context.Context, userID string, at time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		err := execOne(ctx, tx, `UPDATE users SET totp_secret = '', totp_pending = '', updated_at = $2
			WHERE id = $1`, userID, millis(at))
		if err != nil {
			return err
		}
		return replaceCodes(ctx, tx, userID, nil)
	})
	if err != nil {
		return fmt.Errorf("disable TOTP of user %s: %w", userID, err)
	}
	return nil
}

// ReplaceRecoveryCodes drops an account's recovery codes and stores
// codeHashes instead.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, codeHashes []string) error {
	if err := db.writeTx(ctx, func(tx *sql.Tx) error { return replaceCodes(ctx, tx, userID, codeHashes) }); err != nil {
		return fmt.Errorf("replace recovery codes of user %s: %w", userID, err)
	}
	return nil
}

func replaceCodes(ctx context.Context, tx *sql.Tx, userID string, hashes []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)`, userID, h); err != nil {
			return dupErr(err)
		}
	}
	return nil
}

// UseTOTPStep records that a code of this 30-second step was accepted and
// reports whether it was the first use: false when the step, or a later
// one, was used already. Concurrent logins with one code: one wins.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	var ok bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`,
			userID, step)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("use TOTP step of user %s: %w", userID, err)
	}
	return ok, nil
}

// UseRecoveryCode spends the unused recovery code with this hash and
// reports whether there was one.
func (db *DB) UseRecoveryCode(ctx context.Context, userID, codeHash string, at time.Time) (bool, error) {
	var ok bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $3
			WHERE user_id = $1 AND code_hash = $2 AND used_at = 0`, userID, codeHash, millis(at))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("use recovery code of user %s: %w", userID, err)
	}
	return ok, nil
}

// RecoveryCodesLeft counts an account's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at = 0`,
		userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recovery codes of user %s: %w", userID, err)
	}
	return n, nil
}

const sessionColumns = `id_hash, user_id, stage, csrf, created_at, last_seen_at, expires_at, address, user_agent`

// CreateSession stores a session.
func (db *DB) CreateSession(ctx context.Context, s account.Session) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			s.IDHash, s.UserID, string(s.Stage), s.CSRF, millis(s.CreatedAt), millis(s.LastSeenAt), millis(s.ExpiresAt),
			s.Address, s.UserAgent)
		return dupErr(err)
	})
	if err != nil {
		return fmt.Errorf("create session of user %s: %w", s.UserID, err)
	}
	return nil
}

// GetSession loads a session by the hash of its id or fails with
// ErrNotFound. Expiry is the caller's to check.
func (db *DB) GetSession(ctx context.Context, idHash string) (account.Session, error) {
	var (
		s                      account.Session
		created, seen, expires int64
	)
	err := db.sql.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id_hash = $1`, idHash).
		Scan(&s.IDHash, &s.UserID, &s.Stage, &s.CSRF, &created, &seen, &expires, &s.Address, &s.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return account.Session{}, fmt.Errorf("load session: %w", err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMillis(created), fromMillis(seen), fromMillis(expires)
	return s, nil
}

// TouchSession moves a session's last use to at.
func (db *DB) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1`, idHash, millis(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session; an unknown one is no error.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of an account ("log out
// everywhere") and returns how many there were.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %s: %w", userID, err)
	}
	return int(n), nil
}

// DeleteExpired drops sessions past their absolute expiry or idle since
// idleBefore, and throttle counters last bumped before failuresBefore.
func (db *DB) DeleteExpired(ctx context.Context, now, idleBefore, failuresBefore time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2`,
			millis(now), millis(idleBefore)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE last_failure_at < $1`, millis(failuresBefore))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}

// SetMember gives a user a role in a store, replacing any role it had.
func (db *DB) SetMember(ctx context.Context, m account.Membership, at time.Time) error {
	if err := db.writeTx(ctx, func(tx *sql.Tx) error { return upsertMember(ctx, tx, m, at) }); err != nil {
		return fmt.Errorf("add user %s to store %s: %w", m.UserID, m.StoreID, err)
	}
	return nil
}

func upsertMember(ctx context.Context, tx *sql.Tx, m account.Membership, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO memberships (user_id, store_id, role, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, store_id) DO UPDATE SET role = excluded.role`, m.UserID, m.StoreID, string(m.Role), millis(at))
	return err
}

// RemoveMember takes a user out of a store; ErrNotFound when it was not in.
func (db *DB) RemoveMember(ctx context.Context, userID, storeID string) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, `DELETE FROM memberships WHERE user_id = $1 AND store_id = $2`, userID, storeID)
	})
	if err != nil {
		return fmt.Errorf("remove user %s from store %s: %w", userID, storeID, err)
	}
	return nil
}

// MemberRole returns a user's role in a store or fails with ErrNotFound.
func (db *DB) MemberRole(ctx context.Context, userID, storeID string) (account.Role, error) {
	var role account.Role
	err := db.sql.QueryRowContext(ctx, `SELECT role FROM memberships WHERE user_id = $1 AND store_id = $2`,
		userID, storeID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("role of user %s in store %s: %w", userID, storeID, err)
	}
	return role, nil
}

// StoreRole is a store with a user's role in it.
type StoreRole struct {
	Store merchant.Store
	Role  account.Role
}

// StoresOfUser returns the stores a user is a member of, oldest first.
func (db *DB) StoresOfUser(ctx context.Context, userID string) ([]StoreRole, error) {
	scan := func(r scanner) (StoreRole, error) {
		var role account.Role
		st, err := scanStore(prefixScanner{r, &role})
		return StoreRole{Store: st, Role: role}, err
	}
	out, err := queryAll(ctx, db, scan, `SELECT m.role, s.`+strings.ReplaceAll(storeReadColumns, ", ", ", s.")+`
		FROM memberships m JOIN stores s ON s.id = m.store_id WHERE m.user_id = $1 ORDER BY s.created_at, s.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("stores of user %s: %w", userID, err)
	}
	return out, nil
}

// prefixScanner scans one extra leading column into first before the
// columns scanStore reads.
type prefixScanner struct {
	r     scanner
	first any
}

func (p prefixScanner) Scan(dest ...any) error { return p.r.Scan(append([]any{p.first}, dest...)...) }

// Member is a user of a store, as listed.
type Member struct {
	User account.User
	Role account.Role
}

// Members returns a store's users, oldest membership first.
func (db *DB) Members(ctx context.Context, storeID string) ([]Member, error) {
	scan := func(r scanner) (Member, error) {
		var role account.Role
		u, err := scanUser(prefixScanner{r, &role})
		return Member{User: u, Role: role}, err
	}
	out, err := queryAll(ctx, db, scan, `SELECT m.role, u.`+strings.ReplaceAll(userColumns, ", ", ", u.")+`
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.store_id = $1 ORDER BY m.created_at, u.id`, storeID)
	if err != nil {
		return nil, fmt.Errorf("members of store %s: %w", storeID, err)
	}
	return out, nil
}

const inviteColumns = `token_hash, id, kind, store_id, role, email, created_by, created_at, expires_at, used_at, used_by`

func scanInvite(r scanner) (account.Invite, error) {
	var (
		i                      account.Invite
		created, expires, used int64
	)
	err := r.Scan(&i.TokenHash, &i.ID, &i.Kind, &i.StoreID, &i.Role, &i.Email, &i.CreatedBy, &created, &expires,
		&used, &i.UsedBy)
	i.CreatedAt, i.ExpiresAt, i.UsedAt = fromMillis(created), fromMillis(expires), fromMillis(used)
	return i, err
}

// CreateInvite stores an invite.
func (db *DB) CreateInvite(ctx context.Context, i account.Invite) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO invites (`+inviteColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, '')`,
			i.TokenHash, i.ID, string(i.Kind), i.StoreID, string(i.Role), strings.ToLower(i.Email), i.CreatedBy, millis(i.CreatedAt),
			millis(i.ExpiresAt))
		return dupErr(err)
	})
	if err != nil {
		return fmt.Errorf("create invite: %w", err)
	}
	return nil
}

// GetInvite loads an invite by the hash of its secret or fails with
// ErrNotFound; whether it is still usable is the caller's to check.
func (db *DB) GetInvite(ctx context.Context, tokenHash string) (account.Invite, error) {
	i, err := scanInvite(db.sql.QueryRowContext(ctx, `SELECT `+inviteColumns+` FROM invites WHERE token_hash = $1`, tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return account.Invite{}, fmt.Errorf("load invite: %w", err)
	}
	return i, nil
}

// PendingInvites returns a store's unused, unexpired invites, oldest first.
func (db *DB) PendingInvites(ctx context.Context, storeID string, now time.Time) ([]account.Invite, error) {
	out, err := queryAll(ctx, db, scanInvite, `SELECT `+inviteColumns+` FROM invites
		WHERE store_id = $1 AND used_at = 0 AND expires_at > $2 ORDER BY created_at, id`, storeID, millis(now))
	if err != nil {
		return nil, fmt.Errorf("invites of store %s: %w", storeID, err)
	}
	return out, nil
}

// RevokeInvite makes a store's pending invite unusable; ErrNotFound when
// the store has no such pending invite.
func (db *DB) RevokeInvite(ctx context.Context, storeID, id string, at time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, `UPDATE invites SET expires_at = $3 WHERE store_id = $1 AND id = $2 AND used_at = 0
			AND expires_at > $3`, storeID, id, millis(at))
	})
	if err != nil {
		return fmt.Errorf("revoke invite %s: %w", id, err)
	}
	return nil
}

// RedeemInvite spends an invite, in one transaction with what it grants:
// newUser, when not nil, is created (ErrDuplicate for a taken email);
// then userID (newUser's id if created) joins the invite's store with its
// role. An invite that was used, has expired or is unknown fails with
// account.ErrInviteUnusable and changes nothing.
func (db *DB) RedeemInvite(ctx context.Context, tokenHash string, now time.Time, newUser *account.User, userID string) (account.Invite, error) {
	var inv account.Invite
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if newUser != nil {
			userID = newUser.ID
		}
		res, err := tx.ExecContext(ctx, `UPDATE invites SET used_at = $2, used_by = $3
			WHERE token_hash = $1 AND used_at = 0 AND expires_at > $2`, tokenHash, millis(now), userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return account.ErrInviteUnusable
		}
		inv, err = scanInvite(tx.QueryRowContext(ctx, `SELECT `+inviteColumns+` FROM invites WHERE token_hash = $1`, tokenHash))
		if err != nil {
			return err
		}
		if newUser != nil {
			if err := insertUser(ctx, tx, *newUser); err != nil {
				return err
			}
		}
		if inv.StoreID != "" {
			return upsertMember(ctx, tx, account.Membership{UserID: userID, StoreID: inv.StoreID, Role: inv.Role}, now)
		}
		return nil
	})
	if err != nil {
		return account.Invite{}, fmt.Errorf("redeem invite: %w", err)
	}
	return inv, nil
}

// LoginFailures returns the failed sign-ins counted under key (an account
// or a client address) and when the last one was.
func (db *DB) LoginFailures(ctx context.Context, key string) (int, time.Time, error) {
	var (
		n    int
		last int64
	)
	err := db.sql.QueryRowContext(ctx, `SELECT failures, last_failure_at FROM login_failures WHERE key = $1`, key).
		Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("load login failures: %w", err)
	}
	return n, fromMillis(last), nil
}

// RecordLoginFailure counts one more failed sign-in under key and returns
// the new count. A count whose last failure is older than resetBefore
// starts again from one.
func (db *DB) RecordLoginFailure(ctx context.Context, key string, at, resetBefore time.Time) (int, error) {
	var n int
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO login_failures (key, failures, last_failure_at) VALUES ($1, 1, $2)
			ON CONFLICT (key) DO UPDATE SET
				failures = CASE WHEN login_failures.last_failure_at < $3 THEN 1 ELSE login_failures.failures + 1 END,
				last_failure_at = $2
			RETURNING failures`, key, millis(at), millis(resetBefore)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("record login failure: %w", err)
	}
	return n, nil
}

// ResetLoginFailures forgets the failed sign-ins under key.
func (db *DB) ResetLoginFailures(ctx context.Context, key string) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}

// Application is a merchant application (seed 002, POST /applications)
// waiting for the operator.
type Application struct {
	ID        string
	Email     string
	FirstName string
	LastName  string
	Phone     string
	OrgName   string
	// Body is the application as sent, JSON, bounded by the API.
	Body      string
	Status    string // pending or approved
	Address   string // the client address it came from
	CreatedAt time.Time
	DecidedAt time.Time
}

const applicationColumns = `id, email, first_name, last_name, phone, org_name, body, status, address, created_at, decided_at`

func scanApplication(r scanner) (Application, error) {
	var (
		a                Application
		created, decided int64
	)
	err := r.Scan(&a.ID, &a.Email, &a.FirstName, &a.LastName, &a.Phone, &a.OrgName, &a.Body, &a.Status, &a.Address,
		&created, &decided)
	a.CreatedAt, a.DecidedAt = fromMillis(created), fromMillis(decided)
	return a, err
}

// CreateApplication stores a merchant application.
func (db *DB) CreateApplication(ctx context.Context, a Application) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO applications (`+applicationColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)`,
			a.ID, strings.ToLower(a.Email), a.FirstName, a.LastName, a.Phone, a.OrgName, a.Body, a.Status, a.Address,
			millis(a.CreatedAt))
		return dupErr(err)
	})
	if err != nil {
		return fmt.Errorf("create application: %w", err)
	}
	return nil
}

// ListApplications returns the merchant applications, oldest first.
func (db *DB) ListApplications(ctx context.Context) ([]Application, error) {
	out, err := queryAll(ctx, db, scanApplication, `SELECT `+applicationColumns+` FROM applications ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	return out, nil
}

// DecideApplication moves a pending application to status (approved) and
// returns it; ErrNotFound when there is no pending application with id.
func (db *DB) DecideApplication(ctx context.Context, id, status string, at time.Time) (Application, error) {
	var a Application
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		err := execOne(ctx, tx, `UPDATE applications SET status = $2, decided_at = $3
			WHERE id = $1 AND status = 'pending'`, id, status, millis(at))
		if err != nil {
			return err
		}
		a, err = scanApplication(tx.QueryRowContext(ctx, `SELECT `+applicationColumns+` FROM applications WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return Application{}, fmt.Errorf("decide application %s: %w", id, err)
	}
	return a, nil
}

// StoreHasInvoices reports whether any invoice was made for the store.
func (db *DB) StoreHasInvoices(ctx context.Context, storeID string) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM invoices WHERE store_id = $1 LIMIT 1) x`,
		storeID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("invoices of store %s: %w", storeID, err)
	}
	return n > 0, nil
}

// UpdateStoreSettings stores a store's name, default currency, speed,
// expiry, gap limit and receiving key. The key (and its network) may only
// change while the store has no invoice: otherwise ErrKeyLocked, and
// nothing changes. An unknown store fails with ErrNotFound.
func (db *DB) UpdateStoreSettings(ctx context.Context, s merchant.Store) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		// The key-lock rule is merchant's; it is applied here, inside the
		// transaction, so no invoice can be created between the check
		// and the change.
		var old merchant.Store
		err := tx.QueryRowContext(ctx, `SELECT key, network FROM stores WHERE id = $1`, s.ID).Scan(&old.Key, &old.Network)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM invoices WHERE store_id = $1 LIMIT 1) x`,
			s.ID).Scan(&n); err != nil {
			return err
		}
		if err := old.CheckKeyChange(s, n > 0); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE stores SET name = $2, default_currency = $3, speed = $4, expiry_ms = $5,
			gap_limit = $6, key = $7, network = $8, invoice_limits = $9, fee_floor = $10, fee_ceiling = $11, auto_refunds = $12 WHERE id = $1`,
			s.ID, s.Name, s.DefaultCurrency, string(s.Speed), s.Expiry.Milliseconds(), s.GapLimit, s.Key, s.Network,
			limitsColumn(s.InvoiceLimits), int64(s.FeeFloor), int64(s.FeeCeiling), !s.NoAutoRefunds)
		return err
	})
	if err != nil {
		return fmt.Errorf("update store %s: %w", s.ID, err)
	}
	return nil
}
