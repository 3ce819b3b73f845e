package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
)

func TestMigrateIsIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		url := b.open(t)
		db := openDB(t, url)
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		// Several processes migrating at once apply each migration once.
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() {
				other, err := Open(ctx, url)
				if err != nil {
					errs[i] = err
					return
				}
				defer other.Close()
				errs[i] = other.Migrate(ctx)
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent migrate: %v", err)
			}
		}
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.sql.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		if db.Dialect() != b.name {
			t.Errorf("Dialect() = %q, want %q", db.Dialect(), b.name)
		}
	})
}

func TestSQLiteDSN(t *testing.T) {
	tests := []struct{ url, path string }{
		{"sqlite:/var/lib/kassa/kassa.db", "/var/lib/kassa/kassa.db"},
		{"file:/var/lib/kassa/kassa.db", "/var/lib/kassa/kassa.db"},
		{"sqlite:///var/lib/kassa/kassa.db", "/var/lib/kassa/kassa.db"},
		{"kassa.db", "kassa.db"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			dsn := sqliteDSN(tt.url)
			want := tt.path + "?_pragma=busy_timeout%2810000%29&_pragma=journal_mode%28WAL%29" +
				"&_pragma=synchronous%28FULL%29&_pragma=foreign_keys%281%29&_pragma=wal_autocheckpoint%280%29" +
				"&_pragma=cache_size%28-65536%29&_txlock=immediate"
			if dsn != want {
				t.Errorf("sqliteDSN(%q) = %q, want %q", tt.url, dsn, want)
			}
		})
	}
}

func TestStores(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 20)
		got, err := db.GetStore(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Errorf("GetStore = %+v, want %+v", got, s)
		}
		if err := db.CreateStore(ctx, s); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second CreateStore error = %v, want ErrDuplicate", err)
		}
		if _, err := db.GetStore(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetStore(missing) error = %v, want ErrNotFound", err)
		}
		s2 := s
		s2.ID, s2.Name, s2.CreatedAt = auth.NewID(), "Second", s.CreatedAt.Add(time.Hour)
		if err := db.CreateStore(ctx, s2); err != nil {
			t.Fatal(err)
		}
		all, err := db.ListStores(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0] != s || all[1] != s2 {
			t.Errorf("ListStores = %+v, want [%+v %+v]", all, s, s2)
		}
		if run, err := db.GapRun(ctx, s.ID); err != nil || run != 0 {
			t.Errorf("GapRun of a new store = %d, %v; want 0", run, err)
		}
		if _, err := db.GapRun(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GapRun(missing) error = %v, want ErrNotFound", err)
		}
	})
}

func TestTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 20)
		pending := auth.Token{
			Value: auth.NewTokenValue(), StoreID: s.ID, Facade: auth.FacadePOS, Label: "till 1",
			SIN: "TfG7qRZ2Ccdo3MWYVXhp7GRJmtJvAxXYzWe", PairingCode: "AbCdEf2",
			PairingExpiresAt: testEpoch.Add(auth.PairingTTL), CreatedAt: testEpoch,
		}
		bearer := auth.Token{
			Value: auth.NewTokenValue(), StoreID: s.ID, Facade: auth.FacadeMerchant, Label: "erp",
			Active: true, CreatedAt: testEpoch.Add(time.Minute), LastUsedAt: testEpoch.Add(2 * time.Minute),
		}
		for _, tok := range []auth.Token{pending, bearer} {
			if err := db.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		dupCode := bearer
		dupCode.Value, dupCode.PairingCode = auth.NewTokenValue(), pending.PairingCode
		if err := db.CreateToken(ctx, dupCode); !errors.Is(err, ErrDuplicate) {
			t.Errorf("CreateToken with a taken pairing code error = %v, want ErrDuplicate", err)
		}

		if got, err := db.GetToken(ctx, bearer.Value); err != nil || got != bearer {
			t.Errorf("GetToken = %+v, %v; want %+v", got, err, bearer)
		}
		if got, err := db.GetTokenByPairingCode(ctx, "AbCdEf2"); err != nil || got != pending {
			t.Errorf("GetTokenByPairingCode = %+v, %v; want %+v", got, err, pending)
		}
		for _, code := range []string{"", "zzzzzzz"} {
			if _, err := db.GetTokenByPairingCode(ctx, code); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetTokenByPairingCode(%q) error = %v, want ErrNotFound", code, err)
			}
		}
		if _, err := db.GetToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetToken(nope) error = %v, want ErrNotFound", err)
		}

		// Approving the pairing activates the token and frees the code.
		approved := pending
		approved.Active, approved.PairingCode, approved.PairingExpiresAt = true, "", time.Time{}
		if err := db.UpdateToken(ctx, approved); err != nil {
			t.Fatal(err)
		}
		if got, err := db.GetToken(ctx, pending.Value); err != nil || got != approved {
			t.Errorf("GetToken after update = %+v, %v; want %+v", got, err, approved)
		}
		if _, err := db.GetTokenByPairingCode(ctx, pending.PairingCode); !errors.Is(err, ErrNotFound) {
			t.Errorf("lookup of a used pairing code error = %v, want ErrNotFound", err)
		}
		missing := bearer
		missing.Value = "missing"
		if err := db.UpdateToken(ctx, missing); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateToken(missing) error = %v, want ErrNotFound", err)
		}

		list, err := db.ListTokens(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0] != approved || list[1] != bearer {
			t.Errorf("ListTokens = %+v, want [approved, bearer]", list)
		}
		bySIN, err := db.TokensBySIN(ctx, pending.SIN)
		if err != nil {
			t.Fatal(err)
		}
		if len(bySIN) != 1 || bySIN[0] != approved {
			t.Errorf("TokensBySIN = %+v, want [approved]", bySIN)
		}
		if none, err := db.TokensBySIN(ctx, ""); err != nil || len(none) != 0 {
			t.Errorf("TokensBySIN(\"\") = %+v, %v; want none", none, err)
		}
	})
}

