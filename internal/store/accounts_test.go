package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
)

func newUser(email string, kind account.Kind) account.User {
	return account.User{ID: auth.NewID(), Email: email, PasswordHash: "$argon2id$test", Kind: kind, CreatedAt: testEpoch}
}

func TestUsers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		if n, err := db.CountUsers(ctx); err != nil || n != 0 {
			t.Fatalf("CountUsers on a new database = %d, %v", n, err)
		}
		// Two set-up forms at once make exactly one first account.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				errs[i] = db.CreateFirstUser(ctx, newUser("owner"+string(rune('a'+i))+"@example.com", "admin"))
			})
		}
		wg.Wait()
		created := 0
		for _, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, account.ErrSetupDone):
				t.Fatalf("CreateFirstUser: %v", err)
			}
		}
		if n, _ := db.CountUsers(ctx); created != 1 || n != 1 {
			t.Fatalf("%d first accounts created, %d users; want 1", created, n)
		}

		u := newUser("Jo@Example.com", "member")
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateUser(ctx, newUser("jo@example.COM", "member")); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("same email in another case: %v, want ErrDuplicate", err)
		}
		got, err := db.GetUserByEmail(ctx, " JO@example.com ")
		if err != nil || got.ID != u.ID || got.Email != "jo@example.com" || got.Kind != "member" {
			t.Fatalf("GetUserByEmail = %+v, %v", got, err)
		}
		if _, err := db.GetUser(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetUser(unknown) = %v", err)
		}
		if err := db.SetPassword(ctx, u.ID, "$argon2id$new", testEpoch); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetUser(ctx, u.ID); got.PasswordHash != "$argon2id$new" {
			t.Fatalf("password hash = %q", got.PasswordHash)
		}
		if err := db.SetPassword(ctx, "nobody", "x", testEpoch); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetPassword(unknown) = %v", err)
		}
		if users, err := db.ListUsers(ctx); err != nil || len(users) != 2 {
			t.Fatalf("ListUsers = %d, %v", len(users), err)
		}
	})
}

func TestTOTPAndRecoveryCodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		u := newUser("a@example.com", "admin")
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := db.SetTOTPPending(ctx, u.ID, "PENDING", testEpoch); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetUser(ctx, u.ID); got.TOTPPending != "PENDING" || got.TOTPSecret != "" {
			t.Fatalf("after SetTOTPPending: %+v", got)
		}
		if err := db.EnableTOTP(ctx, u.ID, "SECRET", 100, []string{"h1", "h2"}, testEpoch); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetUser(ctx, u.ID)
		if got.TOTPSecret != "SECRET" || got.TOTPPending != "" || got.TOTPLastStep != 100 {
			t.Fatalf("after EnableTOTP: %+v", got)
		}
		// A step is accepted once; earlier steps never again.
		for _, tc := range []struct {
			step int64
			ok   bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
			ok, err := db.UseTOTPStep(ctx, u.ID, tc.step)
			if err != nil || ok != tc.ok {
				t.Fatalf("UseTOTPStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.ok)
			}
		}
		if n, _ := db.RecoveryCodesLeft(ctx, u.ID); n != 2 {
			t.Fatalf("%d recovery codes left, want 2", n)
		}
		if ok, err := db.UseRecoveryCode(ctx, u.ID, "h1", testEpoch); err != nil || !ok {
			t.Fatalf("first use of h1 = %v, %v", ok, err)
		}
		if ok, _ := db.UseRecoveryCode(ctx, u.ID, "h1", testEpoch); ok {
			t.Fatal("a recovery code worked twice")
		}
		if ok, _ := db.UseRecoveryCode(ctx, u.ID, "nope", testEpoch); ok {
			t.Fatal("an unknown recovery code worked")
		}
		if n, _ := db.RecoveryCodesLeft(ctx, u.ID); n != 1 {
			t.Fatalf("%d recovery codes left, want 1", n)
		}
		if err := db.ReplaceRecoveryCodes(ctx, u.ID, []string{"h3", "h4", "h5"}); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.UseRecoveryCode(ctx, u.ID, "h2", testEpoch); ok {
			t.Fatal("a replaced recovery code still worked")
		}
		if err := db.DisableTOTP(ctx, u.ID, testEpoch); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetUser(ctx, u.ID); got.TOTPSecret != "" {
			t.Fatalf("after DisableTOTP: %+v", got)
		}
		if n, _ := db.RecoveryCodesLeft(ctx, u.ID); n != 0 {
			t.Fatalf("%d recovery codes left after DisableTOTP", n)
		}
	})
}

func TestSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		u, other := newUser("a@example.com", "admin"), newUser("b@example.com", "member")
		for _, x := range []account.User{u, other} {
			if err := db.CreateUser(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		mk := func(hash, user string, expires time.Time) account.Session {
			s := account.Session{IDHash: hash, UserID: user, Stage: "full", CSRF: "csrf-" + hash, CreatedAt: testEpoch,
				LastSeenAt: testEpoch, ExpiresAt: expires, Address: "127.0.0.1", UserAgent: "test"}
			if err := db.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		s1 := mk("s1", u.ID, testEpoch.Add(time.Hour))
		mk("s2", u.ID, testEpoch.Add(time.Hour))
		mk("s3", other.ID, testEpoch.Add(time.Hour))
		mk("old", other.ID, testEpoch.Add(time.Minute))
		got, err := db.GetSession(ctx, "s1")
		if err != nil || got != s1 {
			t.Fatalf("GetSession = %+v, %v; want %+v", got, err, s1)
		}
		if err := db.TouchSession(ctx, "s1", testEpoch.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetSession(ctx, "s1"); !got.LastSeenAt.Equal(testEpoch.Add(time.Minute)) {
			t.Fatalf("last seen = %v", got.LastSeenAt)
		}
		if n, err := db.DeleteUserSessions(ctx, u.ID); err != nil || n != 2 {
			t.Fatalf("DeleteUserSessions = %d, %v; want 2", n, err)
		}
		if _, err := db.GetSession(ctx, "s2"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("s2 after log out everywhere: %v", err)
		}
		if _, err := db.GetSession(ctx, "s3"); err != nil {
			t.Fatalf("another user's session went too: %v", err)
		}
		if err := db.DeleteExpired(ctx, testEpoch.Add(2*time.Minute), testEpoch.Add(-time.Hour), testEpoch); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetSession(ctx, "old"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired session kept: %v", err)
		}
		if _, err := db.GetSession(ctx, "s3"); err != nil {
			t.Fatalf("live session deleted: %v", err)
		}
		if err := db.DeleteSession(ctx, "s3"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetSession(ctx, "s3"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted session: %v", err)
		}
	})
}

func TestMembershipsAndInvites(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		shop, other := newStore(t, db, 20), newStore(t, db, 20)
		owner := newUser("owner@example.com", "admin")
		if err := db.CreateUser(ctx, owner); err != nil {
			t.Fatal(err)
		}
		if err := db.SetMember(ctx, account.Membership{UserID: owner.ID, StoreID: shop.ID, Role: "owner"}, testEpoch); err != nil {
			t.Fatal(err)
		}
		if role, err := db.MemberRole(ctx, owner.ID, shop.ID); err != nil || role != "owner" {
			t.Fatalf("MemberRole = %q, %v", role, err)
		}
		if _, err := db.MemberRole(ctx, owner.ID, other.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("role in a store not joined: %v", err)
		}
		stores, err := db.StoresOfUser(ctx, owner.ID)
		if err != nil || len(stores) != 1 || stores[0].Store.ID != shop.ID || stores[0].Role != "owner" ||
			stores[0].Store.Name != shop.Name || stores[0].Store.GapLimit != 20 {
			t.Fatalf("StoresOfUser = %+v, %v", stores, err)
		}

		inv := account.Invite{TokenHash: "hash1", ID: auth.NewID(), Kind: "member", StoreID: shop.ID, Role: "employee",
			CreatedBy: owner.ID, CreatedAt: testEpoch, ExpiresAt: testEpoch.Add(time.Hour)}
		if err := db.CreateInvite(ctx, inv); err != nil {
			t.Fatal(err)
		}
		if pending, err := db.PendingInvites(ctx, shop.ID, testEpoch); err != nil || len(pending) != 1 || pending[0].ID != inv.ID {
			t.Fatalf("PendingInvites = %+v, %v", pending, err)
		}
		// Expired: refused, and nothing is created.
		late := newUser("late@example.com", "member")
		if _, err := db.RedeemInvite(ctx, "hash1", testEpoch.Add(time.Hour), &late, ""); !errors.Is(err, account.ErrInviteUnusable) {
			t.Fatalf("expired invite: %v", err)
		}
		if _, err := db.GetUserByEmail(ctx, late.Email); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an expired invite created a user: %v", err)
		}
		// A taken email rolls the whole redemption back: the invite stays usable.
		dup := newUser("owner@example.com", "member")
		if _, err := db.RedeemInvite(ctx, "hash1", testEpoch, &dup, ""); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("invite with a taken email: %v", err)
		}
		emp := newUser("emp@example.com", "member")
		got, err := db.RedeemInvite(ctx, "hash1", testEpoch.Add(time.Minute), &emp, "")
		if err != nil || got.Role != "employee" || got.UsedBy != emp.ID {
			t.Fatalf("RedeemInvite = %+v, %v", got, err)
		}
		if role, _ := db.MemberRole(ctx, emp.ID, shop.ID); role != "employee" {
			t.Fatalf("invited user's role = %q", role)
		}
		// Single use.
		again := newUser("again@example.com", "member")
		if _, err := db.RedeemInvite(ctx, "hash1", testEpoch.Add(time.Minute), &again, ""); !errors.Is(err, account.ErrInviteUnusable) {
			t.Fatalf("second use of an invite: %v", err)
		}
		if _, err := db.RedeemInvite(ctx, "unknown", testEpoch, nil, owner.ID); !errors.Is(err, account.ErrInviteUnusable) {
			t.Fatalf("unknown invite: %v", err)
		}
		// An existing user joins another store through an invite.
		inv2 := account.Invite{TokenHash: "hash2", ID: auth.NewID(), Kind: "member", StoreID: other.ID, Role: "manager",
			CreatedBy: owner.ID, CreatedAt: testEpoch, ExpiresAt: testEpoch.Add(time.Hour)}
		if err := db.CreateInvite(ctx, inv2); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RedeemInvite(ctx, "hash2", testEpoch, nil, emp.ID); err != nil {
			t.Fatal(err)
		}
		if stores, _ := db.StoresOfUser(ctx, emp.ID); len(stores) != 2 {
			t.Fatalf("employee is in %d stores, want 2", len(stores))
		}
		members, err := db.Members(ctx, shop.ID)
		if err != nil || len(members) != 2 || members[0].User.ID != owner.ID || members[1].Role != "employee" {
			t.Fatalf("Members = %+v, %v", members, err)
		}
		// Revoking a pending invite.
		inv3 := account.Invite{TokenHash: "hash3", ID: auth.NewID(), Kind: "member", StoreID: shop.ID, Role: "owner",
			CreatedBy: owner.ID, CreatedAt: testEpoch, ExpiresAt: testEpoch.Add(time.Hour)}
		if err := db.CreateInvite(ctx, inv3); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeInvite(ctx, other.ID, inv3.ID, testEpoch); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoking another store's invite: %v", err)
		}
		if err := db.RevokeInvite(ctx, shop.ID, inv3.ID, testEpoch); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RedeemInvite(ctx, "hash3", testEpoch, nil, emp.ID); !errors.Is(err, account.ErrInviteUnusable) {
			t.Fatalf("revoked invite: %v", err)
		}
		if err := db.RemoveMember(ctx, emp.ID, shop.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.RemoveMember(ctx, emp.ID, shop.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("removing twice: %v", err)
		}
	})
}

