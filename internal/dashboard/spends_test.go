package dashboard_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/dashboard"
	"github.com/kassa-pay/kassa/internal/hotwallet"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
	"github.com/shopspring/decimal"
)

// fakeChain is the node the harness's spend engine sends to: it takes
// every transaction and estimates 2 sat/vB.
type fakeChain struct {
	mu   sync.Mutex
	sent []*wire.MsgTx
}

func (c *fakeChain) SendTx(_ context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, tx)
	return tx.TxHash(), nil
}

func (c *fakeChain) FeeRate(context.Context, int) (money.Sats, bool, error) { return 2, true, nil }

func (c *fakeChain) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

// merchantName names the key of the money-out tests' store
// (kassatest.Key) and of the test wallet that signs for it.
const merchantName = "dashboard merchant"

// moneyStore is a store for the money-out tests: its owner signed in, an
// invoice and the store's key.
type moneyStore struct {
	owner   *client
	storeID string
	inv     *invoice.Invoice
	key     *wallet.Key
}

// moneyStore runs the setup with kassatest.Key(merchantName) and stores
// an invoice.
func (h *harness) moneyStore() *moneyStore {
	h.t.Helper()
	owner, storeID := h.setup(kassatest.Key(h.t, merchantName))
	k, err := wallet.ParseKey(kassatest.Key(h.t, merchantName), "regtest")
	if err != nil {
		h.t.Fatal(err)
	}
	now := h.clock.Now().UTC().Truncate(time.Millisecond)
	inv := &invoice.Invoice{ID: auth.NewID(), StoreID: storeID, Token: auth.NewID(), Status: invoice.StatusNew,
		Speed: invoice.SpeedMedium, Price: decimal.RequireFromString("10"), Currency: "USD",
		Methods:   []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("50000"), Due: 20_000}},
		CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute), UpdatedAt: now}
	addr := func(_ string, i uint32) (string, []byte, error) {
		a, err := k.Derive(i)
		return a.Address, a.Script, err
	}
	if err := h.db.CreateInvoice(context.Background(), inv, []invoice.Notification{{Code: invoice.CodeCreated,
		Status: invoice.StatusNew, At: now}}, addr); err != nil {
		h.t.Fatal(err)
	}
	return &moneyStore{owner: owner, storeID: storeID, inv: inv, key: k}
}

// coin is a coin of the store at a receive (branch 0) or change (1)
// index; txid is 32 bytes of b.
func (m *moneyStore) coin(t *testing.T, b byte, branch, index uint32, amount money.Sats, height int32) store.Coin {
	t.Helper()
	a, err := m.key.Derive(index)
	if branch == 1 {
		a, err = m.key.DeriveChange(index)
	}
	if err != nil {
		t.Fatal(err)
	}
	return store.Coin{Coin: wallet.Coin{TxID: strings.Repeat(fmt.Sprintf("%02x", b), 32), Amount: amount, Script: a.Script,
		Branch: branch, Index: index, Height: height}, StoreID: m.storeID, SeenAt: time.Now()}
}

// chainSaw stores what the watcher would: processed blocks up to tip,
// coins and their spends.
func (h *harness) chainSaw(tip int32, seen []store.Coin, spends ...store.CoinSpend) {
	h.t.Helper()
	err := h.db.Commit(context.Background(), nil, &store.ChainUpdate{Rewind: store.NoRewind,
		Blocks: []store.ChainBlock{{Height: tip, Hash: fmt.Sprintf("h%d", tip)}},
		Coins:  store.CoinChanges{Seen: seen, Spends: spends}})
	if err != nil {
		h.t.Fatal(err)
	}
}

