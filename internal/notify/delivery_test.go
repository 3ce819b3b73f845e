package notify_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/testpg"
)

// TestRetryAfterServerError: the receiver answers 500, then 200. The IPN
// is retried with the same body and event id, and both attempts are
// recorded.
func TestRetryAfterServerError(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b.URL(t), invoice.SpeedMedium)
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				http.Error(w, "database\nlocked", http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		inv := f.create(invoice.Fields{NotificationURL: rc.url("/ipn?order=7")})
		f.resend(inv.ID)
		f.start(nil)
		ds := f.waitDeliveries(inv.ID, "the IPN delivered", allIn(1, store.DeliveryDelivered))
		if ds[0].Attempts != 2 || invoice.Code(ds[0].Code) != invoice.CodeManuallyNotified || ds[0].LastError != "" {
			t.Errorf("delivery = %+v", ds[0])
		}
		got := rc.received(inv.ID)
		if len(got) != 2 || !bytes.Equal(got[0].body, got[1].body) || got[0].eventID != got[1].eventID ||
			got[0].eventID != ds[0].EventID {
			t.Fatalf("the two attempts differ or are missing: %d received", len(got))
		}
		for _, h := range []string{"Content-Type", "Accept"} {
			if got[0].header.Get(h) != "application/json" {
				t.Errorf("%s = %q", h, got[0].header.Get(h))
			}
		}
		if got[0].header.Get(notify.SignatureHeader) != "" {
			t.Error("an unsigned store's IPN carries a signature")
		}
		as := f.attempts(inv.ID)
		if len(as) != 2 || as[0].N != 1 || as[0].StatusCode != 500 || !strings.Contains(as[0].Error, "HTTP 500") ||
			!strings.Contains(as[0].Error, "database locked") || as[1].N != 2 || as[1].StatusCode != 204 || as[1].Error != "" {
			t.Errorf("attempts = %+v", as)
		}
	})
}

// TestReceiverDownThenUp: while the receiver refuses connections, each
// invoice's first IPN is retried and the ones after it wait; once it is
// up, everything arrives, in event order per invoice.
func TestReceiverDownThenUp(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b.URL(t), invoice.SpeedMedium)
		rc := newReceiver(t, nil)
		sw := newSwitchable(t, rc.srv.Config.Handler)
		var ids []string
		for range 4 {
			inv := f.create(invoice.Fields{NotificationURL: sw.url("/ipn")})
			for range 3 {
				f.resend(inv.ID)
			}
			ids = append(ids, inv.ID)
		}
		f.start(nil)
		for _, id := range ids {
			ds := f.waitDeliveries(id, "failed attempts on the first IPN", func(ds []store.Delivery) bool {
				return len(ds) == 3 && ds[0].Attempts >= 2
			})
			if ds[1].Attempts != 0 || ds[2].Attempts != 0 || ds[0].State != store.DeliveryPending ||
				!strings.Contains(ds[0].LastError, "refused") {
				t.Fatalf("while down: %s", describe(ds))
			}
		}
		sw.up()
		for _, id := range ids {
			f.waitDeliveries(id, "all IPNs delivered", allIn(3, store.DeliveryDelivered))
			if got, want := firstArrivals(rc.received(id)), f.eventIDs(id); !slices.Equal(got, want) {
				t.Errorf("invoice %s: events arrived as %v, want %v", id, got, want)
			}
		}
	})
}

