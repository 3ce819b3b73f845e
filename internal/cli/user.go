package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/dashboard"
	"github.com/kassa-pay/kassa/internal/store"
)

// stdin is where --password-stdin reads; tests replace it.
var stdin io.Reader = os.Stdin

// readPassword reads one line from stdin: a password, never a flag, so
// it stays out of shell history and process lists.
func readPassword() (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := account.CheckPassword(pw); err != nil {
		return "", err
	}
	return pw, nil
}

// runUser manages dashboard accounts for headless installs: the owner
// account the setup page would make, more users, password and 2FA resets.
func runUser(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "user", map[string]string{
		"create":      "create a dashboard account (password on stdin) and print its id",
		"list":        "list dashboard accounts as JSON",
		"password":    "set an account's password (on stdin) and sign it out everywhere",
		"disable-2fa": "turn an account's two-factor authentication off and sign it out everywhere",
	})
	if err != nil {
		return err
	}
	fs, resolve := flagSet(env, "user "+sub, "user "+sub+" [flags]")
	email := fs.String("email", "", "the account's email (create, password, disable-2fa)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin (create, password)")
	owner := fs.Bool("owner", false, "make an admin account: owner of every store, as the setup page does (create)")
	storeID := fs.String("store", "", "add the account to this store (create)")
	role := fs.String("role", "employee", "its role in --store: owner, manager or employee (create)")
	_, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if sub == "list" {
		return listUsers(ctx, env, db)
	}
	if *email == "" {
		return fmt.Errorf("%w: --email is required", ErrUsage)
	}
	if sub == "create" {
		return createUser(ctx, env, db, *email, *pwStdin, *owner, *storeID, *role, now)
	}
	u, err := db.GetUserByEmail(ctx, *email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no account with email %q", *email)
	}
	if err != nil {
		return err
	}
	switch sub {
	case "password":
		if !*pwStdin {
			return fmt.Errorf("%w: give the password on stdin with --password-stdin", ErrUsage)
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		hash, err := account.HashPassword(pw)
		if err != nil {
			return err
		}
		if err := db.SetPassword(ctx, u.ID, hash, now); err != nil {
			return err
		}
	case "disable-2fa":
		if err := db.DisableTOTP(ctx, u.ID, now); err != nil {
			return err
		}
	}
	n, err := db.DeleteUserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s: done for %s; %d sessions signed out\n", sub, u.Email, n)
	return nil
}

func createUser(ctx context.Context, env Env, db *store.DB, email string, pwStdin, owner bool, storeID, role string, now time.Time) error {
	if !pwStdin {
		return fmt.Errorf("%w: give the password on stdin with --password-stdin", ErrUsage)
	}
	if owner && storeID != "" {
		return fmt.Errorf("%w: --owner is owner of every store already; drop --store", ErrUsage)
	}
	if storeID != "" {
		if _, err := requireStore(ctx, db, storeID); err != nil {
			return err
		}
		if _, ok := account.ParseRole(role); !ok {
			return fmt.Errorf("%w: --role %q is not owner, manager or employee", ErrUsage, role)
		}
	}
	pw, err := readPassword()
	if err != nil {
		return err
	}
	hash, err := account.HashPassword(pw)
	if err != nil {
		return err
	}
	kind := account.KindMember
	if owner {
		kind = account.KindAdmin
	}
	u := account.User{ID: auth.NewID(), Email: account.NormalEmail(email), PasswordHash: hash, Kind: kind, CreatedAt: now}
	if !strings.Contains(u.Email, "@") || len(u.Email) > 254 {
		return fmt.Errorf("%w: --email %q is not an email address", ErrUsage, email)
	}
	if err := db.CreateUser(ctx, u); errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("an account with email %q exists", u.Email)
	} else if err != nil {
		return err
	}
	if storeID != "" {
		if err := db.SetMember(ctx, account.Membership{UserID: u.ID, StoreID: storeID, Role: account.Role(role)}, now); err != nil {
			return err
		}
	}
	fmt.Fprintln(env.Stdout, u.ID)
	what := "account"
	if owner {
		what = "owner account (admin of every store)"
	}
	fmt.Fprintf(env.Stderr, "created %s %s\n", what, u.Email)
	return nil
}

func listUsers(ctx context.Context, env Env, db *store.DB) error {
	users, err := db.ListUsers(ctx)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		stores, err := db.StoresOfUser(ctx, u.ID)
		if err != nil {
			return err
		}
		roles := make([]map[string]string, 0, len(stores))
		for _, s := range stores {
			roles = append(roles, map[string]string{"store": s.Store.ID, "name": s.Store.Name, "role": string(s.Role)})
		}
		out = append(out, map[string]any{"id": u.ID, "email": u.Email, "kind": u.Kind, "twoFactor": u.TOTPSecret != "",
			"created": u.CreatedAt, "stores": roles})
	}
	return printJSON(env, out)
}

// runApplication lists merchant applications (POST /applications, when
// KASSA_SIGNUP is on) and approves them: approving prints a one-time link
// with which the merchant opens their account and creates their stores.
func runApplication(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "application", map[string]string{
		"list":    "list merchant applications as JSON",
		"approve": "approve an application and print the merchant's one-time account link (kassa application approve ID)",
	})
	if err != nil {
		return err
	}
	fs, resolve := flagSet(env, "application "+sub, "application "+sub+" [flags]")
	cfg, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "list" {
		apps, err := db.ListApplications(ctx)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(apps))
		for _, a := range apps {
			out = append(out, map[string]any{"id": a.ID, "email": a.Email, "firstName": a.FirstName, "lastName": a.LastName,
				"phone": a.Phone, "org": a.OrgName, "status": a.Status, "address": a.Address, "created": a.CreatedAt})
		}
		return printJSON(env, out)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: kassa application approve ID", ErrUsage)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	a, err := db.DecideApplication(ctx, fs.Arg(0), "approved", now)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no pending application with id %q", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	link, err := dashboard.NewInvite(ctx, db, cfg.PublicURL, "", account.RoleOwner, a.Email, "operator", now)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, link)
	fmt.Fprintf(env.Stderr, "approved %s (%s); send them this link, valid for %s and usable once\n", a.OrgName, a.Email, dashboard.InviteTTL)
	return nil
}
