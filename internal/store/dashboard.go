package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/pglock"
	"github.com/shopspring/decimal"
)

// This file holds the merchant dashboard's invoice queries: a filtered,
// searchable invoice list paged by keyset (never OFFSET), sales per day,
// counts by status, and EachInvoice, which reads a store's invoices in
// chunks for an export.
//
// Every page query is an index seek followed by at most a page of rows:
//
//	list, newest first             invoices_store_created (store_id, created_at[, seq])
//	status filter, sales, counts   invoices_store_status_created (0005),
//	                               covering for sales and counts
//	order id filter or search      invoices_store_order (store_id, order_id)
//	search by invoice id           the unique index on id
//	search by buyer email          invoices_search_email (MigrateSearch)
//	search by item description     invoices_search_item (MigrateSearch)
//
// On SQLite an index ends with the rowid, which seq is, so (created_at,
// seq) order comes straight from the index; PostgreSQL sorts the few rows
// sharing a created_at millisecond (an incremental sort).

// Cursor is a position in the invoice list: the creation time and sequence
// number of one invoice. The list is ordered by (CreatedAt, Seq).
type Cursor struct {
	CreatedAt int64 // unix milliseconds
	Seq       int64
}

// IsZero reports whether c is no position.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// String renders c for a URL ("1790000000000.123").
func (c Cursor) String() string {
	return strconv.FormatInt(c.CreatedAt, 10) + "." + strconv.FormatInt(c.Seq, 10)
}

// ErrBadCursor is returned by ParseCursor for text String did not make.
var ErrBadCursor = errors.New("malformed invoice list cursor")

// ParseCursor reverses Cursor.String.
func ParseCursor(s string) (Cursor, error) {
	a, b, ok := strings.Cut(s, ".")
	ms, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || ms < 0 || seq < 0 {
		return Cursor{}, fmt.Errorf("%w: %q", ErrBadCursor, s)
	}
	return Cursor{CreatedAt: ms, Seq: seq}, nil
}

// Page sizes of InvoicePage.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// maxSearchLen bounds a search term; longer input is cut.
const maxSearchLen = 200

// minPrefixLen is the shortest search term matched as an item description
// prefix; shorter terms match ids, order ids and emails only.
const minPrefixLen = 3

// itemKeyLen is how much of the item description the search index keeps
// (in characters); a prefix search uses at most that much of the term.
const itemKeyLen = 64

// InvoiceQuery selects one page of a store's invoices, newest first. Zero
// filter fields do not filter. At most one of After, Before and Last is
// set; none selects the first (newest) page.
type InvoiceQuery struct {
	StoreID string
	Status  invoice.Status
	// From and To bound the creation time: at or after From, before To.
	From, To time.Time
	// OrderID matches the order id exactly.
	OrderID string
	// Search matches an invoice whose id or order id equals the term, whose
	// buyer email equals it ignoring case, or whose item description starts
	// with it ignoring case (terms of 3 or more characters; the first 64
	// characters of a description are indexed). Case folding is the
	// database's lower(): ASCII on SQLite, the collation's on PostgreSQL.
	Search string
	Limit  int // default DefaultPageSize, at most MaxPageSize

	After  Cursor // the page of invoices older than this position
	Before Cursor // the page of invoices newer than this position
	Last   bool   // the oldest page
}

// InvoicePage is one page of the invoice list, newest first.
type InvoicePage struct {
	Invoices []invoice.Invoice
	// Cursors[i] is the position of Invoices[i]; the page after this one is
	// InvoiceQuery{After: Cursors[len-1]}, the one before it
	// InvoiceQuery{Before: Cursors[0]}.
	Cursors []Cursor
	// HasNewer and HasOlder report whether invoices matching the query
	// exist before the first and after the last of this page.
	HasNewer, HasOlder bool
}

// direction is the order a page query walks the list in.
type direction int

const (
	olderFirst direction = iota // newest first: the first page, After
	newerFirst                  // oldest first: Before, Last (reversed afterwards)
)