// TestSlowEndpointDoesNotDelayOthers: a receiver that hangs holds at most
// HostLimit workers; another invoice's IPN to another host goes out
// meanwhile.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	release := make(chan struct{})
	var hanging atomic.Int32
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		hanging.Add(1)
		defer hanging.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	fast := newReceiver(t, nil)
	var slowIDs []string
	for range 3 {
		inv := f.create(invoice.Fields{NotificationURL: slow.url("/ipn")})
		f.resend(inv.ID)
		slowIDs = append(slowIDs, inv.ID)
	}
	f.start(func(c *notify.Config) { c.Workers, c.HostLimit, c.Timeout = 3, 2, time.Minute })
	waitFor(t, "two IPNs hanging", func() bool { return hanging.Load() == 2 })

	other := f.create(invoice.Fields{NotificationURL: fast.url("/ipn")})
	f.resend(other.ID)
	f.waitDeliveries(other.ID, "the other invoice's IPN", allIn(1, store.DeliveryDelivered))
	if n := len(slow.received("")); n != 2 || hanging.Load() != 2 {
		t.Fatalf("slow host got %d requests (%d hanging), want 2: the host limit", n, hanging.Load())
	}
	close(release)
	for _, id := range slowIDs {
		f.waitDeliveries(id, "the slow IPNs", allIn(1, store.DeliveryDelivered))
	}
}

// TestRedirectNotFollowed: a 3xx is a failed attempt, its target is never
// requested, and once the retry window is over the delivery fails.
func TestRedirectNotFollowed(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	var followed atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	inv := f.create(invoice.Fields{NotificationURL: rc.url("/ipn")})
	f.resend(inv.ID)
	f.start(func(c *notify.Config) { c.RetryWindow = 300 * time.Millisecond })
	ds := f.waitDeliveries(inv.ID, "the delivery to fail", allIn(1, store.DeliveryFailed))
	if followed.Load() != 0 {
		t.Errorf("the redirect was followed %d times", followed.Load())
	}
	as := f.attempts(inv.ID)
	if len(as) < 2 || len(as) != ds[0].Attempts {
		t.Fatalf("%d attempts recorded, delivery counts %d", len(as), ds[0].Attempts)
	}
	for _, a := range as {
		if a.StatusCode != http.StatusFound || !strings.Contains(a.Error, "redirect to /elsewhere not followed") {
			t.Errorf("attempt = %+v", a)
		}
	}
	if !strings.Contains(f.logs.String(), "giving up") {
		t.Error("giving up was not logged")
	}
}

// TestHugeResponseBounded: an endless answer is read only up to the cap
// and its connection is closed; a 2xx still delivers, and an error page's
// text is cut short in the record.
func TestHugeResponseBounded(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	var mu sync.Mutex
	var writeErrs []error
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
		} else {
			w.WriteHeader(http.StatusOK)
		}
		for {
			if _, err := w.Write(chunk); err != nil {
				mu.Lock()
				writeErrs = append(writeErrs, err)
				mu.Unlock()
				return
			}
		}
	})
	inv := f.create(invoice.Fields{NotificationURL: rc.url("/ipn")})
	f.resend(inv.ID)
	f.start(nil)
	f.waitDeliveries(inv.ID, "the IPN delivered", allIn(1, store.DeliveryDelivered))
	waitFor(t, "the receiver's writes to fail (connection closed)", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(writeErrs) == 2
	})
	as := f.attempts(inv.ID)
	if len(as) != 2 || as[0].StatusCode != 502 || len(as[0].Error) > 300 || !strings.Contains(as[0].Error, "xxx") ||
		as[1].StatusCode != 200 {
		t.Errorf("attempts = %+v", as)
	}
}