// refundOf stores a refund of the invoice, created, to a buyer's address.
func (h *harness) refundOf(m *moneyStore, sats money.Sats) refund.Refund {
	h.t.Helper()
	buyer, err := wallet.ParseKey(kassatest.Key(h.t, "dashboard buyer"), "regtest")
	if err != nil {
		h.t.Fatal(err)
	}
	to, err := buyer.Derive(0)
	if err != nil {
		h.t.Fatal(err)
	}
	now := h.clock.Now().UTC().Truncate(time.Millisecond)
	r := refund.Refund{ID: auth.NewID(), StoreID: m.storeID, InvoiceID: m.inv.ID, Token: auth.NewResourceToken(),
		Status: refund.StatusCreated, Amount: sats.Decimal(), Currency: "BTC", Rate: decimal.NewFromInt(1), Sats: sats,
		Cancellable: true, Address: to.Address, RequestedAt: now, UpdatedAt: now}
	notes := []refund.Notification{{Code: refund.CodeCreated, Status: refund.StatusCreated, At: now}}
	if err := h.db.Unit(context.Background(), func(u *store.Unit) error { return u.Refund(&r, notes) }); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// postFile posts a multipart form: fields, and the file's content under
// "file" when file is not nil.
func (c *client) postFile(path string, fields url.Values, file []byte) resp {
	c.h.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", "signed.psbt")
		if err != nil {
			c.h.t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.h.url+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

var textareaRE = regexp.MustCompile(`(?s)<textarea id="psbt"[^>]*>([^<]*)</textarea>`)

// shownPSBT returns the base64 PSBT a spend page shows, "" for none.
func shownPSBT(body string) string {
	m := textareaRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(m[1]))
}

// TestCoinsPage: a store's coins with their balance, unspent ones by
// default and every one with the toggle; employees see them, strangers
// do not.
func TestCoinsPage(t *testing.T) {
	h := newHarness(t, options{})
	m := h.moneyStore()
	paid := m.coin(t, 0xa1, 0, 0, 50_000, 100)
	paid.InvoiceID = m.inv.ID
	pending := m.coin(t, 0xa2, 1, 0, 20_000, 0)
	spent := m.coin(t, 0xa3, 0, 1, 30_000, 101)
	spentBy := strings.Repeat("ef", 32)
	h.chainSaw(105, []store.Coin{paid, pending, spent}, store.CoinSpend{TxID: spent.TxID, Vout: 0, SpentBy: spentBy, Height: 105})
	root := "/dashboard/stores/" + m.storeID

	emp := h.addMember("employee@example.com", m.storeID, account.RoleEmployee)
	r := emp.get(root + "/coins")
	if r.status != http.StatusOK {
		t.Fatalf("coins page: %d\n%s", r.status, r.body)
	}
	addr0, _ := m.key.Derive(0)
	change0, _ := m.key.DeriveChange(0)
	mustContain(t, "coins", r.body, `id="confirmed">0.0005 BTC<`, `id="unconfirmed">0.0002 BTC<`,
		paid.TxID+":0", addr0.Address, "receive #0", "<td>6</td>", // confirmations at 100 of tip 105
		`href="/dashboard/stores/`+m.storeID+`/invoices/`+m.inv.ID+`"`,
		pending.TxID+":0", change0.Address, "change #0", "mempool", `href="`+root+`/coins"`)
	mustNotContain(t, "unspent coins", r.body, spent.TxID, spentBy)

	r = emp.get(root + "/coins?all=1")
	mustContain(t, "every coin", r.body, spent.TxID+":0", spentBy, `id="confirmed">0.0005 BTC<`, "Show unspent coins only")

	// Someone of another store finds nothing.
	stranger := h.addMember("stranger@example.com", m.owner.createStore("Other", regtestKey(t, "other")), account.RoleOwner)
	if r := stranger.get(root + "/coins"); r.status != http.StatusNotFound || strings.Contains(r.body, paid.TxID) {
		t.Fatalf("coins of another store: %d", r.status)
	}
}

// TestSpendPages: the spend list and page, the PSBT download and the
// signed upload: employees see spends but neither download nor upload;
// an upload without the CSRF token, a garbage one, the unsigned PSBT, an
// empty form and an oversized file are refused with the reason and
// change nothing.
func TestSpendPages(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	m := h.moneyStore()
	h.chainSaw(110, []store.Coin{m.coin(t, 0xb1, 0, 0, 60_000, 100), m.coin(t, 0xb2, 0, 1, 70_000, 101)})
	r0 := h.refundOf(m, 25_000)
	sp, err := h.engine.PrepareRefund(ctx, r0.ID)
	if err != nil {
		t.Fatal(err)
	}
	root := "/dashboard/stores/" + m.storeID
	page := root + "/spends/" + sp.ID

	emp := h.addMember("employee@example.com", m.storeID, account.RoleEmployee)
	r := emp.get(root + "/spends")
	if r.status != http.StatusOK {
		t.Fatalf("spends page: %d\n%s", r.status, r.body)
	}
	mustContain(t, "spend list", r.body, `id="open-spends"`, `id="spend-`+sp.ID+`"`, "unsigned", r0.ID,
		`href="`+root+`/invoices/`+m.inv.ID+`#refund-`+r0.ID+`"`, "0.00025 BTC to", r0.Address, "2 sat/vB",
		`href="`+root+`/coins"`, `href="`+root+`/spends"`)
	r = emp.get(page)
	if r.status != http.StatusOK {
		t.Fatalf("spend page as employee: %d\n%s", r.status, r.body)
	}
	mustContain(t, "spend page as employee", r.body, `id="status">unsigned<`, "an owner or manager of the store downloads")
	mustNotContain(t, "spend page as employee", r.body, `id="download-psbt"`, `id="upload-form"`, `id="psbt"`)
	if r := emp.get(page + "/psbt"); r.status != http.StatusForbidden || bytes.Contains([]byte(r.body), sp.PSBT) {
		t.Fatalf("PSBT download by an employee: %d", r.status)
	}
	signed := base64.StdEncoding.EncodeToString(sp.PSBT) // not signed: any text will do for the role check
	if r := emp.postFile(page+"/signed", url.Values{"csrf": {emp.csrf(page)}, "signed": {signed}}, nil); r.status != http.StatusForbidden {
		t.Fatalf("upload by an employee: %d", r.status)
	}

	// The owner downloads the PSBT, as a file and as base64.
	owner := m.owner
	r = owner.get(page)
	if r.status != http.StatusOK {
		t.Fatalf("spend page: %d\n%s", r.status, r.body)
	}
	mustContain(t, "spend page", r.body, `href="`+page+`/psbt"`, `id="upload-form"`, `enctype="multipart/form-data"`)
	mustNotContain(t, "spend page", r.body, `id="rebuilt"`)
	if got := shownPSBT(r.body); got != base64.StdEncoding.EncodeToString(sp.PSBT) {
		t.Fatalf("shown PSBT %q, want the spend's", got)
	}
	dl := owner.get(page + "/psbt")
	if dl.status != http.StatusOK || dl.body != string(sp.PSBT) ||
		dl.header.Get("Content-Disposition") != `attachment; filename=spend-`+sp.ID+`.psbt` {
		t.Fatalf("download: %d %q", dl.status, dl.header.Get("Content-Disposition"))
	}

	// Refused uploads: each says why and changes nothing.
	unchanged := func(what string) {
		t.Helper()
		got, err := h.db.GetSpend(ctx, sp.ID)
		if err != nil || got.Status != spend.StatusUnsigned || got.Version != sp.Version || got.TxID != "" {
			t.Fatalf("%s changed the spend: %+v, %v", what, got, err)
		}
		if r, _ := h.db.GetRefund(ctx, r0.ID); r.Status != refund.StatusCreated {
			t.Fatalf("%s changed the refund: %s", what, r.Status)
		}
		if n := h.chain.count(); n != 0 {
			t.Fatalf("%s sent %d transactions", what, n)
		}
	}
	if r := owner.postFile(page+"/signed", url.Values{"signed": {"cHNidP8B"}}, nil); r.status != http.StatusForbidden {
		t.Fatalf("upload without the CSRF token: %d", r.status)
	}
	unchanged("an upload without the CSRF token")
	csrf := owner.csrf(page)
	for _, c := range []struct {
		name   string
		fields url.Values
		file   []byte
		status int
		want   string
	}{
		{"garbage", url.Values{"signed": {"<script>alert(1)</script>"}}, nil, http.StatusUnprocessableEntity,
			"This is not a PSBT or a transaction"},
		{"damaged base64", url.Values{"signed": {"cHNidP8B!!!"}}, nil, http.StatusUnprocessableEntity, "base64 is damaged"},
		{"the unsigned PSBT as a file", nil, sp.PSBT, http.StatusUnprocessableEntity, "not completely signed"},
		{"nothing", url.Values{"signed": {"  "}}, nil, http.StatusUnprocessableEntity, "Choose the signed PSBT file"},
		{"a file over 4 MB", nil, bytes.Repeat([]byte{'A'}, wallet.MaxUploadBytes+1), http.StatusUnprocessableEntity,
			"larger than 4 MB"},
		{"a form over the bound", nil, bytes.Repeat([]byte{'A'}, 2*wallet.MaxUploadBytes+100<<10), http.StatusRequestEntityTooLarge,
			"larger than kassa takes"},
	} {
		fields := url.Values{"csrf": {csrf}}
		for k, v := range c.fields {
			fields[k] = v
		}
		r := owner.postFile(page+"/signed", fields, c.file)
		if r.status != c.status || !strings.Contains(r.body, c.want) {
			t.Fatalf("%s: %d, want %d with %q\n%s", c.name, r.status, c.status, c.want, r.body)
		}
		mustNotContain(t, c.name, r.body, "<script>alert(1)</script>")
		unchanged(c.name)
	}
	// A spend of another store, and an unknown one, are not found.
	otherStore := owner.createStore("Other", regtestKey(t, "other"))
	if r := owner.get("/dashboard/stores/" + otherStore + "/spends/" + sp.ID); r.status != http.StatusNotFound {
		t.Fatalf("a spend through another store: %d", r.status)
	}
	if r := owner.get(root + "/spends/nosuchspend/psbt"); r.status != http.StatusNotFound {
		t.Fatalf("an unknown spend's PSBT: %d", r.status)
	}

	// Signed by the merchant's wallet: checked, recorded, sent.
	r = owner.postFile(page+"/signed", url.Values{"csrf": {csrf}, "signed": {string(kassatest.SignPSBT(t, merchantName, sp.PSBT))}}, nil)
	if r.status != http.StatusSeeOther || r.loc != page+"?done=sent" {
		t.Fatalf("signed upload: %d %s\n%s", r.status, r.loc, r.body)
	}
	got, err := h.db.GetSpend(ctx, sp.ID)
	if err != nil || got.Status != spend.StatusBroadcast || got.TxID == "" || h.chain.count() != 1 {
		t.Fatalf("after the upload: %+v, %v, %d sent", got, err, h.chain.count())
	}
	if rf, _ := h.db.GetRefund(ctx, r0.ID); rf.Status != refund.StatusPending || rf.TxID != got.TxID {
		t.Fatalf("refund after the upload: %+v", rf)
	}
	r = owner.get(r.loc)
	mustContain(t, "spend page after the upload", r.body, "checked, recorded and sent", `id="status">broadcast<`, got.TxID)
	mustNotContain(t, "spend page after the upload", r.body, `id="upload-form"`, `id="psbt"`)
	if r := owner.get(page + "/psbt"); r.status != http.StatusConflict {
		t.Fatalf("PSBT of a signed spend: %d", r.status)
	}
}

// TestSpendRebuilt: a spend whose coin the merchant spent elsewhere is
// rebuilt when its page is opened, and the page says so; an upload
// signed before its coin was spent elsewhere is refused as stale, the
// page offering the new PSBT, which then goes through.
func TestSpendRebuilt(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	m := h.moneyStore()
	h.chainSaw(110, []store.Coin{m.coin(t, 0xc1, 0, 0, 60_000, 100), m.coin(t, 0xc2, 0, 1, 70_000, 100),
		m.coin(t, 0xc3, 0, 2, 80_000, 100)})
	r0 := h.refundOf(m, 25_000)
	sp, err := h.engine.PrepareRefund(ctx, r0.ID)
	if err != nil {
		t.Fatal(err)
	}
	page := "/dashboard/stores/" + m.storeID + "/spends/" + sp.ID
	spentElsewhere := func(in spend.Input, by byte) {
		t.Helper()
		h.chainSaw(110, nil, store.CoinSpend{TxID: in.TxID, Vout: in.Vout, SpentBy: strings.Repeat(fmt.Sprintf("%02x", by), 32)})
	}
	spentElsewhere(sp.Inputs[0], 0xd1)
	r := m.owner.get(page)
	cur, _ := h.db.GetSpend(ctx, sp.ID)
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="rebuilt"`) || bytes.Equal(cur.PSBT, sp.PSBT) ||
		shownPSBT(r.body) != base64.StdEncoding.EncodeToString(cur.PSBT) {
		t.Fatalf("page of a spend whose coin was spent elsewhere: %d\n%s", r.status, r.body)
	}
	if r := m.owner.get(page); strings.Contains(r.body, `id="rebuilt"`) {
		t.Fatal("the page says rebuilt again when nothing changed")
	}

	// (The form is fetched first: opening the page would rebuild the
	// spend as soon as its coin is spent.)
	csrf := m.owner.csrf(page)
	signed := kassatest.SignPSBT(t, merchantName, cur.PSBT)
	spentElsewhere(cur.Inputs[0], 0xd2)
	r = m.owner.postFile(page+"/signed", url.Values{"csrf": {csrf}}, signed)
	next, _ := h.db.GetSpend(ctx, sp.ID)
	if r.status != http.StatusConflict || !strings.Contains(r.body, "spent by another transaction") ||
		!strings.Contains(r.body, `id="rebuilt"`) || shownPSBT(r.body) != base64.StdEncoding.EncodeToString(next.PSBT) ||
		next.Status != spend.StatusUnsigned || bytes.Equal(next.PSBT, cur.PSBT) || h.chain.count() != 0 {
		t.Fatalf("stale upload: %d, spend %s\n%s", r.status, next.Status, r.body)
	}
	r = m.owner.postFile(page+"/signed", url.Values{"csrf": {csrf}}, kassatest.SignPSBT(t, merchantName, next.PSBT, "-finalize"))
	if r.status != http.StatusSeeOther || h.chain.count() != 1 {
		t.Fatalf("upload of the rebuilt spend: %d\n%s", r.status, r.body)
	}
}

// TestSpendWithoutNode: without a spend engine the spend page says
// spending needs a chain backend and offers neither download nor upload.
func TestSpendWithoutNode(t *testing.T) {
	h := newHarness(t, options{noNode: true})
	ctx := context.Background()
	m := h.moneyStore()
	h.chainSaw(110, []store.Coin{m.coin(t, 0xe1, 0, 0, 60_000, 100)})
	r0 := h.refundOf(m, 25_000)
	sp, err := spender.New(spender.Config{Store: h.db, Chain: &fakeChain{}}).PrepareRefund(ctx, r0.ID)
	if err != nil {
		t.Fatal(err)
	}
	page := "/dashboard/stores/" + m.storeID + "/spends/" + sp.ID
	r := m.owner.get(page)
	mustContain(t, "spend page without a node", r.body, `id="no-node"`, "Spending needs a chain backend")
	mustNotContain(t, "spend page without a node", r.body, `id="upload-form"`, `id="download-psbt"`)
	if r := m.owner.get(page + "/psbt"); r.status != http.StatusConflict {
		t.Fatalf("download without a node: %d", r.status)
	}
	r = m.owner.postFile(page+"/signed", url.Values{"csrf": {m.owner.csrf(page)}, "signed": {"cHNidP8B"}}, nil)
	if r.status != http.StatusConflict || !strings.Contains(r.body, "Spending needs a chain backend") {
		t.Fatalf("upload without a node: %d", r.status)
	}
	if got, _ := h.db.GetSpend(ctx, sp.ID); got.Version != sp.Version {
		t.Fatal("an upload without a node changed the spend")
	}
}

// sentSpend prepares a refund's spend and uploads it signed: a spend sent
// and not yet in a block.
func (h *harness) sentSpend(m *moneyStore, sats money.Sats) spend.Spend {
	h.t.Helper()
	sp, err := h.engine.PrepareRefund(context.Background(), h.refundOf(m, sats).ID)
	if err != nil {
		h.t.Fatal(err)
	}
	sent, err := h.engine.Submit(context.Background(), sp.ID, kassatest.SignPSBT(h.t, merchantName, sp.PSBT))
	if err != nil || sent.Status != spend.StatusBroadcast {
		h.t.Fatalf("send the spend: %+v, %v", sent, err)
	}
	return sent
}

// TestSpendBump: a sent spend's page offers managers a fee bump (not
// employees); a rate that is not a number, not above the spend's, or the
// form without its CSRF token change nothing; a bump shows the
// replacement's PSBT to download, and its signed upload replaces the
// transaction.
func TestSpendBump(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	m := h.moneyStore()
	h.chainSaw(110, []store.Coin{m.coin(t, 0xa5, 0, 0, 60_000, 100)})
	sp := h.sentSpend(m, 25_000)
	page := "/dashboard/stores/" + m.storeID + "/spends/" + sp.ID

	emp := h.addMember("employee@example.com", m.storeID, account.RoleEmployee)
	r := emp.get(page)
	mustNotContain(t, "sent spend as employee", r.body, `id="bump-form"`)
	if r := emp.post(page+"/bump", url.Values{"csrf": {emp.csrf(page)}, "rate": {"10"}}); r.status != http.StatusForbidden {
		t.Fatalf("bump by an employee: %d", r.status)
	}
	mgr := h.addMember("manager@example.com", m.storeID, account.RoleManager)
	r = mgr.get(page)
	mustContain(t, "sent spend", r.body, `id="bump-form"`, `name="rate" min="1" step="1" required value="7"`)
	mustNotContain(t, "sent spend", r.body, `id="upload-form"`, `id="hot-form"`)
	unchanged := func(what string) {
		t.Helper()
		got, _ := h.db.GetSpend(ctx, sp.ID)
		if got.Bump != nil || got.Version != sp.Version || got.TxID != sp.TxID {
			t.Fatalf("%s changed the spend: %+v", what, got)
		}
	}
	if r := mgr.post(page+"/bump", url.Values{"rate": {"10"}}); r.status != http.StatusForbidden {
		t.Fatalf("bump without the CSRF token: %d", r.status)
	}
	unchanged("a bump without the CSRF token")
	csrf := mgr.csrf(page)
	for _, c := range []struct{ rate, want string }{
		{"fast", "whole number of sat/vB"}, {"-3", "whole number of sat/vB"}, {"2", "must be above the spend"},
		{"1", "must be above the spend"}, {"100000", "within the store"},
	} {
		r := mgr.post(page+"/bump", url.Values{"csrf": {csrf}, "rate": {c.rate}})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, c.want) {
			t.Fatalf("bump at %q: %d, want %q\n%s", c.rate, r.status, c.want, r.body)
		}
		unchanged("a bump at " + c.rate)
	}

	r = mgr.post(page+"/bump", url.Values{"csrf": {csrf}, "rate": {"7"}})
	if r.status != http.StatusSeeOther || r.loc != page+"?done=bump" {
		t.Fatalf("bump: %d %s\n%s", r.status, r.loc, r.body)
	}
	bumped, _ := h.db.GetSpend(ctx, sp.ID)
	if bumped.Bump == nil || bumped.Bump.FeeRate != 7 {
		t.Fatalf("after the bump: %+v", bumped)
	}
	r = mgr.get(r.loc)
	mustContain(t, "bumped spend", r.body, "Fee bump prepared", `id="bump"`, `id="bump-psbt"`, `id="upload-form"`)
	if got := shownPSBT(r.body); got != base64.StdEncoding.EncodeToString(bumped.Bump.PSBT) {
		t.Fatal("the page does not show the bump's PSBT")
	}
	dl := mgr.get(page + "/psbt")
	if dl.status != http.StatusOK || dl.body != string(bumped.Bump.PSBT) ||
		dl.header.Get("Content-Disposition") != `attachment; filename=spend-`+sp.ID+`-bump.psbt` {
		t.Fatalf("bump download: %d %q", dl.status, dl.header.Get("Content-Disposition"))
	}
	r = mgr.postFile(page+"/signed", url.Values{"csrf": {csrf}}, kassatest.SignPSBT(t, merchantName, bumped.Bump.PSBT))
	if r.status != http.StatusSeeOther || r.loc != page+"?done=sent" {
		t.Fatalf("signed bump: %d %s\n%s", r.status, r.loc, r.body)
	}
	final, _ := h.db.GetSpend(ctx, sp.ID)
	if final.TxID == sp.TxID || final.Bump != nil || final.FeeRate != 7 || !final.Mine(sp.TxID) || h.chain.count() != 2 {
		t.Fatalf("after the signed bump: %+v, %d sent", final, h.chain.count())
	}
	if rf, _ := h.db.GetRefund(ctx, final.SubjectID); rf.TxID != final.TxID || rf.Status != refund.StatusPending {
		t.Fatalf("the refund after the bump: %+v", rf)
	}
	mustContain(t, "replaced spend", mgr.get(page).body, final.TxID, sp.TxID, `id="bump-form"`)
}

// TestHotSignButton: on an unsigned refund spend of a store with a hot
// key, owners (not managers) see "Sign and send with the hot signer"; an
// owner without a second factor is told to turn it on, a wrong, missing
// or reused code is refused, all changing nothing; a current code signs
// and sends the spend through the engine, and a spend over the store's
// daily limit is refused in plain words and waits for the wallet.
func TestHotSignButton(t *testing.T) {
	h := newHarness(t, options{hot: true})
	ctx := context.Background()
	m := h.moneyStore()
	h.chainSaw(110, []store.Coin{m.coin(t, 0xa6, 0, 0, 60_000, 100), m.coin(t, 0xa7, 0, 1, 60_000, 100)})
	prepare := func(sats money.Sats) (spend.Spend, string) {
		t.Helper()
		sp, err := h.engine.PrepareRefund(ctx, h.refundOf(m, sats).ID)
		if err != nil {
			t.Fatal(err)
		}
		return sp, "/dashboard/stores/" + m.storeID + "/spends/" + sp.ID
	}
	sp, page := prepare(25_000)
	if r := m.owner.get(page); strings.Contains(r.body, `id="hot"`) {
		t.Fatal("the hot signer's button shows for a store without a hot key")
	}
	st, err := h.db.GetStore(ctx, m.storeID)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := h.hot.Seal(st, []byte(kassatest.AccountPriv(t, merchantName)), hotwallet.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.PutHotKey(ctx, store.HotKey{StoreID: m.storeID, Sealed: sealed, DailyLimit: 30_000, CreatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string, s spend.Spend) {
		t.Helper()
		got, _ := h.db.GetSpend(ctx, s.ID)
		if got.Status != spend.StatusUnsigned || got.Version != s.Version || h.chain.count() != 0 {
			t.Fatalf("%s changed the spend: %+v, %d sent", what, got, h.chain.count())
		}
	}

	mgr := h.addMember("manager@example.com", m.storeID, account.RoleManager)
	r := mgr.get(page)
	mustContain(t, "unsigned spend as manager", r.body, `id="upload-form"`)
	mustNotContain(t, "unsigned spend as manager", r.body, `id="hot"`)
	if r := mgr.post(page+"/hot", url.Values{"csrf": {mgr.csrf(page)}, "code": {"123456"}}); r.status != http.StatusForbidden {
		t.Fatalf("hot signer by a manager: %d", r.status)
	}
	unchanged("a manager", sp)

	owner := m.owner
	r = owner.get(page)
	mustContain(t, "owner without 2FA", r.body, `id="hot"`, `id="hot-needs-2fa"`, "0.0003 BTC per 24 hours")
	mustNotContain(t, "owner without 2FA", r.body, `id="hot-form"`)
	r = owner.post(page+"/hot", url.Values{"csrf": {owner.csrf(page)}, "code": {"123456"}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "turn on two-factor authentication") {
		t.Fatalf("hot signer without 2FA: %d\n%s", r.status, r.body)
	}
	unchanged("an owner without 2FA", sp)

	secret, _ := enrol(t, h, owner)
	h.clock.Add(31 * time.Second) // the enrolment used the current code
	r = owner.get(page)
	mustContain(t, "owner with 2FA", r.body, `id="hot-form"`, `id="hot-sign"`)
	csrf := owner.csrf(page)
	code, _ := dashboard.TOTPCode(secret, h.clock.Now())
	if r := owner.post(page+"/hot", url.Values{"code": {code}}); r.status != http.StatusForbidden {
		t.Fatalf("hot signer without the CSRF token: %d", r.status)
	}
	for _, bad := range []string{"", "12345", "<script>"} {
		r := owner.post(page+"/hot", url.Values{"csrf": {csrf}, "code": {bad}})
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong or already used code") {
			t.Fatalf("hot signer with code %q: %d\n%s", bad, r.status, r.body)
		}
		mustNotContain(t, "a wrong code", r.body, "<script>")
		unchanged("a wrong code", sp)
	}
	// Wrong codes are throttled as at sign-in: the right one must wait.
	if r := owner.post(page+"/hot", url.Values{"csrf": {csrf}, "code": {code}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("a fourth code at once: %d", r.status)
	}
	unchanged("a throttled code", sp)
	if err := h.db.ResetLoginFailures(ctx, "acct:"+ownerEmail); err != nil {
		t.Fatal(err)
	}
	r = owner.post(page+"/hot", url.Values{"csrf": {csrf}, "code": {code}})
	if r.status != http.StatusSeeOther || r.loc != page+"?done=sent" {
		t.Fatalf("hot signer: %d %s\n%s", r.status, r.loc, r.body)
	}
	got, _ := h.db.GetSpend(ctx, sp.ID)
	if got.Status != spend.StatusBroadcast || got.TxID == "" || h.chain.count() != 1 {
		t.Fatalf("after the hot signer: %+v, %d sent", got, h.chain.count())
	}
	if rf, _ := h.db.GetRefund(ctx, sp.SubjectID); rf.Status != refund.StatusPending || rf.TxID != got.TxID {
		t.Fatalf("the refund after the hot signer: %+v", rf)
	}
	mustContain(t, "hot-signed spend", owner.get(r.loc).body, "checked, recorded and sent", got.TxID)

	// The same code again is refused; a new one meets the daily limit.
	sp2, page2 := prepare(20_000)
	r = owner.post(page2+"/hot", url.Values{"csrf": {csrf}, "code": {code}})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("a reused code: %d", r.status)
	}
	h.clock.Add(30 * time.Second)
	code, _ = dashboard.TOTPCode(secret, h.clock.Now())
	r = owner.post(page2+"/hot", url.Values{"csrf": {csrf}, "code": {code}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "past its limit of 30000 sats") || !strings.Contains(r.body, `id="upload-form"`) {
		t.Fatalf("over the daily limit: %d\n%s", r.status, r.body)
	}
	if again, _ := h.db.GetSpend(ctx, sp2.ID); again.Status != spend.StatusUnsigned || h.chain.count() != 1 {
		t.Fatalf("a refused hot signature changed the spend: %+v", again)
	}
}