// InvoicePage returns one page of a store's invoices. Each query seeks an
// index to the cursor and reads at most a page (plus one row) from there,
// so the first, a middle and the last page of a million invoices cost the
// same. A search runs one such query per way of matching and merges them.
func (db *DB) InvoicePage(ctx context.Context, q InvoiceQuery) (InvoicePage, error) {
	if q.StoreID == "" {
		return InvoicePage{}, errors.New("invoice page: no store")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	var (
		dir   direction
		from  Cursor
		since bool // from is set
	)
	switch {
	case !q.After.IsZero():
		dir, from, since = olderFirst, q.After, true
	case !q.Before.IsZero():
		dir, from, since = newerFirst, q.Before, true
	case q.Last:
		dir = newerFirst
	}
	rows, curs, err := db.pageRows(ctx, q, dir, from, since, limit+1)
	if err != nil {
		return InvoicePage{}, fmt.Errorf("invoice page of store %s: %w", q.StoreID, err)
	}
	more := len(rows) > limit
	if more {
		rows, curs = rows[:limit], curs[:limit]
	}
	var page InvoicePage
	if dir == olderFirst {
		page.HasOlder = more
	} else {
		page.HasNewer = more
		slices.Reverse(rows)
		slices.Reverse(curs)
	}
	page.Invoices, page.Cursors = rows, curs
	// The other side of the page: is there anything beyond its edge?
	if since {
		var edge Cursor
		back := newerFirst
		switch {
		case len(curs) > 0 && dir == olderFirst:
			edge = curs[0]
		case len(curs) > 0:
			edge, back = curs[len(curs)-1], olderFirst
		case dir == olderFirst:
			edge = from
		default:
			edge, back = from, olderFirst
		}
		if !edge.IsZero() {
			beyond, _, err := db.pageRows(ctx, q, back, edge, true, 1)
			if err != nil {
				return InvoicePage{}, fmt.Errorf("invoice page of store %s: %w", q.StoreID, err)
			}
			if back == newerFirst {
				page.HasNewer = len(beyond) > 0
			} else {
				page.HasOlder = len(beyond) > 0
			}
		}
	}
	return page, nil
}

// pageRows runs the page query: at most limit invoices past from (when
// since) in direction dir, merged over the ways a search matches.
func (db *DB) pageRows(ctx context.Context, q InvoiceQuery, dir direction, from Cursor, since bool, limit int) ([]invoice.Invoice, []Cursor, error) {
	term := searchTerm(q.Search)
	if term == "" {
		return db.pageBranch(ctx, q, branchNone, "", dir, from, since, limit)
	}
	branches := []branch{branchID, branchOrder, branchEmail}
	if utf8.RuneCountInString(term) >= minPrefixLen {
		branches = append(branches, branchItem)
	}
	type row struct {
		inv invoice.Invoice
		cur Cursor
	}
	seen := map[int64]bool{}
	var all []row
	for _, br := range branches {
		invs, curs, err := db.pageBranch(ctx, q, br, term, dir, from, since, limit)
		if err != nil {
			return nil, nil, err
		}
		for i, c := range curs {
			if !seen[c.Seq] {
				seen[c.Seq] = true
				all = append(all, row{invs[i], c})
			}
		}
	}
	slices.SortFunc(all, func(a, b row) int {
		c := compareCursors(a.cur, b.cur)
		if dir == olderFirst {
			return -c
		}
		return c
	})
	all = all[:min(len(all), limit)]
	invs := make([]invoice.Invoice, len(all))
	curs := make([]Cursor, len(all))
	for i, r := range all {
		invs[i], curs[i] = r.inv, r.cur
	}
	return invs, curs, nil
}

func compareCursors(a, b Cursor) int {
	return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.Seq, b.Seq))
}