func TestLoginFailures(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		for i := 1; i <= 3; i++ {
			n, err := db.RecordLoginFailure(ctx, "acct:a", testEpoch.Add(time.Duration(i)*time.Second), testEpoch.Add(-time.Hour))
			if err != nil || n != i {
				t.Fatalf("failure %d counted as %d, %v", i, n, err)
			}
		}
		n, last, err := db.LoginFailures(ctx, "acct:a")
		if err != nil || n != 3 || !last.Equal(testEpoch.Add(3*time.Second)) {
			t.Fatalf("LoginFailures = %d, %v, %v", n, last, err)
		}
		// A count gone quiet for longer than the reset window starts over.
		if n, _ := db.RecordLoginFailure(ctx, "acct:a", testEpoch.Add(2*time.Hour), testEpoch.Add(time.Hour)); n != 1 {
			t.Fatalf("count after a quiet hour = %d, want 1", n)
		}
		if err := db.ResetLoginFailures(ctx, "acct:a"); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := db.LoginFailures(ctx, "acct:a"); n != 0 {
			t.Fatalf("after reset: %d", n)
		}
	})
}

func TestApplications(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		a := Application{ID: auth.NewID(), Email: "Sat@Example.com", FirstName: "Satoshi", OrgName: "Widgets",
			Body: `{"users":[]}`, Status: "pending", Address: "192.0.2.1", CreatedAt: testEpoch}
		if err := db.CreateApplication(ctx, a); err != nil {
			t.Fatal(err)
		}
		list, err := db.ListApplications(ctx)
		if err != nil || len(list) != 1 || list[0].Email != "sat@example.com" || list[0].Status != "pending" {
			t.Fatalf("ListApplications = %+v, %v", list, err)
		}
		got, err := db.DecideApplication(ctx, a.ID, "approved", testEpoch.Add(time.Hour))
		if err != nil || got.Status != "approved" || !got.DecidedAt.Equal(testEpoch.Add(time.Hour)) {
			t.Fatalf("DecideApplication = %+v, %v", got, err)
		}
		if _, err := db.DecideApplication(ctx, a.ID, "approved", testEpoch); !errors.Is(err, ErrNotFound) {
			t.Fatalf("approving twice: %v", err)
		}
	})
}