// TestPrivateTargetRefused: without the setting, IPNs to loopback are
// refused at connect time (a name resolving to it included) and plain
// http fails at once; the receiver never sees a request.
func TestPrivateTargetRefused(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	rc := newReceiver(t, nil)
	port := rc.srv.Listener.Addr().String()
	port = port[strings.LastIndex(port, ":")+1:]
	byName := f.create(invoice.Fields{NotificationURL: "https://localhost:" + port + "/ipn"})
	byAddr := f.create(invoice.Fields{NotificationURL: "https://127.0.0.1:" + port + "/ipn"})
	plain := f.create(invoice.Fields{NotificationURL: rc.url("/ipn")})
	for _, inv := range []*invoice.Invoice{byName, byAddr, plain} {
		f.resend(inv.ID)
	}
	f.start(func(c *notify.Config) { c.AllowPrivate = false; c.RetryWindow = 200 * time.Millisecond })
	for _, tc := range []struct {
		inv  *invoice.Invoice
		want string
	}{
		{byName, "loopback address (KASSA_IPN_ALLOW_PRIVATE permits private targets)"},
		{byAddr, "refusing to connect to 127.0.0.1: loopback address"},
		{plain, "notificationURL must use https"},
	} {
		ds := f.waitDeliveries(tc.inv.ID, "the delivery to fail", allIn(1, store.DeliveryFailed))
		if !strings.Contains(ds[0].LastError, tc.want) {
			t.Errorf("%s: last error %q, want %q", tc.inv.Fields.NotificationURL, ds[0].LastError, tc.want)
		}
		if as := f.attempts(tc.inv.ID); len(as) == 0 || as[0].StatusCode != 0 || !strings.Contains(as[0].Error, tc.want) {
			t.Errorf("%s: attempts %+v", tc.inv.Fields.NotificationURL, as)
		}
	}
	if ds := f.deliveries(plain.ID, store.ChannelIPN); ds[0].Attempts != 1 {
		t.Errorf("a malformed target was tried %d times, want once", ds[0].Attempts)
	}
	if n := len(rc.received("")); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
}

// TestRestartMidRetry: the service stops while IPNs wait for a retry and
// the database is closed; a new service on the reopened database delivers
// every one, in order, with the earlier attempts kept.
func TestRestartMidRetry(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b.URL(t), invoice.SpeedMedium)
		var healthy atomic.Bool
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
		var ids []string
		for range 3 {
			inv := f.create(invoice.Fields{NotificationURL: rc.url("/ipn")})
			f.resend(inv.ID)
			f.resend(inv.ID)
			ids = append(ids, inv.ID)
		}
		stop := f.start(func(c *notify.Config) { c.RetryBase, c.RetryMax = 200*time.Millisecond, 200*time.Millisecond })
		for _, id := range ids {
			f.waitDeliveries(id, "a failed attempt", func(ds []store.Delivery) bool { return len(ds) == 2 && ds[0].Attempts >= 1 })
		}
		stop()
		before := map[string]int{}
		for _, id := range ids {
			before[id] = len(f.attempts(id))
		}
		f.closeDB()
		healthy.Store(true)
		f.openDB()
		f.start(nil)
		for _, id := range ids {
			ds := f.waitDeliveries(id, "delivery after the restart", allIn(2, store.DeliveryDelivered))
			if ds[0].Attempts < 2 || len(f.attempts(id)) <= before[id] {
				t.Errorf("invoice %s: %s; %d attempts before the restart", id, describe(ds), before[id])
			}
			got := rc.received(id)
			if last := got[len(got)-1]; last.eventID != ds[1].EventID {
				t.Errorf("invoice %s: last IPN is event %s, want %s", id, last.eventID, ds[1].EventID)
			}
			if arr := firstArrivals(got); !slices.Equal(arr, f.eventIDs(id)) {
				t.Errorf("invoice %s: order %v, want %v", id, arr, f.eventIDs(id))
			}
		}
	})
}

