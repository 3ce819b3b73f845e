package email_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

const (
	merchant  = "merchant@example.com"
	publicURL = "https://pay.example.com"
	invoiceID = "KSnNNfoMDsbRzd1U9ypmVH"
)

// clock is the fixed time the Date header is read from.
var clock = time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)

// testInvoice is a 10 USD invoice paid in full by one transaction.
func testInvoice() invoice.Invoice {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return invoice.Invoice{
		ID:       invoiceID,
		StoreID:  "store-1",
		Status:   invoice.StatusPaid,
		Speed:    invoice.SpeedMedium,
		Price:    decimal.RequireFromString("10"),
		Currency: "USD",
		Methods: []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("55072.46"),
			Due: 18200, Destination: "bcrt1qexample"}},
		CreatedAt: created,
		ExpiresAt: created.Add(15 * time.Minute),
		Payments: []invoice.Payment{{Method: invoice.MethodBTC,
			TxID: strings.Repeat("ab", 32), Vout: 1, Amount: 18200, SeenAt: created.Add(time.Minute),
		}},
		Fields: invoice.Fields{OrderID: "123", ItemDesc: "Blue widget", NotificationEmail: merchant},
	}
}

// eventFor returns the outbox event the store would write for inv, its
// snapshot included.
func eventFor(t *testing.T, inv invoice.Invoice, id string, code invoice.Code) store.OutboxEvent {
	t.Helper()
	snap, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	return store.OutboxEvent{
		Seq: 7, ID: id, Subject: store.SubjectInvoice, SubjectID: inv.ID, StoreID: inv.StoreID,
		Code: int(code), Name: code.Name(), Status: string(inv.Status), Exception: string(inv.Exception),
		CreatedAt: time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC), Snapshot: snap,
	}
}

// parsed is a received or composed mail taken apart.
type parsed struct {
	raw    []byte
	header mail.Header
	// rawHeader is the header block as sent, folded lines and all.
	rawHeader string
	subject   string // decoded
	text      string // decoded text/plain part
	html      string // decoded text/html part
	parts     int
}

func parseMail(t *testing.T, raw []byte) parsed {
	t.Helper()
	p := parsed{raw: raw}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		p.rawHeader = string(raw[:i+2])
	} else {
		t.Fatalf("no header/body separator in:\n%s", raw)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	p.header = msg.Header
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		p.parts++
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.text = string(body)
		case "text/html; charset=utf-8":
			p.html = string(body)
		default:
			t.Fatalf("unexpected part %q", ct)
		}
	}
	return p
}

// received is one mail the test server accepted.
type received struct {
	from string
	to   []string
	data []byte
	user string // the authenticated user, "" without AUTH
	tls  bool   // the session ran over TLS
}

// backend is the receiving end: a go-smtp backend that records what
// arrives and can be told to refuse.
type backend struct {
	user, pass                string // credentials AUTH PLAIN must present; AUTH fails when user is ""
	requireAuth               bool
	mailErr, rcptErr, dataErr error

	got      chan received
	sessions atomic.Int32 // sessions begun (one per EHLO)
	auths    atomic.Int32 // AUTH commands seen
}

func newBackend() *backend { return &backend{got: make(chan received, 16)} }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.sessions.Add(1)
	_, isTLS := c.TLSConnectionState()
	return &session{b: b, tls: isTLS}, nil
}

type session struct {
	b    *backend
	tls  bool
	user string
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	s.b.auths.Add(1)
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if s.b.user == "" || user != s.b.user || pass != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.requireAuth && s.user == "" {
		return smtp.ErrAuthRequired
	}
	if s.b.mailErr != nil {
		return s.b.mailErr
	}
	s.cur = received{from: from, user: s.user, tls: s.tls}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	s.cur.data = data
	s.b.got <- s.cur
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// serverOpts configures the test SMTP server.
type serverOpts struct {
	cert          *tls.Certificate // offered with STARTTLS, or from the first byte when implicit
	implicit      bool
	insecureAuths bool // allow AUTH without TLS
}

// startServer runs a go-smtp server on loopback until the test ends and
// returns its address.
func startServer(t *testing.T, b *backend, o serverOpts) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(b)
	s.Domain = "localhost"
	s.AllowInsecureAuth = o.insecureAuths
	s.ReadTimeout = time.Minute
	s.WriteTimeout = time.Minute
	s.ErrorLog = log.New(io.Discard, "", 0)
	if o.cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*o.cert}}
		if o.implicit {
			l = tls.NewListener(l, s.TLSConfig)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return l.Addr().String()
}

// silentServer accepts connections and never says a word. It returns its
// address and a channel that receives each accepted connection.
func silentServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			accepted <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String(), accepted
}

// testCert returns a self-signed certificate for 127.0.0.1 and localhost
// and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kassa test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// configFor parses an SMTP URL for addr, as an operator would write it.
func configFor(t *testing.T, scheme, userinfo, addr, query string) email.Config {
	t.Helper()
	u := scheme + "://"
	if userinfo != "" {
		u += userinfo + "@"
	}
	u += addr + "?from=kassa@example.com"
	if query != "" {
		u += "&" + query
	}
	cfg, err := email.ParseURL(u)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", u, err)
	}
	return cfg
}

func newMailer(cfg email.Config) *email.Mailer {
	return email.New(cfg, email.WithPublicURL(publicURL), email.WithClock(func() time.Time { return clock }))
}

// receive returns the next mail the backend accepted.
func receive(t *testing.T, b *backend) received {
	t.Helper()
	select {
	case r := <-b.got:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no mail arrived")
		return received{}
	}
}

// nothingReceived fails if the backend accepted a mail.
func nothingReceived(t *testing.T, b *backend) {
	t.Helper()
	select {
	case r := <-b.got:
		t.Fatalf("a mail arrived anyway:\n%s", r.data)
	default:
	}
}