// searchTerm trims a search and cuts it to maxSearchLen bytes on a rune
// boundary.
func searchTerm(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxSearchLen {
		return s
	}
	cut := maxSearchLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// branch is one way a search matches, each served by its own index.
type branch int

const (
	branchNone branch = iota // no search
	branchID
	branchOrder
	branchEmail
	branchItem
)

// The search expressions. The query must spell them exactly as the index
// does for either database to use the index.
const (
	sqliteEmailExpr = `lower(json_extract(fields, '$.buyer.email'))`
	sqliteItemExpr  = `lower(substr(json_extract(fields, '$.itemDesc'), 1, 64))`
	pgEmailExpr     = `lower((fields::json -> 'buyer') ->> 'email')`
	pgItemExpr      = `(lower("left"((fields::json ->> 'itemDesc'), 64)) COLLATE "C")`
)

// prefixEnd follows every string with a given prefix: U+10FFFF is the
// largest code point, so prefix+prefixEnd sorts after prefix+anything a
// real description holds, in byte order (SQLite's BINARY, PostgreSQL's C).
const prefixEnd = "\U0010FFFF"

// whereBuilder collects conditions with $N placeholders.
type whereBuilder struct {
	conds []string
	args  []any
}

// add appends cond, whose ? marks take vs in order.
func (w *whereBuilder) add(cond string, vs ...any) {
	for _, v := range vs {
		w.args = append(w.args, v)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

// pageBranch runs one index-driven page query (pageSQL).
func (db *DB) pageBranch(ctx context.Context, q InvoiceQuery, br branch, term string, dir direction,
	from Cursor, since bool, limit int) ([]invoice.Invoice, []Cursor, error) {
	query, args := db.pageSQL(q, br, term, dir, from, since, limit)
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		invs []invoice.Invoice
		curs []Cursor
	)
	for rows.Next() {
		var seq int64
		inv, err := scanInvoice(seqScanner{rows, &seq})
		if err != nil {
			return nil, nil, err
		}
		invs = append(invs, inv)
		curs = append(curs, Cursor{CreatedAt: millis(inv.CreatedAt), Seq: seq})
	}
	return invs, curs, rows.Err()
}

// pageSQL builds a page query: the filters, the keyset condition past
// from (when since) and the order of dir.
//
// SQLite is steered: it has no statistics unless someone runs ANALYZE,
// and without them it will walk invoices_store_created in list order
// rather than seek a selective index, even for an order id (and, with a
// date range on both ends, in place of the status index). So the driving
// index is named (INDEXED BY) where the migrations guarantee it; a unary +
// keeps the other filters off their indexes; and a query driven by a
// selective match (an order id, a search branch) sorts its few rows
// (ORDER BY +created_at) instead of scanning in list order. PostgreSQL
// plans from its statistics.
func (db *DB) pageSQL(q InvoiceQuery, br branch, term string, dir direction, from Cursor, since bool,
	limit int) (string, []any) {
	lite := db.dialect == SQLite
	drive := br == branchNone && q.OrderID == "" // status and created_at may drive
	plain := func(col string, driving bool) string {
		if lite && !driving {
			return "+" + col
		}
		return col
	}
	table, sortCol := "invoices", "created_at"
	if lite {
		switch {
		case br == branchOrder || br == branchNone && q.OrderID != "":
			table = "invoices INDEXED BY invoices_store_order"
		case br == branchNone && q.Status != "":
			table = "invoices INDEXED BY invoices_store_status_created"
		case br == branchNone:
			table = "invoices INDEXED BY invoices_store_created"
		}
		if !drive {
			sortCol = "+created_at"
		}
	}
	var w whereBuilder
	w.add(plain("store_id", br != branchID)+" = ?", q.StoreID)
	switch br {
	case branchID:
		w.add("id = ?", term)
	case branchOrder:
		w.add("order_id = ?", term)
	case branchEmail:
		w.add(db.emailExpr()+" = lower(?)", term)
	case branchItem:
		prefix := term
		if utf8.RuneCountInString(prefix) > itemKeyLen {
			prefix = string([]rune(prefix)[:itemKeyLen])
		}
		w.add(db.itemExpr()+" >= lower(?)", prefix)
		w.add(db.itemExpr()+" < lower(?) || ?", prefix, prefixEnd)
	}
	if q.OrderID != "" {
		w.add(plain("order_id", br == branchNone)+" = ?", q.OrderID)
	}
	if q.Status != "" {
		w.add(plain("status", drive)+" = ?", string(q.Status))
	}
	// Of two bounds on the same side of created_at (the date range's and
	// the cursor's), only the tighter is written: SQLite seeks the index
	// with one of them and filters by the other, and if it picked the
	// looser one, each page would walk from the range's edge to the cursor.
	created := plain("created_at", drive)
	lo, hi, cursor := q.From, q.To, since
	switch {
	case since && dir == olderFirst && !hi.IsZero():
		if millis(hi) <= from.CreatedAt {
			cursor = false // everything before hi is before the cursor
		} else {
			hi = time.Time{} // everything up to the cursor is before hi
		}
	case since && dir == newerFirst && !lo.IsZero():
		if millis(lo) > from.CreatedAt {
			cursor = false
		} else {
			lo = time.Time{}
		}
	}
	if !lo.IsZero() {
		w.add(created+" >= ?", millis(lo))
	}
	if !hi.IsZero() {
		w.add(created+" < ?", millis(hi))
	}
	order := "DESC"
	if dir == newerFirst {
		order = "ASC"
	}
	if cursor && dir == olderFirst {
		w.add(created+" <= ? AND ("+created+" < ? OR seq < ?)", from.CreatedAt, from.CreatedAt, from.Seq)
	} else if cursor {
		w.add(created+" >= ? AND ("+created+" > ? OR seq > ?)", from.CreatedAt, from.CreatedAt, from.Seq)
	}
	w.args = append(w.args, limit)
	return `SELECT ` + invoiceColumns + `, seq FROM ` + table + ` WHERE ` + strings.Join(w.conds, " AND ") +
		` ORDER BY ` + sortCol + ` ` + order + `, seq ` + order + ` LIMIT $` + strconv.Itoa(len(w.args)), w.args
}

func (db *DB) emailExpr() string {
	if db.dialect == Postgres {
		return pgEmailExpr
	}
	return sqliteEmailExpr
}

func (db *DB) itemExpr() string {
	if db.dialect == Postgres {
		return pgItemExpr
	}
	return sqliteItemExpr
}

// MigrateSearch creates the two indexes the invoice search over buyer
// email and item description uses. They index expressions over the
// fields JSON, which SQLite (json_extract) and PostgreSQL (::json ->>)
// spell differently, so the shared migrations cannot hold them. It is
// idempotent; call it after Migrate. Without them the search still
// answers, by reading every invoice of the store.
//
// Their cost lands on the insert path (JSON parsed, two more B-tree
// entries), so creating them is the operator's choice. Measured on SQLite
// (2 cores): a raw invoice INSERT goes from ~30 to ~41 µs, and the
// store's group-committed CreateInvoice (64 callers) loses ~13 % of its
// rate; on PostgreSQL ~4 %, within noise. The 0005 status index costs
// neither measurably.
func (db *DB) MigrateSearch(ctx context.Context) error {
	stmts := []string{
		`CREATE INDEX IF NOT EXISTS invoices_search_email ON invoices (store_id, ` + db.emailExpr() + `)`,
		`CREATE INDEX IF NOT EXISTS invoices_search_item ON invoices (store_id, ` + db.itemExpr() + `)`,
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if db.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pglock.Migrate); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%w in %q", err, s)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create search indexes: %w", err)
	}
	return nil
}