// TestSignedIPN: a store that signs IPNs sends x-signature, base64 of
// HMAC-SHA256 of the exact body keyed with the token that created the
// invoice; an invoice without one (or whose token is revoked) is signed
// with the store's oldest merchant token. The second token is made after
// the service has cached the store's tokens: it must still sign its own.
func TestSignedIPN(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	ctx := context.Background()
	if err := f.db.SetStoreSignIPN(ctx, f.storeID, true); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, nil)
	fields := invoice.Fields{NotificationURL: rc.url("/ipn"), ExtendedNotifications: true, FullNotifications: true}
	signedWith := func(id, key string) {
		t.Helper()
		f.resend(id)
		f.waitDeliveries(id, "the IPN delivered", allIn(1, store.DeliveryDelivered))
		got := rc.received(id)[0]
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(got.body)
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if sig := got.header.Get("x-signature"); sig == "" || !hmac.Equal([]byte(sig), []byte(want)) {
			t.Fatalf("invoice %s: x-signature %q, want %q", id, sig, want)
		}
	}
	token := func(revoked bool) auth.Token {
		t.Helper()
		tok := auth.Token{Value: auth.NewTokenValue(), StoreID: f.storeID, Facade: auth.FacadeMerchant, Active: true,
			CreatedAt: time.Now().UTC()}
		if revoked {
			tok.RevokedAt = tok.CreatedAt
		}
		if err := f.db.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	f.start(nil)
	signedWith(f.create(fields).ID, f.merchant)

	second := token(false)
	inv, err := f.g.CreateInvoice(ctx, f.storeID, gateway.NewInvoice{Price: "10", Currency: "USD", Fields: fields,
		CreatedBy: second.Ref()})
	if err != nil {
		t.Fatal(err)
	}
	signedWith(inv.ID, second.Value)

	revoked := token(true)
	inv, err = f.g.CreateInvoice(ctx, f.storeID, gateway.NewInvoice{Price: "10", Currency: "USD", Fields: fields,
		CreatedBy: revoked.Ref()})
	if err != nil {
		t.Fatal(err)
	}
	signedWith(inv.ID, f.merchant)
}

// recordingMailer is a Mailer that keeps what it is asked to send.
type recordingMailer struct {
	mu   sync.Mutex
	sent []string // "to code status"
	fail atomic.Bool
}

func (m *recordingMailer) Mail(_ context.Context, to string, inv invoice.Invoice, ev store.OutboxEvent) error {
	if m.fail.Load() {
		return errors.New("smtp: 451 try again later")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, fmt.Sprintf("%s %d %s %s", to, ev.Code, inv.Status, inv.ID))
	return nil
}

func (m *recordingMailer) MailRefund(_ context.Context, rm email.RefundMail) error {
	if m.fail.Load() {
		return errors.New("smtp: 451 try again later")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, fmt.Sprintf("%s %d %s %s", rm.To, rm.Event.Code, rm.Refund.Status, rm.Refund.ID))
	return nil
}

// TestEmailWaitsForAMailer: without a mailer, mail deliveries stay
// pending and the wait is logged once; a later service with a mailer sends
// them, retrying the mailer's errors.
func TestEmailWaitsForAMailer(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	var ids []string
	for range 2 {
		inv := f.create(invoice.Fields{NotificationEmail: "ops@shop.example"})
		if _, err := f.g.Act(context.Background(), inv.ID, invoice.Cancel{}); err != nil {
			t.Fatal(err)
		}
		f.resend(inv.ID) // no mail for a resend
		ids = append(ids, inv.ID)
	}
	stop := f.start(nil)
	waitFor(t, "the mails to be planned", func() bool {
		n, err := f.db.PendingDeliveries(context.Background(), store.ChannelEmail)
		return err == nil && n == 2
	})
	waitFor(t, "the missing mailer logged", func() bool { return strings.Contains(f.logs.String(), "no mailer is configured") })
	// More mails while waiting are not logged again.
	inv := f.create(invoice.Fields{NotificationEmail: "ops@shop.example"})
	if _, err := f.g.Act(context.Background(), inv.ID, invoice.Cancel{}); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, inv.ID)
	waitFor(t, "the third mail to be planned", func() bool {
		n, err := f.db.PendingDeliveries(context.Background(), store.ChannelEmail)
		return err == nil && n == 3
	})
	stop()
	if n := strings.Count(f.logs.String(), "no mailer is configured"); n != 1 {
		t.Errorf("the missing mailer was logged %d times, want once", n)
	}
	for _, id := range ids {
		ds := f.deliveries(id, store.ChannelEmail)
		if len(ds) != 1 || ds[0].State != store.DeliveryPending || ds[0].Attempts != 0 || ds[0].Target != "ops@shop.example" {
			t.Errorf("mail deliveries of %s: %+v", id, ds)
		}
	}

	m := &recordingMailer{}
	m.fail.Store(true)
	f.start(func(c *notify.Config) { c.Mailer = m })
	waitFor(t, "a failed mail attempt", func() bool { return len(f.attempts(ids[0])) > 0 })
	m.fail.Store(false)
	for _, id := range ids {
		waitFor(t, "the mail sent", func() bool {
			ds := f.deliveries(id, store.ChannelEmail)
			return len(ds) == 1 && ds[0].State == store.DeliveryDelivered
		})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		want := "ops@shop.example 1004 expired " + id
		if !slices.Contains(m.sent, want) {
			t.Errorf("sent %v, want %q", m.sent, want)
		}
	}
	if as := f.attempts(ids[0]); !strings.Contains(as[0].Error, "451") {
		t.Errorf("mail attempts = %+v", as)
	}
}