func TestUpdateStoreSettings(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		st := newStore(t, db, 20)
		st.Name, st.GapLimit, st.DefaultCurrency, st.Key = "Renamed <b>", 30, "EUR", "tpubOTHER"
		if err := db.UpdateStoreSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetStore(ctx, st.ID)
		if got.Name != "Renamed <b>" || got.GapLimit != 30 || got.DefaultCurrency != "EUR" || got.Key != "tpubOTHER" {
			t.Fatalf("after update: %+v", got)
		}
		if has, err := db.StoreHasInvoices(ctx, st.ID); err != nil || has {
			t.Fatalf("StoreHasInvoices before any = %v, %v", has, err)
		}
		mustCreate(t, db, newInvoice(st.ID))
		if has, _ := db.StoreHasInvoices(ctx, st.ID); !has {
			t.Fatal("StoreHasInvoices = false with an invoice")
		}
		// With an invoice the key is locked; everything else still changes.
		locked := got
		locked.Key, locked.Name = "tpubTHIRD", "Third"
		if err := db.UpdateStoreSettings(ctx, locked); !errors.Is(err, ErrKeyLocked) {
			t.Fatalf("key change with invoices: %v, want ErrKeyLocked", err)
		}
		if again, _ := db.GetStore(ctx, st.ID); again.Name != "Renamed <b>" || again.Key != "tpubOTHER" {
			t.Fatalf("a refused update changed the store: %+v", again)
		}
		got.Name = "Kept key"
		if err := db.UpdateStoreSettings(ctx, got); err != nil {
			t.Fatal(err)
		}
		got.ID = "nope"
		if err := db.UpdateStoreSettings(ctx, got); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown store: %v", err)
		}
	})
}