// salesStatuses are the statuses of an invoice that is a sale: paid in
// full (paid, confirmed, complete).
const salesStatuses = `('paid', 'confirmed', 'complete')`

// DaySales is one UTC day's sales: invoices paid in full created that day.
type DaySales struct {
	Day   time.Time // UTC midnight
	Count int
	// BTC is the bitcoin those invoices asked for (their amount due).
	BTC money.Sats
	// Fiat is the total of their prices per currency (exact decimals).
	Fiat map[string]decimal.Decimal
}

// dayMillis is one day in milliseconds.
const dayMillis = 24 * 60 * 60 * 1000

// salesSQL sums a store's sales in a creation range by day, currency and
// price.
const salesSQL = `SELECT created_at / 86400000, currency, price, COUNT(*), CAST(SUM(due) AS BIGINT) FROM invoices
	WHERE store_id = $1 AND status IN ` + salesStatuses + ` AND created_at >= $2 AND created_at < $3
	GROUP BY created_at / 86400000, currency, price`

// SalesPerDay returns a store's sales per UTC day for invoices created in
// [from, to), oldest day first; days without sales are left out. Prices
// are summed as decimals in Go: the database sees them only as text and
// groups equal prices, so a shop with a price list sends few rows.
func (db *DB) SalesPerDay(ctx context.Context, storeID string, from, to time.Time) ([]DaySales, error) {
	lo, hi := rangeMillis(from, to)
	rows, err := db.sql.QueryContext(ctx, salesSQL, storeID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("sales per day of store %s: %w", storeID, err)
	}
	defer rows.Close()
	days := map[int64]*DaySales{}
	for rows.Next() {
		var (
			day, count, due int64
			currency, price string
		)
		if err := rows.Scan(&day, &currency, &price, &count, &due); err != nil {
			return nil, fmt.Errorf("sales per day of store %s: %w", storeID, err)
		}
		p, err := decimal.NewFromString(price)
		if err != nil {
			return nil, fmt.Errorf("sales per day of store %s: price %q: %w", storeID, price, err)
		}
		d := days[day]
		if d == nil {
			d = &DaySales{Day: time.UnixMilli(day * dayMillis).UTC(), Fiat: map[string]decimal.Decimal{}}
			days[day] = d
		}
		d.Count += int(count)
		d.BTC += money.Sats(due)
		d.Fiat[currency] = d.Fiat[currency].Add(p.Mul(decimal.NewFromInt(count)))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sales per day of store %s: %w", storeID, err)
	}
	out := make([]DaySales, 0, len(days))
	for _, k := range slices.Sorted(maps.Keys(days)) {
		out = append(out, *days[k])
	}
	return out, nil
}

