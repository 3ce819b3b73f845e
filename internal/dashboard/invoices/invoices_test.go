package invoices

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/sample"
	"github.com/kassa-pay/kassa/internal/store"
)

// seed stores n sample invoices of the store, step apart from start, and
// returns them in creation order.
func (hs *harness) seed(storeID string, n int, start time.Time, step time.Duration) []invoice.Invoice {
	hs.t.Helper()
	out := make([]invoice.Invoice, 0, n)
	err := hs.db.SeedInvoices(context.Background(), n, func(i int, inv *invoice.Invoice) {
		sample.Invoice(storeID, start, step, i, inv)
		out = append(out, *inv)
	})
	if err != nil {
		hs.t.Fatal(err)
	}
	return out
}

var rowRE = regexp.MustCompile(`<td><a href="[^"]*/invoices/([^"/]+)" class="mono">`)

// rows returns the invoice ids listed on a page, in order.
func rows(body string) []string {
	var ids []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// idsOf returns the ids of invs from index hi-1 down to lo (newest first).
func idsOf(invs []invoice.Invoice, lo, hi int) []string {
	var ids []string
	for i := hi - 1; i >= lo; i-- {
		ids = append(ids, invs[i].ID)
	}
	return ids
}

func TestListPages(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			hs := newHarness(t, b.URL(t), Config{})
			start := hs.now.Add(-100 * 24 * time.Hour)
			invs := hs.seed(hs.store.ID, 130, start, time.Hour)
			others := hs.seed(hs.other.ID, 5, start, time.Hour)

			r := hs.get(hs.root()+"/invoices", "employee")
			if r.status != http.StatusOK {
				t.Fatalf("list: %d %s", r.status, r.body)
			}
			if got := rows(r.body); !slices.Equal(got, idsOf(invs, 80, 130)) {
				t.Errorf("first page = %v", got)
			}
			if hs.link(r.body, "page-newer") != "" || hs.link(r.body, "page-older") == "" {
				t.Errorf("first page links wrong")
			}
			mustLack(t, r.body, `id="export"`) // employees do not export

			older := hs.get(hs.link(r.body, "page-older"), "employee")
			if got := rows(older.body); !slices.Equal(got, idsOf(invs, 30, 80)) {
				t.Errorf("second page = %v", got)
			}
			if hs.link(older.body, "page-newer") == "" || hs.link(older.body, "page-newest") == "" {
				t.Errorf("second page has no link back")
			}
			last := hs.get(hs.link(r.body, "page-oldest"), "employee")
			if got := rows(last.body); !slices.Equal(got, idsOf(invs, 0, 50)) {
				t.Errorf("last page = %v", got)
			}
			if hs.link(last.body, "page-older") != "" {
				t.Errorf("last page links further back")
			}
			back := hs.get(hs.link(last.body, "page-newer"), "employee")
			if got := rows(back.body); !slices.Equal(got, idsOf(invs, 50, 100)) {
				t.Errorf("page before the last = %v", got)
			}

			// Filters and search keep to the store and carry into the links.
			var invalid []string
			for i := len(invs) - 1; i >= 0; i-- {
				if invs[i].Status == invoice.StatusInvalid {
					invalid = append(invalid, invs[i].ID)
				}
			}
			r = hs.get(hs.root()+"/invoices?status=invalid", "employee")
			if got := rows(r.body); !slices.Equal(got, invalid) || len(invalid) == 0 {
				t.Errorf("status filter = %v, want %v", got, invalid)
			}
			mustContain(t, r.body, `<option value="invalid" selected>`)
			r = hs.get(hs.root()+"/invoices?q="+url.QueryEscape(" BUYER00005@EXAMPLE.COM "), "employee")
			if got := rows(r.body); !slices.Equal(got, []string{invs[5].ID}) {
				t.Errorf("search by email = %v, want %v", got, invs[5].ID)
			}
			r = hs.get(hs.root()+"/invoices?q="+url.QueryEscape(others[0].Fields.OrderID+"x"), "employee")
			mustContain(t, r.body, `id="no-invoices"`)
			r = hs.get(hs.root()+"/invoices?order="+url.QueryEscape(others[1].ID), "employee")
			mustContain(t, r.body, `id="no-invoices"`)
			day := invs[100].CreatedAt.Format(time.DateOnly)
			r = hs.get(hs.root()+"/invoices?from="+day+"&to="+day, "employee")
			var want []string
			for i := len(invs) - 1; i >= 0; i-- {
				if invs[i].CreatedAt.Format(time.DateOnly) == day {
					want = append(want, invs[i].ID)
				}
			}
			if got := rows(r.body); !slices.Equal(got, want) || len(want) < 20 {
				t.Errorf("one day = %v, want %v", got, want)
			}

			r = hs.get(hs.root()+"/invoices?from="+day, "manager")
			if csvURL := hs.link(r.body, "export"); !strings.HasSuffix(csvURL, "/invoices.csv?from="+day) {
				t.Errorf("export link %q", csvURL)
			}

			// Bad input is refused with a message, and nothing else breaks.
			for _, q := range []string{"status=bogus", "from=2026-13-01", "from=2026-05-02&to=2026-05-01",
				"q=" + strings.Repeat("x", 201)} {
				r := hs.get(hs.root()+"/invoices?"+q, "employee")
				if r.status != http.StatusBadRequest || !strings.Contains(r.body, `class="error"`) {
					t.Errorf("%s: %d", q, r.status)
				}
			}
			r = hs.get(hs.root()+"/invoices?after=not-a-cursor", "employee")
			if r.status != http.StatusOK || !strings.Contains(r.body, "page link is broken") ||
				!slices.Equal(rows(r.body), idsOf(invs, 80, 130)) {
				t.Errorf("broken cursor: %d", r.status)
			}
		})
	}
}