// TestStaleEventsNotSent: events older than the retry window when first
// planned (kassa was down longer) are not sent.
func TestStaleEventsNotSent(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	rc := newReceiver(t, nil)
	old := f.create(invoice.Fields{NotificationURL: rc.url("/ipn")})
	f.resend(old.ID)
	later := time.Now().Add(73 * time.Hour)
	f.start(func(c *notify.Config) { c.Clock = func() time.Time { return later } })
	waitFor(t, "the stale event to be skipped", func() bool {
		return strings.Contains(f.logs.String(), "older than the retry window")
	})
	evs, err := f.db.Outbox(context.Background(), old.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.DeliveredAt.IsZero() {
			t.Errorf("event %d not planned", ev.Code)
		}
	}
	if ds := f.deliveries(old.ID, store.ChannelIPN); len(ds) != 0 {
		t.Errorf("stale event got deliveries: %s", describe(ds))
	}
}

// TestNoGoroutinesLeft: after Run returns, the service's goroutines and
// connections are gone.
func TestNoGoroutinesLeft(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	rc := newReceiver(t, nil)
	var ids []string
	for range 20 {
		inv := f.create(invoice.Fields{NotificationURL: rc.url("/ipn")})
		f.resend(inv.ID)
		ids = append(ids, inv.ID)
	}
	before := runtime.NumGoroutine()
	stop := f.start(func(c *notify.Config) { c.Mailer = &recordingMailer{} })
	for _, id := range ids {
		f.waitDeliveries(id, "delivery", allIn(1, store.DeliveryDelivered))
	}
	stop()
	waitFor(t, "the goroutine count to drop back", func() bool { return runtime.NumGoroutine() <= before })
}

// TestOnlyThePlannerPlans: two services on one PostgreSQL database, as
// nodes of a cluster. While neither may plan (followers both), no event
// becomes a delivery and no IPN leaves; once one may (it leads), the IPN
// is planned and arrives exactly once.
func TestOnlyThePlannerPlans(t *testing.T) {
	f := newFixture(t, testpg.Schema(t), invoice.SpeedMedium)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusNoContent) })
	var leading atomic.Bool
	f.start(func(c *notify.Config) { c.Plans = func() bool { return false } })
	f.start(func(c *notify.Config) { c.Plans = leading.Load })
	inv := f.create(invoice.Fields{NotificationURL: rc.url("/ipn")})
	f.resend(inv.ID)
	time.Sleep(300 * time.Millisecond) // several polls of both services
	if ds := f.deliveries(inv.ID, store.ChannelIPN); len(ds) != 0 || len(rc.received(inv.ID)) != 0 {
		t.Fatalf("with no service planning: %d deliveries, %d IPNs", len(ds), len(rc.received(inv.ID)))
	}
	leading.Store(true)
	f.waitDeliveries(inv.ID, "the IPN delivered once a service plans", allIn(1, store.DeliveryDelivered))
	if got := rc.received(inv.ID); len(got) != 1 {
		t.Fatalf("%d IPNs arrived, want 1", len(got))
	}
}