// rangeMillis turns [from, to) into milliseconds, open ends made wide.
func rangeMillis(from, to time.Time) (int64, int64) {
	hi := int64(1<<63 - 1)
	if !to.IsZero() {
		hi = millis(to)
	}
	return millis(from), hi
}

// allStatuses lists every status, so a count by status is one range count
// per status on invoices_store_status_created.
var allStatuses = []invoice.Status{invoice.StatusNew, invoice.StatusPaid, invoice.StatusConfirmed,
	invoice.StatusComplete, invoice.StatusExpired, invoice.StatusInvalid, invoice.StatusDeclined}

// countSQL counts a store's invoices in a creation range by status, with
// every status listed ($4 on).
var countSQL = func() string {
	marks := make([]string, len(allStatuses))
	for i := range allStatuses {
		marks[i] = "$" + strconv.Itoa(4+i)
	}
	return `SELECT status, COUNT(*) FROM invoices WHERE store_id = $1 AND status IN (` + strings.Join(marks, ", ") +
		`) AND created_at >= $2 AND created_at < $3 GROUP BY status`
}()

// CountByStatus counts a store's invoices created in [from, to) (zero
// times leave that end open) by status. Statuses without invoices are
// absent. It reads one index entry per invoice counted: a year of a busy
// store is a few hundred milliseconds, so callers show a bounded range.
func (db *DB) CountByStatus(ctx context.Context, storeID string, from, to time.Time) (map[invoice.Status]int, error) {
	lo, hi := rangeMillis(from, to)
	args := []any{storeID, lo, hi}
	for _, s := range allStatuses {
		args = append(args, string(s))
	}
	rows, err := db.sql.QueryContext(ctx, countSQL, args...)
	if err != nil {
		return nil, fmt.Errorf("count invoices of store %s by status: %w", storeID, err)
	}
	defer rows.Close()
	out := map[invoice.Status]int{}
	for rows.Next() {
		var (
			s string
			n int64
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count invoices of store %s by status: %w", storeID, err)
		}
		out[invoice.Status(s)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count invoices of store %s by status: %w", storeID, err)
	}
	return out, nil
}

// InvoiceChunk is how many invoices EachInvoice reads per query.
const InvoiceChunk = 1000

// Listed is an invoice as a listing of all of a store's invoices (the
// dashboard's export) shows it: what it is, when, its status, price and
// the satoshis due by its bound method, its payments and echoed fields.
// EachInvoice reads these instead of whole invoices so that a million-row
// export decodes nothing it does not show (methods, deadlines, tokens).
type Listed struct {
	ID        string
	CreatedAt time.Time
	Status    invoice.Status
	Exception invoice.Exception
	Price     decimal.Decimal
	Currency  string
	Due       money.Sats
	Payments  []invoice.Payment
	Fields    invoice.Fields
}

// Paid returns the satoshis the invoice counts as paid, as
// invoice.Invoice.Paid does.
func (l *Listed) Paid() money.Sats {
	inv := invoice.Invoice{Payments: l.Payments}
	return inv.Paid()
}

// The chunk queries of EachInvoice: the first chunk of a creation range
// [$2, $3), and the chunk after the position ($2, $5), whose creation time
// replaces the range's start (one lower bound, so SQLite seeks to it).
const (
	eachSelect = `SELECT id, created_at, status, exception, price, currency, due, payments, fields, seq
		FROM invoices WHERE store_id = $1 AND created_at >= $2 AND created_at < $3`
	eachFirstSQL = eachSelect + ` ORDER BY created_at, seq LIMIT $4`
	eachNextSQL  = eachSelect + ` AND (created_at > $2 OR seq > $5) ORDER BY created_at, seq LIMIT $4`
)

// EachInvoice calls fn with each of a store's invoices created in [from,
// to) (zero times leave that end open), oldest first, as Listed, and stops
// at the first error fn returns, which it returns wrapped. It reads
// InvoiceChunk invoices per query from a keyset cursor and hands each to
// fn as it is read, so its memory does not grow with the number of
// invoices: it is what an export of all of a store's invoices reads them
// with. fn runs while a chunk's query is open, so it should not wait on
// the store; the Listed it gets is reused for the next invoice.
func (db *DB) EachInvoice(ctx context.Context, storeID string, from, to time.Time, fn func(*Listed) error) error {
	lo, hi := rangeMillis(from, to)
	var (
		n    int
		last Cursor
	)
	for {
		query, args := eachFirstSQL, []any{storeID, lo, hi, InvoiceChunk}
		if n > 0 {
			query, args = eachNextSQL, []any{storeID, last.CreatedAt, hi, InvoiceChunk, last.Seq}
		}
		got, err := db.eachChunk(ctx, query, args, &last, fn)
		n += got
		if err != nil {
			return fmt.Errorf("invoices of store %s: %w", storeID, err)
		}
		if got < InvoiceChunk {
			return nil
		}
	}
}

// eachChunk hands one chunk's invoices to fn and moves last to the last
// of them.
func (db *DB) eachChunk(ctx context.Context, query string, args []any, last *Cursor, fn func(*Listed) error) (int, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		n                        int
		l                        Listed
		created, due, seq        int64
		status, exception, price string
		payments, fields         string
	)
	for rows.Next() {
		if err := rows.Scan(&l.ID, &created, &status, &exception, &price, &l.Currency, &due, &payments, &fields, &seq); err != nil {
			return n, err
		}
		l.CreatedAt, l.Status, l.Exception, l.Due = fromMillis(created), invoice.Status(status), invoice.Exception(exception), money.Sats(due)
		if l.Price, err = decimal.NewFromString(price); err != nil {
			return n, fmt.Errorf("invoice %s: price %q: %w", l.ID, price, err)
		}
		if l.Payments, err = decodePayments(payments); err != nil {
			return n, fmt.Errorf("invoice %s: payments: %w", l.ID, err)
		}
		l.Fields = invoice.Fields{}
		if err := json.Unmarshal([]byte(fields), &l.Fields); err != nil {
			return n, fmt.Errorf("invoice %s: fields: %w", l.ID, err)
		}
		if err := fn(&l); err != nil {
			return n, err
		}
		*last = Cursor{CreatedAt: created, Seq: seq}
		n++
	}
	return n, rows.Err()
}