const xss = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`

// TestEscaping puts markup in every text field a buyer or merchant sets
// and checks that no page renders it as markup.
func TestEscaping(t *testing.T) {
	attempts := []Attempt{{At: time.Date(2026, 5, 20, 11, 0, 0, 0, time.UTC), Event: invoice.CodeCreated,
		Channel: "ipn", Target: "https://shop.example/ipn?secret=hunter2", N: 1, StatusCode: 500,
		Latency: 1234 * time.Millisecond, Error: "HTTP 500: " + xss}}
	hs := newHarness(t, backends[0].URL(t), Config{
		Deliveries: func(context.Context, string) ([]Attempt, error) { return attempts, nil },
	})
	inv := hs.createInvoice(hs.store.ID, hs.now.Add(-time.Hour), func(inv *invoice.Invoice) {
		inv.Fields = invoice.Fields{OrderID: "o" + xss, ItemDesc: "i" + xss, ItemCode: "c" + xss, PosData: "p" + xss,
			NotificationURL:   "https://shop.example/ipn?secret=hunter2&x=" + url.QueryEscape(xss),
			NotificationEmail: "n" + xss,
			Buyer: invoice.Buyer{Name: "b" + xss, Email: "e" + xss, Address1: "a" + xss, Locality: "l" + xss,
				Region: "r" + xss, Country: "C" + xss, Phone: "t" + xss, PostalCode: "z" + xss}}
	})
	pages := map[string]string{
		"list":   hs.root() + "/invoices",
		"search": hs.root() + "/invoices?q=" + url.QueryEscape("o"+xss),
		"order":  hs.root() + "/invoices?order=" + url.QueryEscape("o"+xss),
		"detail": hs.root() + "/invoices/" + inv.ID,
	}
	for name, u := range pages {
		r := hs.get(u, "manager")
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", name, r.status)
		}
		mustLack(t, r.body, "<script", "<img", "hunter2")
		if name != "list" && !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the text is not shown escaped", name)
		}
		if name != "detail" && len(rows(r.body)) != 1 {
			t.Errorf("%s: %d rows, want the invoice", name, len(rows(r.body)))
		}
	}
	r := hs.get(pages["detail"], "manager")
	for _, field := range []string{"o", "i", "c", "p", "n", "b", "e", "a", "l", "r", "C", "t", "z"} {
		mustContain(t, r.body, field+"&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;")
	}
	mustContain(t, r.body, "https://shop.example/ipn (query hidden)", "HTTP 500: &lt;script&gt;")
}

func TestDetailPage(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			var hs *harness
			hs = newHarness(t, b.URL(t), Config{
				ExplorerURL: func(network string) string { return "https://mempool.example/" + network + "/" },
				Resend:      func(ctx context.Context, id string) error { return hs.resend(ctx, id) },
				MarkInvalid: func(ctx context.Context, id string) error { return hs.markInvalid(ctx, id) },
				Chain: func(context.Context) (ChainStatus, error) {
					return ChainStatus{Backend: "btcd", Height: 106, Synced: true}, nil
				},
				Deliveries: func(_ context.Context, id string) ([]Attempt, error) {
					return []Attempt{
						{At: hs.now.Add(-50 * time.Minute), Event: invoice.CodeCreated, Channel: "ipn",
							Target: "https://shop.example/ipn", N: 1, StatusCode: 503, Latency: 2345 * time.Millisecond,
							Error: "HTTP 503"},
						{At: hs.now.Add(-49 * time.Minute), Event: invoice.CodeCreated, Channel: "ipn",
							Target: "https://shop.example/ipn", N: 2, StatusCode: 200, Latency: 87 * time.Millisecond},
						{At: hs.now.Add(-48 * time.Minute), Event: invoice.CodePaidInFull, Channel: "ipn",
							Target: "https://shop.example/ipn", N: 1, Latency: 10 * time.Second, Error: "timeout"},
					}, nil
				},
			})
			created := hs.now.Add(-time.Hour)
			inv := hs.createInvoice(hs.store.ID, created, nil)
			txid := strings.Repeat("ab", 32)
			pay := invoice.Payment{Method: invoice.MethodBTC, TxID: txid, Vout: 1, Amount: inv.Due(), SeenAt: created.Add(time.Minute)}
			if err := hs.apply(inv, invoice.PaymentSeen{Payment: pay}, created.Add(time.Minute), 100); err != nil {
				t.Fatal(err)
			}
			pay.Height, pay.BlockHash = 101, strings.Repeat("00", 32)
			if err := hs.apply(inv, invoice.PaymentSeen{Payment: pay}, created.Add(11*time.Minute), 101); err != nil {
				t.Fatal(err)
			}
			if inv.Status != invoice.StatusConfirmed {
				t.Fatalf("invoice is %s, want confirmed", inv.Status)
			}

			r := hs.get(hs.root()+"/invoices/"+inv.ID, "manager")
			if r.status != http.StatusOK {
				t.Fatalf("detail: %d %s", r.status, r.body)
			}
			mustContain(t, r.body, `id="status">confirmed<`,
				`href="https://mempool.example/regtest/tx/`+txid+`"`, txid+":1",
				`href="https://mempool.example/regtest/address/`+inv.Method(invoice.MethodBTC).Destination+`"`,
				"<td>101</td>", "<td>6</td>", // block and confirmations at tip 106
				"503", "2345 ms", "87 ms", "timeout", "invoice_paidInFull",
				`action="/dashboard/stores/`+hs.store.ID+`/invoices/`+inv.ID+`/resend"`,
				`action="/dashboard/stores/`+hs.store.ID+`/invoices/`+inv.ID+`/invalid"`,
				`name="csrf" value="`+testCSRF+`"`)
			timeline := r.body[strings.Index(r.body, `id="timeline"`):]
			timeline = timeline[:strings.Index(timeline, "</ol>")]
			var names []string
			for _, m := range regexp.MustCompile(`<strong>([a-zA-Z_]+)</strong>`).FindAllStringSubmatch(timeline, -1) {
				names = append(names, m[1])
			}
			want := []string{"invoice_created", "invoice_receivedPayment", "invoice_paidInFull", "invoice_confirmed"}
			if !slices.Equal(names, want) {
				t.Errorf("timeline = %v, want %v", names, want)
			}

			// An employee sees the invoice but no actions.
			r = hs.get(hs.root()+"/invoices/"+inv.ID, "employee")
			if r.status != http.StatusOK {
				t.Fatalf("detail as employee: %d", r.status)
			}
			mustLack(t, r.body, `id="resend-form"`, `id="invalid-form"`)
			// A member of another store, or an unknown id, finds nothing.
			if r := hs.get(hs.root()+"/invoices/"+inv.ID, "stranger"); r.status != http.StatusNotFound ||
				strings.Contains(r.body, inv.ID) && strings.Contains(r.body, txid) {
				t.Errorf("invoice of another store: %d", r.status)
			}
			if r := hs.get(hs.root()+"/invoices/nosuchinvoice", "manager"); r.status != http.StatusNotFound ||
				!strings.Contains(r.body, "no such invoice") {
				t.Errorf("unknown invoice: %d", r.status)
			}
		})
	}
}

// TestDetailWithoutHooks: without the optional hooks their parts of the
// page are left out, and mainnet invoices link to mempool.space.
func TestDetailWithoutHooks(t *testing.T) {
	hs := newHarness(t, backends[0].URL(t), Config{})
	inv := hs.createInvoice(hs.store.ID, hs.now, nil)
	r := hs.get(hs.root()+"/invoices/"+inv.ID, "manager")
	if r.status != http.StatusOK {
		t.Fatalf("detail: %d", r.status)
	}
	mustContain(t, r.body, "No payment seen.", "invoice_created")
	mustLack(t, r.body, `id="attempts"`, `id="resend-form"`, `id="invalid-form"`, "mempool.space")
	if r := hs.post(hs.root()+"/invoices/"+inv.ID+"/resend", "manager", url.Values{"csrf": {testCSRF}}); r.status != http.StatusNotFound {
		t.Errorf("resend without a hook: %d", r.status)
	}
}

func TestActions(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			var hs *harness
			hs = newHarness(t, b.URL(t), Config{
				Resend:      func(ctx context.Context, id string) error { return hs.resend(ctx, id) },
				MarkInvalid: func(ctx context.Context, id string) error { return hs.markInvalid(ctx, id) },
			})
			inv := hs.createInvoice(hs.store.ID, hs.now.Add(-time.Minute), nil)
			page := hs.root() + "/invoices/" + inv.ID
			ok := url.Values{"csrf": {testCSRF}}

			refused := []struct {
				name, role string
				form       url.Values
				status     int
			}{
				{"no CSRF token", "manager", url.Values{}, http.StatusForbidden},
				{"wrong CSRF token", "manager", url.Values{"csrf": {"forged"}}, http.StatusForbidden},
				{"employee", "employee", ok, http.StatusForbidden},
				{"member of another store", "stranger", ok, http.StatusNotFound},
				{"oversized form", "manager", url.Values{"csrf": {testCSRF}, "pad": {strings.Repeat("x", 8<<10)}}, http.StatusForbidden},
			}
			for _, tt := range refused {
				for _, action := range []string{"/resend", "/invalid"} {
					if r := hs.post(page+action, tt.role, tt.form); r.status != tt.status {
						t.Errorf("%s %s: %d, want %d", tt.name, action, r.status, tt.status)
					}
				}
			}
			if r := hs.post(hs.root()+"/invoices/nosuchinvoice/invalid", "manager", ok); r.status != http.StatusNotFound {
				t.Errorf("unknown invoice: %d", r.status)
			}
			if len(hs.calls) != 0 {
				t.Fatalf("refused requests reached the hooks: %v", hs.calls)
			}

			r := hs.post(page+"/resend", "manager", ok)
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard/stores/"+hs.store.ID+"/invoices/"+inv.ID+"?done=resent" {
				t.Fatalf("resend: %d to %q", r.status, r.header.Get("Location"))
			}
			r = hs.get(hs.srv.URL+"/dashboard/stores/"+hs.store.ID+"/invoices/"+inv.ID+"?done=resent", "manager")
			mustContain(t, r.body, `class="flash"`, "invoice_manuallyNotified")

			r = hs.post(page+"/invalid", "manager", ok)
			if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "?done=invalid") {
				t.Fatalf("mark invalid: %d to %q", r.status, r.header.Get("Location"))
			}
			r = hs.get(page, "manager")
			mustContain(t, r.body, `id="status">invalid<`, "invoice_markedInvalid")
			mustLack(t, r.body, `id="invalid-form"`)

			// The state machine's refusal is shown, not hidden.
			expired := hs.createInvoice(hs.store.ID, hs.now.Add(-time.Hour), nil)
			if err := hs.apply(expired, invoice.Tick{}, hs.now, 0); err != nil || expired.Status != invoice.StatusExpired {
				t.Fatalf("expire: %v, %s", err, expired.Status)
			}
			r = hs.post(hs.root()+"/invoices/"+expired.ID+"/invalid", "manager", ok)
			if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "?failed=invalid-state") {
				t.Fatalf("mark expired invalid: %d to %q", r.status, r.header.Get("Location"))
			}
			r = hs.get(hs.root()+"/invoices/"+expired.ID+"?failed=invalid-state", "manager")
			mustContain(t, r.body, "cannot be marked invalid")
			if want := []string{"resend " + inv.ID, "invalid " + inv.ID, "invalid " + expired.ID}; !slices.Equal(hs.calls, want) {
				t.Errorf("hook calls = %v, want %v", hs.calls, want)
			}
		})
	}
}

func TestExportDownload(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			hs := newHarness(t, b.URL(t), Config{})
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			invs := hs.seed(hs.store.ID, 2*store.InvoiceChunk+321, start, 10*time.Minute)
			hs.seed(hs.other.ID, 10, start, time.Minute)

			r := hs.get(hs.root()+"/invoices.csv", "manager")
			if r.status != http.StatusOK {
				t.Fatalf("export: %d %s", r.status, r.body)
			}
			if ct, cd := r.header.Get("Content-Type"), r.header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" ||
				cd != `attachment; filename="invoices-`+hs.store.ID+`.csv"` {
				t.Errorf("headers %q, %q", ct, cd)
			}
			recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(invs)+1 || !slices.Equal(recs[0], csvHeader) {
				t.Fatalf("%d records, want %d", len(recs), len(invs)+1)
			}
			for i, inv := range invs {
				if rec := recs[i+1]; rec[0] != inv.ID || rec[4] != inv.Price.String() || rec[6] != inv.Due().BTC() ||
					rec[10] != inv.Fields.Buyer.Email {
					t.Fatalf("record %d = %q, want invoice %+v", i+1, rec, inv)
				}
			}

			r = hs.get(hs.root()+"/invoices.csv?from=2026-01-03&to=2026-01-04", "manager")
			recs, err = csv.NewReader(strings.NewReader(r.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2*144+1 || recs[1][1] != "2026-01-03T00:00:00.000Z" ||
				recs[len(recs)-1][1] != "2026-01-04T23:50:00.000Z" {
				t.Errorf("two days: %d records from %v to %v", len(recs), recs[1][1], recs[len(recs)-1][1])
			}
			if cd := r.header.Get("Content-Disposition"); !strings.Contains(cd, "-from-2026-01-03-to-2026-01-04.csv") {
				t.Errorf("file name %q", cd)
			}

			if r := hs.get(hs.root()+"/invoices.csv", "employee"); r.status != http.StatusForbidden || strings.Contains(r.body, invs[0].ID) {
				t.Errorf("export by an employee: %d", r.status)
			}
			if r := hs.get(hs.root()+"/invoices.csv?from=yesterday", "manager"); r.status != http.StatusBadRequest {
				t.Errorf("export with a bad date: %d", r.status)
			}
		})
	}
}

// TestWriteCSV checks every column of the export, over more than two of
// the store's chunks: formula text defused, a txid listed once, removed
// payments left out, late ones listed but not counted as paid.
func TestWriteCSV(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			hs := newHarness(t, b.URL(t), Config{})
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			n := 2*store.InvoiceChunk + 500
			var invs []invoice.Invoice
			err := hs.db.SeedInvoices(context.Background(), n, func(i int, inv *invoice.Invoice) {
				sample.Invoice(hs.store.ID, start, time.Minute, i, inv)
				switch i {
				case 7: // formula text in every field a buyer or merchant sets
					inv.Fields.OrderID, inv.Fields.ItemDesc, inv.Fields.Buyer.Email = "+1-555", "=HYPERLINK(\"x\")", "@evil"
				case 8:
					inv.Fields.ItemDesc, inv.Fields.OrderID = "a, \"quoted\"\nline", "\tx"
				case 9:
					inv.Payments = []invoice.Payment{{TxID: "aa", Amount: 5, Late: true}, {TxID: "bb", Amount: 7, Removed: true},
						{TxID: "aa", Vout: 1, Amount: 3}, {TxID: "cc", Amount: 1}}
				}
				invs = append(invs, *inv)
			})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			wrote, err := writeCSV(context.Background(), &buf, hs.db, hs.store.ID, time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if wrote != n || len(recs) != n+1 || !slices.Equal(recs[0], csvHeader) {
				t.Fatalf("exported %d invoices in %d records, want %d", wrote, len(recs), n)
			}
			for i, inv := range invs {
				var txids []string
				for _, p := range inv.Payments {
					txids = append(txids, p.TxID)
				}
				want := []string{inv.ID, inv.CreatedAt.Format("2006-01-02T15:04:05.000Z"), string(inv.Status),
					string(inv.Exception), inv.Price.String(), inv.Currency, inv.Due().BTC(), inv.Paid().BTC(),
					inv.Fields.OrderID, inv.Fields.ItemDesc, inv.Fields.Buyer.Email, strings.Join(txids, " ")}
				switch i {
				case 7:
					want[8], want[9], want[10] = "'+1-555", "'=HYPERLINK(\"x\")", "'@evil"
				case 8:
					want[8] = "'\tx"
				case 9:
					want[7], want[11] = "0.00000004", "aa cc"
				}
				if !slices.Equal(recs[i+1], want) {
					t.Fatalf("record %d = %q, want %q", i+1, recs[i+1], want)
				}
			}

			// A failing writer stops the export with its error.
			if _, err := writeCSV(context.Background(), failingWriter{}, hs.db, hs.store.ID, time.Time{}, time.Time{}); !errors.Is(err, errWriteFailed) {
				t.Errorf("export to a failing writer: %v", err)
			}
		})
	}
}

var errWriteFailed = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWriteFailed }

func TestOverview(t *testing.T) {
	hs := newHarness(t, backends[0].URL(t), Config{
		Chain: func(context.Context) (ChainStatus, error) {
			return ChainStatus{Backend: "bitcoind", Height: 850_123, LastBlock: time.Date(2026, 5, 20, 11, 53, 0, 0, time.UTC), Synced: true}, nil
		},
		Rates: func(context.Context) []RateSource {
			return []RateSource{{Name: "kraken", Updated: time.Date(2026, 5, 20, 11, 59, 30, 0, time.UTC)},
				{Name: "coingecko", Updated: time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC), Err: "HTTP 429"}}
		},
	})
	start := hs.now.Add(-40 * 24 * time.Hour)
	invs := hs.seed(hs.store.ID, 40*12, start, 2*time.Hour)

	r := hs.get(hs.root(), "employee")
	if r.status != http.StatusOK {
		t.Fatalf("overview: %d %s", r.status, r.body)
	}
	from := time.Date(2026, 4, 21, 0, 0, 0, 0, time.UTC) // 30 days up to today, 2026-05-20
	salesDays := map[string]bool{}
	counted := 0
	for _, inv := range invs {
		if inv.CreatedAt.Before(from) {
			continue
		}
		counted++
		if inv.Status == invoice.StatusPaid || inv.Status == invoice.StatusConfirmed || inv.Status == invoice.StatusComplete {
			salesDays[inv.CreatedAt.Format(time.DateOnly)] = true
		}
	}
	mustContain(t, r.body, `value="2026-04-21"`, `value="2026-05-20"`, `<svg id="chart-btc"`, `<svg id="chart-USD"`,
		`<svg id="chart-EUR"`, `<svg id="chart-CHF"`, fmt.Sprintf("<th>All</th><th>%d</th>", counted),
		`<strong id="gap-run">480</strong>`, `id="gap-over"`, "bitcoind at height <strong>850123</strong>, last block 7 min ago",
		"<td>kraken</td><td>30 s ago</td><td><span class=\"badge ok\">fresh", "<td>coingecko</td><td>2 h ago</td><td><span class=\"badge off\">stale</span> HTTP 429")
	btc := r.body[strings.Index(r.body, `<svg id="chart-btc"`):]
	btc = btc[:strings.Index(btc, "</svg>")]
	if n := strings.Count(btc, "<rect "); n != len(salesDays) || n < 20 {
		t.Errorf("BTC chart has %d bars, want %d", n, len(salesDays))
	}
	if !strings.Contains(btc, `y="22" width="19" height="160"`) {
		t.Errorf("no full-height bar for the best day:\n%s", btc)
	}
	if !strings.HasPrefix(r.body[strings.Index(r.body, `<svg id="chart-`):], `<svg id="chart-btc"`) ||
		strings.Index(r.body, `<svg id="chart-USD"`) > strings.Index(r.body, `<svg id="chart-EUR"`) {
		t.Errorf("charts out of order: BTC, then the store's currency first")
	}

	// Another range; bad ranges are refused with a message.
	r = hs.get(hs.root()+"/?from=2026-04-11&to=2026-04-12", "employee")
	if r.status != http.StatusNotFound { // the pattern is exact: /dashboard/stores/{id}
		t.Errorf("overview with a trailing slash: %d", r.status)
	}
	r = hs.get(hs.root()+"?from=2026-04-11&to=2026-04-12", "employee")
	btc = r.body[strings.Index(r.body, `<svg id="chart-btc"`):]
	btc = btc[:strings.Index(btc, "</svg>")]
	if r.status != http.StatusOK || strings.Count(btc, "<rect ") != 2 || !strings.Contains(btc, `width="288"`) {
		t.Errorf("two-day overview: %d\n%s", r.status, btc)
	}
	for _, q := range []string{"from=2025-01-01&to=2026-05-01", "from=2026-05-01", "from=x&to=y"} {
		if r := hs.get(hs.root()+"?"+q, "employee"); r.status != http.StatusBadRequest || !strings.Contains(r.body, `class="error"`) {
			t.Errorf("%s: %d", q, r.status)
		}
	}
}