func TestCreateAfterClose(t *testing.T) {
	db, err := Open(context.Background(), "sqlite:"+t.TempDir()+"/kassa.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = db.CreateInvoice(context.Background(), newInvoice("s"), nil, testAddress)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("CreateInvoice after Close error = %v, want ErrClosed", err)
	}
}

func TestSQLitePragmas(t *testing.T) {
	db := newDB(t, backends()[0])
	for _, tt := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"wal_autocheckpoint", "0"},
	} {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := db.sql.QueryRow(`PRAGMA ` + tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
			}
		})
	}
}

// TestParkedTokens: a client-requested token without a store waits in
// parked_tokens until PlaceToken approves it into a store (once) or drops
// it; parking sweeps requests that expired.
func TestParkedTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 20)
		park := func(code string, created time.Time) auth.Token {
			t.Helper()
			tok := auth.Token{Value: auth.NewTokenValue(), Facade: auth.FacadeMerchant, Label: "crm",
				SIN: "TfG7qRZ2Ccdo3MWYVXhp7GRJmtJvAxXYzWe", PairingCode: code,
				PairingExpiresAt: created.Add(auth.PairingTTL), CreatedAt: created}
			if err := db.ParkToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			return tok
		}
		if err := db.ParkToken(ctx, auth.Token{Value: "v", StoreID: s.ID, PairingCode: "AAAAAAA"}); err == nil {
			t.Error("ParkToken of a token with a store succeeded")
		}
		old := park("Old0001", testEpoch.Add(-48*time.Hour))
		a := park("Park001", testEpoch)
		dup := a
		dup.Value = auth.NewTokenValue()
		if err := db.ParkToken(ctx, dup); !errors.Is(err, ErrDuplicate) {
			t.Errorf("ParkToken with a taken code = %v, want ErrDuplicate", err)
		}
		if _, err := db.GetParkedToken(ctx, old.PairingCode); !errors.Is(err, ErrNotFound) {
			t.Errorf("an expired parked token was not swept: %v", err)
		}
		if got, err := db.GetParkedToken(ctx, a.PairingCode); err != nil || got != a {
			t.Errorf("GetParkedToken = %+v, %v; want %+v", got, err, a)
		}
		if _, err := db.GetToken(ctx, a.Value); !errors.Is(err, ErrNotFound) {
			t.Errorf("a parked token authenticates: %v", err)
		}

		placed, err := db.PlaceToken(ctx, a.PairingCode, s.ID, true)
		want := a
		want.StoreID, want.Active = s.ID, true
		if err != nil || placed != want {
			t.Fatalf("PlaceToken = %+v, %v; want %+v", placed, err, want)
		}
		if got, err := db.GetToken(ctx, a.Value); err != nil || got != want {
			t.Errorf("GetToken of the placed token = %+v, %v", got, err)
		}
		if _, err := db.PlaceToken(ctx, a.PairingCode, s.ID, true); !errors.Is(err, ErrNotFound) {
			t.Errorf("second PlaceToken = %v, want ErrNotFound", err)
		}

		d := park("Park002", testEpoch)
		if _, err := db.PlaceToken(ctx, d.PairingCode, "", false); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetParkedToken(ctx, d.PairingCode); !errors.Is(err, ErrNotFound) {
			t.Errorf("a denied token is still parked: %v", err)
		}
		if _, err := db.GetToken(ctx, d.Value); !errors.Is(err, ErrNotFound) {
			t.Errorf("a denied token became a token: %v", err)
		}
	})
}
