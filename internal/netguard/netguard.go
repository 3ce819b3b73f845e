// Package netguard keeps kassa's outgoing webhook requests (IPNs) away from
// the machine and the network it runs on. A notificationURL comes from
// whoever creates an invoice; without a guard, an API client could make
// kassa POST to its own admin ports, to services on the private network or
// to a cloud metadata endpoint (server-side request forgery).
//
// Two checks work together. CheckURL and CheckTarget vet a URL when an
// invoice is created, so a bad notificationURL is refused with a clear
// error up front. Control is a net.Dialer Control function that refuses,
// at connect time, every address that is not public unicast: it sees the
// address actually dialled after DNS resolution, so a name that resolved
// to a public address at creation and to 127.0.0.1 later (DNS rebinding)
// is still refused. NewTransport builds an http.Transport that uses it and
// no proxy (a proxy would be dialled instead of the target).
//
// AllowPrivate (KASSA_IPN_ALLOW_PRIVATE) is for development and tests on
// one machine: it permits loopback, private, link-local and shared
// addresses and plain http. Even then cloud metadata addresses,
// unspecified and multicast addresses stay refused: nothing legitimate
// receives an IPN there.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrRefused matches every error for an address or URL the guard refuses.
var ErrRefused = errors.New("refused by the network guard")

// RefusedError names the address refused and why.
type RefusedError struct {
	Addr   netip.Addr
	Reason string // "loopback", "private", …
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refusing to connect to %s: %s address (KASSA_IPN_ALLOW_PRIVATE permits private targets)", e.Addr, e.Reason)
}

// Unwrap makes every RefusedError match ErrRefused.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// URLError is a notificationURL that is not acceptable as such.
type URLError struct{ Msg string }

func (e *URLError) Error() string { return e.Msg }

// Unwrap makes every URLError match ErrRefused.
func (e *URLError) Unwrap() error { return ErrRefused }

// MaxURLLength bounds a notificationURL.
const MaxURLLength = 2048

var (
	// metadata are cloud instance-metadata endpoints (AWS, GCP, Azure,
	// OpenStack at 169.254.169.254; AWS's IPv6 fd00:ec2::254), refused
	// even when private targets are allowed.
	metadata = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"),
		netip.MustParseAddr("fd00:ec2::254"),
	}
	// always are refused whatever the setting.
	always = []rangeReason{
		{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
		{netip.MustParsePrefix("::/128"), "unspecified"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // with 255.255.255.255, broadcast
	}
	// private are refused unless private targets are allowed.
	private = []rangeReason{
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private"},
		{netip.MustParsePrefix("fc00::/7"), "private"},  // unique local
		{netip.MustParsePrefix("fec0::/10"), "private"}, // deprecated site-local
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
		{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("100::/64"), "discard"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "private"}, // local-use NAT64
	}
	// nat64 and sixToFour embed an IPv4 address, which is judged instead.
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

type rangeReason struct {
	prefix netip.Prefix
	reason string
}

// Check returns nil if a connection to addr is allowed, else a
// *RefusedError.
func Check(addr netip.Addr, allowPrivate bool) error {
	if !addr.IsValid() {
		return &RefusedError{Addr: addr, Reason: "invalid"}
	}
	addr = addr.WithZone("")
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	// An IPv6 address that carries an IPv4 one reaches that one.
	if nat64.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	} else if sixToFour.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	for _, m := range metadata {
		if addr == m {
			return &RefusedError{Addr: addr, Reason: "cloud metadata"}
		}
	}
	for _, r := range always {
		if r.prefix.Contains(addr) {
			return &RefusedError{Addr: addr, Reason: r.reason}
		}
	}
	if allowPrivate {
		return nil
	}
	for _, r := range private {
		if r.prefix.Contains(addr) {
			return &RefusedError{Addr: addr, Reason: r.reason}
		}
	}
	return nil
}

// Control returns a net.Dialer Control function that refuses connections
// to addresses Check refuses. It runs after DNS resolution, for every
// address tried.
func Control(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Reason: "unparsable (" + address + ")"}
		}
		return Check(ap.Addr(), allowPrivate)
	}
}

// CheckURL validates a notificationURL's form: an absolute http or https
// URL (https unless allowPrivate) with a host, no user name or password,
// at most MaxURLLength bytes, and, when the host is an IP address, one
// Check allows. It does not resolve names; CheckTarget does.
func CheckURL(raw string, allowPrivate bool) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, &URLError{Msg: fmt.Sprintf("notificationURL is longer than %d bytes", MaxURLLength)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &URLError{Msg: "notificationURL is not a valid URL"}
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, &URLError{Msg: "notificationURL must be an absolute https URL"}
	case u.Scheme == "http" && !allowPrivate:
		return nil, &URLError{Msg: "notificationURL must use https"}
	case u.Opaque != "" || u.Hostname() == "":
		return nil, &URLError{Msg: "notificationURL must be an absolute https URL with a host"}
	case u.User != nil:
		return nil, &URLError{Msg: "notificationURL must not contain a user name or password"}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, &URLError{Msg: "notificationURL has an invalid port"}
		}
	}
	if addr, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := Check(addr, allowPrivate); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// LookupTimeout bounds CheckTarget's DNS lookup.
const LookupTimeout = 3 * time.Second

// CheckTarget is CheckURL plus a DNS lookup of the host: a name that
// resolves to any refused address is refused. A lookup that fails is not
// an error (the endpoint may not exist yet, or DNS may be down for a
// moment); the connect-time Control still guards every delivery. Names
// under the special-use domains test, example and invalid (RFC 6761),
// which never resolve publicly, are not looked up. With allowPrivate
// nothing is looked up: every address but those refused always is allowed,
// and Control refuses those at connect time.
func CheckTarget(ctx context.Context, raw string, allowPrivate bool, r Resolver) error {
	u, err := CheckURL(raw, allowPrivate)
	if err != nil {
		return err
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // checked by CheckURL
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if allowPrivate {
			return nil
		}
		return &RefusedError{Addr: netip.IPv6Loopback(), Reason: "loopback"}
	}
	if allowPrivate || specialUse(host) {
		return nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := Check(a, allowPrivate); err != nil {
			return err
		}
	}
	return nil
}

// specialUse reports whether a name is under a domain that never
// resolves publicly.
func specialUse(host string) bool {
	for _, d := range []string{"test", "example", "invalid"} {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// NewTransport returns an http.Transport whose connections pass Control,
// with no proxy, bounded dial, TLS handshake and header times, and a small
// idle pool.
func NewTransport(allowPrivate bool, timeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: 30 * time.Second, Control: Control(allowPrivate)}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    min(timeout, 10*time.Second),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        30 * time.Second,
	}
}
