package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/sample"
	"github.com/shopspring/decimal"
)

// dashRow is a seeded invoice with its sequence number.
type dashRow struct {
	inv invoice.Invoice
	seq int64
}

func (r dashRow) cursor() Cursor { return Cursor{CreatedAt: millis(r.inv.CreatedAt), Seq: r.seq} }

// seedDashboard seeds n sample invoices of a new store, three to each
// creation millisecond (so the list's tie-break on seq is exercised), with
// a few hand-made ones among them, and returns them in seq order.
func seedDashboard(tb testing.TB, db *DB, n int, start time.Time) (string, []dashRow) {
	tb.Helper()
	ctx := context.Background()
	if err := db.MigrateSearch(ctx); err != nil {
		tb.Fatal(err)
	}
	s := newStore(tb, db, 20)
	byID := map[string]invoice.Invoice{}
	err := db.SeedInvoices(ctx, n, func(i int, inv *invoice.Invoice) {
		sample.Invoice(s.ID, start, 0, i, inv)
		inv.CreatedAt = start.Add(time.Duration(i/3) * 7 * time.Minute)
		switch i {
		case 7: // formula text in every field a buyer or merchant sets
			inv.Fields.OrderID, inv.Fields.ItemDesc, inv.Fields.Buyer.Email = "+1-555", "=HYPERLINK(\"x\")", "@evil"
		case 42: // matches a search by order id and by email: listed once
			inv.Fields.OrderID = "buyer00042@example.com"
		case 43:
			inv.Fields.Buyer.Email = "Mixed.Case@Example.COM"
			inv.Fields.ItemDesc = strings.Repeat("Long description ", 10)
		}
		byID[inv.ID] = *inv
	})
	if err != nil {
		tb.Fatal(err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, seq FROM invoices WHERE store_id = $1 ORDER BY seq`, s.ID)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []dashRow
	for rows.Next() {
		var (
			id  string
			seq int64
		)
		if err := rows.Scan(&id, &seq); err != nil {
			tb.Fatal(err)
		}
		out = append(out, dashRow{byID[id], seq})
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) != n {
		tb.Fatalf("seeded %d invoices, found %d", n, len(out))
	}
	return s.ID, out
}

// asciiLower is SQLite's lower().
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// matches is the model of InvoiceQuery's filters (ASCII search terms).
func matches(q InvoiceQuery, inv invoice.Invoice) bool {
	if q.Status != "" && inv.Status != q.Status ||
		!q.From.IsZero() && inv.CreatedAt.Before(q.From) ||
		!q.To.IsZero() && !inv.CreatedAt.Before(q.To) ||
		q.OrderID != "" && inv.Fields.OrderID != q.OrderID {
		return false
	}
	t := strings.TrimSpace(q.Search)
	if t == "" {
		return true
	}
	item, prefix := []rune(inv.Fields.ItemDesc), []rune(t)
	item, prefix = item[:min(len(item), itemKeyLen)], prefix[:min(len(prefix), itemKeyLen)]
	return inv.ID == t || inv.Fields.OrderID == t || asciiLower(inv.Fields.Buyer.Email) == asciiLower(t) ||
		len(t) >= minPrefixLen && strings.HasPrefix(asciiLower(string(item)), asciiLower(string(prefix)))
}

// expected returns the ids q selects, newest first.
func expected(all []dashRow, q InvoiceQuery) []string {
	var sel []dashRow
	for _, r := range all {
		if matches(q, r.inv) {
			sel = append(sel, r)
		}
	}
	slices.SortFunc(sel, func(a, b dashRow) int { return -compareCursors(a.cursor(), b.cursor()) })
	ids := make([]string, len(sel))
	for i, r := range sel {
		ids[i] = r.inv.ID
	}
	return ids
}

func pageIDs(p InvoicePage) []string {
	ids := make([]string, len(p.Invoices))
	for i, inv := range p.Invoices {
		ids[i] = inv.ID
	}
	return ids
}

// walk pages through q from the first page to the last following the
// older links, and from the last page back following the newer links,
// checking the links on the way, and returns both id lists newest first.
func walk(t *testing.T, db *DB, q InvoiceQuery) (forward, backward []string) {
	t.Helper()
	ctx := context.Background()
	page := func(q InvoiceQuery) InvoicePage {
		t.Helper()
		p, err := db.InvoicePage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Cursors) != len(p.Invoices) {
			t.Fatalf("%d cursors for %d invoices", len(p.Cursors), len(p.Invoices))
		}
		return p
	}
	p := page(q)
	if p.HasNewer {
		t.Errorf("first page has newer invoices")
	}
	for n := 0; ; n++ {
		if n > 0 && !p.HasNewer {
			t.Errorf("page %d going forward has no newer link", n)
		}
		forward = append(forward, pageIDs(p)...)
		if !p.HasOlder {
			break
		}
		next := q
		next.After = p.Cursors[len(p.Cursors)-1]
		p = page(next)
	}
	last := q
	last.Last = true
	p = page(last)
	if p.HasOlder {
		t.Errorf("last page has older invoices")
	}
	for n := 0; ; n++ {
		if n > 0 && !p.HasOlder {
			t.Errorf("page %d going backward has no older link", n)
		}
		backward = append(pageIDs(p), backward...)
		if !p.HasNewer {
			break
		}
		prev := q
		prev.Before = p.Cursors[0]
		p = page(prev)
	}
	return forward, backward
}

func TestInvoicePageKeyset(t *testing.T) {
	const n = 10_000
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		start := testEpoch.Add(-30 * 24 * time.Hour)
		storeID, all := seedDashboard(t, db, n, start)
		// Another store's invoices never show.
		other := newStore(t, db, 20)
		mustCreate(t, db, newInvoice(other.ID))

		mid := all[n/2].inv
		tests := []struct {
			name string
			q    InvoiceQuery
			min  int // fewest matches the case must have to mean something
		}{
			{"all", InvoiceQuery{Limit: 97}, n},
			{"status", InvoiceQuery{Status: invoice.StatusInvalid, Limit: 37}, 50},
			{"date range", InvoiceQuery{From: start.Add(24 * time.Hour), To: start.Add(48 * time.Hour), Limit: 37}, 500},
			{"status and date", InvoiceQuery{Status: invoice.StatusComplete, From: start.Add(24 * time.Hour),
				To: start.Add(72 * time.Hour), Limit: 37}, 100},
			{"order id", InvoiceQuery{OrderID: mid.Fields.OrderID}, 1},
			{"search id", InvoiceQuery{Search: " " + mid.ID + " "}, 1},
			{"search order id", InvoiceQuery{Search: mid.Fields.OrderID}, 1},
			{"search email ignores case", InvoiceQuery{Search: "BUYER00042@example.com"}, 1},
			{"search email and order id", InvoiceQuery{Search: "buyer00042@example.com"}, 1},
			{"search mixed-case email", InvoiceQuery{Search: "mixed.case@example.com"}, 1},
			{"search item prefix", InvoiceQuery{Search: "hoodie", Limit: 37}, 100},
			{"search long item prefix", InvoiceQuery{Search: strings.Repeat("long description ", 4)}, 1},
			{"search item prefix and status", InvoiceQuery{Search: "Coffee beans 1", Status: invoice.StatusExpired,
				Limit: 11}, 50},
			{"search with date range", InvoiceQuery{Search: "tip, ", From: start.Add(24 * time.Hour), Limit: 13}, 50},
			{"short term matches no prefix", InvoiceQuery{Search: "Ho"}, 0},
			{"no match", InvoiceQuery{Search: "nothing like this"}, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.q.StoreID = storeID
				want := expected(all, tt.q)
				if len(want) < tt.min {
					t.Fatalf("case matches %d invoices, want at least %d", len(want), tt.min)
				}
				forward, backward := walk(t, db, tt.q)
				if !slices.Equal(forward, want) {
					t.Errorf("forward walk: %d invoices, want %d (first difference at %d)",
						len(forward), len(want), firstDiff(forward, want))
				}
				if !slices.Equal(backward, want) {
					t.Errorf("backward walk: %d invoices, want %d (first difference at %d)",
						len(backward), len(want), firstDiff(backward, want))
				}
			})
		}

		t.Run("last page is the oldest", func(t *testing.T) {
			p, err := db.InvoicePage(context.Background(), InvoiceQuery{StoreID: storeID, Last: true, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			want := expected(all, InvoiceQuery{})
			if !slices.Equal(pageIDs(p), want[n-10:]) || !p.HasNewer || p.HasOlder {
				t.Errorf("last page = %v (newer %v, older %v), want %v", pageIDs(p), p.HasNewer, p.HasOlder, want[n-10:])
			}
		})
		t.Run("cursor in the middle", func(t *testing.T) {
			want := expected(all, InvoiceQuery{})
			at := all[slices.IndexFunc(all, func(r dashRow) bool { return r.inv.ID == want[5000] })].cursor()
			ctx := context.Background()
			older, err := db.InvoicePage(ctx, InvoiceQuery{StoreID: storeID, After: at, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			newer, err := db.InvoicePage(ctx, InvoiceQuery{StoreID: storeID, Before: at, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pageIDs(older), want[5001:5006]) || !older.HasNewer || !older.HasOlder {
				t.Errorf("page after the cursor = %v, want %v", pageIDs(older), want[5001:5006])
			}
			if !slices.Equal(pageIDs(newer), want[4995:5000]) || !newer.HasNewer || !newer.HasOlder {
				t.Errorf("page before the cursor = %v, want %v", pageIDs(newer), want[4995:5000])
			}
		})
		t.Run("page size is capped", func(t *testing.T) {
			p, err := db.InvoicePage(context.Background(), InvoiceQuery{StoreID: storeID, Limit: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Invoices) != MaxPageSize {
				t.Errorf("page of %d invoices, want %d", len(p.Invoices), MaxPageSize)
			}
		})
		t.Run("invoices round-trip", func(t *testing.T) {
			p, err := db.InvoicePage(context.Background(), InvoiceQuery{StoreID: storeID, Search: all[42].inv.ID})
			if err != nil || len(p.Invoices) != 1 {
				t.Fatalf("search by id: %v, %v", p.Invoices, err)
			}
			got, want := p.Invoices[0], all[42].inv
			if got.Fields.OrderID != want.Fields.OrderID || !got.Price.Equal(want.Price) || got.Due() != want.Due() ||
				len(got.Payments) != len(want.Payments) || !got.CreatedAt.Equal(want.CreatedAt) {
				t.Errorf("invoice = %+v, want %+v", got, want)
			}
		})
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestParseCursor(t *testing.T) {
	c := Cursor{CreatedAt: 1_790_000_000_123, Seq: 42}
	got, err := ParseCursor(c.String())
	if err != nil || got != c {
		t.Errorf("ParseCursor(%q) = %v, %v", c.String(), got, err)
	}
	for _, bad := range []string{"", "1", "1.", ".1", "a.b", "1.2.3", "-1.2", "1.-2", "99999999999999999999.1"} {
		if _, err := ParseCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("ParseCursor(%q) error = %v, want ErrBadCursor", bad, err)
		}
	}
}

func TestSalesAndCounts(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		storeID, all := seedDashboard(t, db, 3000, start)
		ctx := context.Background()
		from, to := start.Add(36*time.Hour), start.Add(5*24*time.Hour)

		type day struct {
			count int
			btc   money.Sats
			fiat  map[string]decimal.Decimal
		}
		want := map[time.Time]*day{}
		counts, countsAll := map[invoice.Status]int{}, map[invoice.Status]int{}
		for _, r := range all {
			inv := r.inv
			countsAll[inv.Status]++
			if inv.CreatedAt.Before(from) || !inv.CreatedAt.Before(to) {
				continue
			}
			counts[inv.Status]++
			if inv.Status != invoice.StatusPaid && inv.Status != invoice.StatusConfirmed && inv.Status != invoice.StatusComplete {
				continue
			}
			k := inv.CreatedAt.Truncate(24 * time.Hour)
			if want[k] == nil {
				want[k] = &day{fiat: map[string]decimal.Decimal{}}
			}
			want[k].count++
			want[k].btc += inv.Due()
			want[k].fiat[inv.Currency] = want[k].fiat[inv.Currency].Add(inv.Price)
		}

		sales, err := db.SalesPerDay(ctx, storeID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(sales) != len(want) || len(sales) < 3 {
			t.Fatalf("%d days of sales, want %d", len(sales), len(want))
		}
		for i, d := range sales {
			if i > 0 && !sales[i-1].Day.Before(d.Day) {
				t.Errorf("days out of order: %v then %v", sales[i-1].Day, d.Day)
			}
			w := want[d.Day]
			if w == nil {
				t.Errorf("sales on %v, want none", d.Day)
				continue
			}
			if d.Count != w.count || d.BTC != w.btc || len(d.Fiat) != len(w.fiat) {
				t.Errorf("%v: %d sales, %d sats, %v; want %d, %d, %v", d.Day, d.Count, d.BTC, d.Fiat, w.count, w.btc, w.fiat)
			}
			for c, v := range w.fiat {
				if !d.Fiat[c].Equal(v) {
					t.Errorf("%v: %s %s, want %s", d.Day, c, d.Fiat[c], v)
				}
			}
		}

		got, err := db.CountByStatus(ctx, storeID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(counts) {
			t.Errorf("counts in range = %v, want %v", got, counts)
		}
		got, err = db.CountByStatus(ctx, storeID, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(countsAll) || len(got) != len(allStatuses) {
			t.Errorf("counts = %v, want %v", got, countsAll)
		}
	})
}

func TestEachInvoice(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		start := testEpoch.Add(-10 * 24 * time.Hour)
		// More than two chunks, and chunk edges inside runs of invoices
		// created in the same millisecond.
		n := 2*InvoiceChunk + 500
		storeID, all := seedDashboard(t, db, n, start)
		other := newStore(t, db, 20)
		err := db.SeedInvoices(context.Background(), 5, func(i int, inv *invoice.Invoice) {
			sample.Invoice(other.ID, start, time.Hour, i, inv)
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		each := func(from, to time.Time) []Listed {
			t.Helper()
			var got []Listed
			err := db.EachInvoice(ctx, storeID, from, to, func(l *Listed) error {
				got = append(got, *l)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}

		// Every invoice of the store, oldest first, with what a listing
		// shows of it.
		got := each(time.Time{}, time.Time{})
		sorted := slices.Clone(all)
		slices.SortFunc(sorted, func(a, b dashRow) int { return compareCursors(a.cursor(), b.cursor()) })
		if len(got) != n {
			t.Fatalf("%d invoices, want %d", len(got), n)
		}
		for i, r := range sorted {
			l, inv := got[i], r.inv
			if l.ID != inv.ID || !l.CreatedAt.Equal(inv.CreatedAt) || l.Status != inv.Status || l.Exception != inv.Exception ||
				l.Price.String() != inv.Price.String() || l.Currency != inv.Currency || l.Due != inv.Due() ||
				l.Paid() != inv.Paid() || len(l.Payments) != len(inv.Payments) || l.Fields.OrderID != inv.Fields.OrderID ||
				l.Fields.Buyer != inv.Fields.Buyer || l.Fields.ItemDesc != inv.Fields.ItemDesc {
				t.Fatalf("invoice %d of %d: listed %+v, stored %+v", i, n, l, inv)
			}
			for j, p := range l.Payments {
				if q := inv.Payments[j]; p.Ref() != q.Ref() || p.Amount != q.Amount || p.Removed != q.Removed || p.Method != q.Method {
					t.Fatalf("invoice %d payment %d: %+v, want %+v", i, j, p, q)
				}
			}
		}

		// A date range yields exactly the invoices created in it.
		from, to := start.Add(24*time.Hour), start.Add(48*time.Hour)
		inRange := expected(all, InvoiceQuery{From: from, To: to})
		slices.Reverse(inRange)
		var ids []string
		for _, inv := range each(from, to) {
			ids = append(ids, inv.ID)
		}
		if !slices.Equal(ids, inRange) || len(ids) == 0 {
			t.Errorf("range: %d invoices, want %d", len(ids), len(inRange))
		}

		// fn's error stops the walk and comes back.
		calls := 0
		err = db.EachInvoice(ctx, storeID, time.Time{}, time.Time{}, func(*Listed) error {
			if calls++; calls == InvoiceChunk+1 {
				return errWriteFailed
			}
			return nil
		})
		if !errors.Is(err, errWriteFailed) || calls != InvoiceChunk+1 {
			t.Errorf("after %d calls: %v", calls, err)
		}
	})
}

var errWriteFailed = errors.New("disk full")

func TestMigrateSearchIsIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		for range 2 {
			if err := db.MigrateSearch(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestDashboardQueryPlans proves that every dashboard query seeks an index
// instead of reading the table: on SQLite (no statistics, as in
// production) its plan names the intended index and never scans the
// table; on PostgreSQL, with sequential scans priced out, the plan uses
// the intended index.
func TestDashboardQueryPlans(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		storeID, all := seedDashboard(t, db, 2000, testEpoch)
		at := all[1000].cursor()
		q := InvoiceQuery{StoreID: storeID}
		with := func(f func(*InvoiceQuery)) InvoiceQuery {
			c := q
			f(&c)
			return c
		}
		type plan struct {
			name, index, query string
			args               []any
		}
		page := func(name, index string, q InvoiceQuery, br branch, dir direction, since bool) plan {
			query, args := db.pageSQL(q, br, "term", dir, at, since, 51)
			return plan{name, index, query, args}
		}
		lo, hi := rangeMillis(testEpoch, testEpoch.Add(time.Hour))
		countArgs := []any{storeID, lo, hi}
		for _, s := range allStatuses {
			countArgs = append(countArgs, string(s))
		}
		plans := []plan{
			page("first page", "invoices_store_created", q, branchNone, olderFirst, false),
			page("older page", "invoices_store_created", q, branchNone, olderFirst, true),
			page("newer page", "invoices_store_created", q, branchNone, newerFirst, true),
			page("last page", "invoices_store_created", q, branchNone, newerFirst, false),
			page("date range", "invoices_store_created", with(func(q *InvoiceQuery) { q.From = testEpoch }), branchNone, olderFirst, true),
			page("status", "invoices_store_status_created", with(func(q *InvoiceQuery) { q.Status = "invalid"; q.From = testEpoch }),
				branchNone, olderFirst, true),
			page("order id", "invoices_store_order", with(func(q *InvoiceQuery) { q.OrderID = "x"; q.Status = "new" }),
				branchNone, olderFirst, true),
			page("search id", "id", with(func(q *InvoiceQuery) { q.Status = "new"; q.From = testEpoch }), branchID, olderFirst, true),
			page("search order id", "invoices_store_order", with(func(q *InvoiceQuery) { q.Status = "new" }), branchOrder, olderFirst, true),
			page("search email", "invoices_search_email", with(func(q *InvoiceQuery) { q.Status = "new"; q.OrderID = "x" }),
				branchEmail, olderFirst, true),
			page("search item", "invoices_search_item", with(func(q *InvoiceQuery) { q.Status = "new"; q.From = testEpoch }),
				branchItem, newerFirst, true),
			{"sales", "invoices_store_status_created", salesSQL, []any{storeID, lo, hi}},
			{"counts", "invoices_store_status_created", countSQL, countArgs},
			{"invoice chunk", "invoices_store_created", eachNextSQL, []any{storeID, lo, hi, 1000, int64(5)}},
		}
		ctx := context.Background()
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if b.name == Postgres {
			if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
				t.Fatal(err)
			}
			defer conn.ExecContext(ctx, `RESET enable_seqscan`)
		}
		for _, p := range plans {
			t.Run(p.name, func(t *testing.T) {
				explain := "EXPLAIN QUERY PLAN "
				if b.name == Postgres {
					explain = "EXPLAIN "
				}
				rows, err := conn.QueryContext(ctx, explain+p.query, p.args...)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				var lines []string
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
				}
				text := strings.Join(lines, "\n")
				index := p.index
				if index == "id" {
					index = map[string]string{SQLite: "sqlite_autoindex_invoices_1", Postgres: "invoices_id_key"}[b.name]
				}
				// PostgreSQL picks among the indexes by its statistics,
				// which at this size may differ from a million invoices'.
				if b.name == SQLite && !strings.Contains(text, index) {
					t.Errorf("plan does not use %s:\n%s", index, text)
				}
				if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "Index") && !strings.Contains(text, "INDEX") ||
					b.name == SQLite && !strings.Contains(text, "SEARCH") {
					t.Errorf("plan reads the table:\n%s", text)
				}
				if b.name == SQLite && (p.name == "sales" || p.name == "counts") && !strings.Contains(text, "COVERING INDEX") {
					t.Errorf("plan reads the table, not the index alone:\n%s", text)
				}
				if b.name == SQLite && strings.Contains(p.name, "page") && strings.Contains(text, "TEMP B-TREE") {
					t.Errorf("plan sorts the store's invoices:\n%s", text)
				}
			})
		}
	})
}