func TestDefaultExplorer(t *testing.T) {
	for network, want := range map[string]string{"mainnet": "https://mempool.space", "testnet": "https://mempool.space/testnet",
		"testnet4": "https://mempool.space/testnet4", "signet": "https://mempool.space/signet", "regtest": "", "": ""} {
		if got := DefaultExplorer(network); got != want {
			t.Errorf("DefaultExplorer(%q) = %q, want %q", network, got, want)
		}
	}
}

func TestNewNeedsStoreAndLayout(t *testing.T) {
	if _, err := New(Config{Layout: testLayout}); err == nil {
		t.Error("New without a store succeeded")
	}
	if _, err := New(Config{Store: &store.DB{}}); err == nil {
		t.Error("New without a layout succeeded")
	}
}

// TestLayoutStatus checks that error pages keep their status through a
// layout that always writes 200.
func TestLayoutStatus(t *testing.T) {
	hs := newHarness(t, backends[0].URL(t), Config{})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/dashboard/stores/"+hs.store.ID+"/invoices/x", nil)
	req.SetPathValue("invoice", "x")
	hs.h.Detail(rec, req, testViewer{store: hs.store.ID})
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "<main>") {
		t.Errorf("404 through the layout: %d", rec.Code)
	}
}

var errBoom = errors.New("boom")

// TestDeliveriesFailure: the page still renders when the attempts cannot
// be loaded, and says so.
func TestDeliveriesFailure(t *testing.T) {
	hs := newHarness(t, backends[0].URL(t), Config{
		Deliveries: func(context.Context, string) ([]Attempt, error) { return nil, errBoom },
	})
	inv := hs.createInvoice(hs.store.ID, hs.now, nil)
	r := hs.get(hs.root()+"/invoices/"+inv.ID, "employee")
	if r.status != http.StatusOK {
		t.Fatalf("detail: %d", r.status)
	}
	mustContain(t, r.body, `id="attempts"`, "could not be loaded")
	mustLack(t, r.body, "boom")
}
