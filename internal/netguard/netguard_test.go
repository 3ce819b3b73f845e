package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		addr string
		// reason is why the address is refused without the setting ("" =
		// allowed); always marks those refused with it too.
		reason string
		always bool
	}{
		{"8.8.8.8", "", false},
		{"1.1.1.1", "", false},
		{"2606:4700:4700::1111", "", false},
		{"127.0.0.1", "loopback", false},
		{"127.255.255.254", "loopback", false},
		{"::1", "loopback", false},
		{"::ffff:127.0.0.1", "loopback", false}, // IPv4-mapped
		{"10.1.2.3", "private", false},
		{"172.16.0.1", "private", false},
		{"172.31.255.255", "private", false},
		{"172.32.0.1", "", false},
		{"192.168.1.1", "private", false},
		{"fd12:3456::1", "private", false},
		{"169.254.1.1", "link-local", false},
		{"fe80::1", "link-local", false},
		{"fe80::1%eth0", "link-local", false},
		{"100.64.0.1", "shared (CGNAT)", false},
		{"100.127.255.255", "shared (CGNAT)", false},
		{"100.128.0.1", "", false},
		{"64:ff9b::7f00:1", "loopback", false},  // NAT64 of 127.0.0.1
		{"64:ff9b::808:808", "", false},         // NAT64 of 8.8.8.8
		{"2002:c0a8:0101::1", "private", false}, // 6to4 of 192.168.1.1
		{"169.254.169.254", "cloud metadata", true},
		{"fd00:ec2::254", "cloud metadata", true},
		{"::ffff:169.254.169.254", "cloud metadata", true},
		{"0.0.0.0", "unspecified", true},
		{"::", "unspecified", true},
		{"224.0.0.1", "multicast", true},
		{"ff02::1", "multicast", true},
		{"255.255.255.255", "reserved", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			err := Check(addr, false)
			var re *RefusedError
			switch {
			case tt.reason == "" && err != nil:
				t.Errorf("Check(%s) = %v, want allowed", tt.addr, err)
			case tt.reason != "" && (!errors.As(err, &re) || re.Reason != tt.reason || !errors.Is(err, ErrRefused)):
				t.Errorf("Check(%s) = %v, want refused as %s", tt.addr, err, tt.reason)
			}
			err = Check(addr, true)
			if tt.always != (err != nil) {
				t.Errorf("Check(%s, allowPrivate) = %v, want refused: %v", tt.addr, err, tt.always)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url          string
		ok, okPriv   bool
		wantFragment string
	}{
		{"https://shop.example.com/ipn?order=1", true, true, ""},
		{"https://shop.example.com:8443/ipn", true, true, ""},
		{"HTTPS://Shop.Example.COM/ipn", true, true, ""},
		{"http://shop.example.com/ipn", false, true, "https"},
		{"ftp://shop.example.com/ipn", false, false, "https URL"},
		{"/ipn", false, false, "https URL"},
		{"shop.example.com/ipn", false, false, "https URL"},
		{"https:///ipn", false, false, "host"},
		{"https:shop.example.com", false, false, "host"},
		{"https://user:pass@shop.example.com/ipn", false, false, "user name"},
		{"https://user@shop.example.com/ipn", false, false, "user name"},
		{"https://shop.example.com:0/ipn", false, false, "port"},
		{"https://shop.example.com:70000/ipn", false, false, "port"},
		{"https://8.8.8.8/ipn", true, true, ""},
		{"https://127.0.0.1:8443/ipn", false, true, "loopback"},
		{"http://127.0.0.1:8443/ipn", false, true, "https"},
		{"https://[::1]/ipn", false, true, "loopback"},
		{"https://10.0.0.5/ipn", false, true, "private"},
		{"https://169.254.169.254/latest/meta-data", false, false, "metadata"},
		{"https://[fd00:ec2::254]/", false, false, "metadata"},
		{"https://" + strings.Repeat("a", MaxURLLength) + ".com/", false, false, "longer"},
		{"https://shop example.com/", false, false, "valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url[:min(len(tt.url), 60)], func(t *testing.T) {
			_, err := CheckURL(tt.url, false)
			if tt.ok != (err == nil) {
				t.Errorf("CheckURL = %v, want ok %v", err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.wantFragment)) {
				t.Errorf("CheckURL error %q does not match ErrRefused or mention %q", err, tt.wantFragment)
			}
			if _, err := CheckURL(tt.url, true); tt.okPriv != (err == nil) {
				t.Errorf("CheckURL(allowPrivate) = %v, want ok %v", err, tt.okPriv)
			}
		})
	}
}

// staticResolver answers lookups from a table; it stands in for DNS,
// which tests may not reach.
type staticResolver map[string][]string

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestCheckTarget(t *testing.T) {
	r := staticResolver{
		"public.example.com":   {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"internal.example.com": {"93.184.215.14", "10.0.0.7"}, // one private address is enough
		"rebind.example.com":   {"127.0.0.1"},
		"meta.example.com":     {"169.254.169.254"},
	}
	tests := []struct {
		url    string
		ok     bool
		okPriv bool
	}{
		{"https://public.example.com/ipn", true, true},
		{"https://internal.example.com/ipn", false, true},
		{"https://rebind.example.com/ipn", false, true},
		{"https://meta.example.com/ipn", false, true}, // not looked up with the setting; Control refuses it
		{"https://nxdomain.example.com/ipn", true, true},
		{"https://shop.example/ipn", true, true},
		{"https://shop.test/ipn", true, true},
		{"https://localhost/ipn", false, true},
		{"https://app.localhost./ipn", false, true},
		{"http://public.example.com/ipn", false, true},
		{"https://127.0.0.1/ipn", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := CheckTarget(context.Background(), tt.url, false, r)
			if tt.ok != (err == nil) {
				t.Errorf("CheckTarget = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Errorf("CheckTarget error %v does not match ErrRefused", err)
			}
			if err := CheckTarget(context.Background(), tt.url, true, r); tt.okPriv != (err == nil) {
				t.Errorf("CheckTarget(allowPrivate) = %v, want ok %v", err, tt.okPriv)
			}
		})
	}
}

// TestTransportRefusesLoopback connects to a real loopback server through
// the guarded transport: refused by default, allowed with the setting.
func TestTransportRefusesLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	for _, allow := range []bool{false, true} {
		tr := NewTransport(allow, 5*time.Second)
		c := &http.Client{Transport: tr}
		resp, err := c.Get(srv.URL)
		if allow {
			if err != nil {
				t.Fatalf("allowPrivate: %v", err)
			}
			resp.Body.Close()
		} else {
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason != "loopback" {
				t.Fatalf("default transport to %s: %v, want a loopback refusal", srv.URL, err)
			}
		}
		tr.CloseIdleConnections()
	}
	// A name resolving to loopback is refused at connect time too.
	host := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	tr := NewTransport(false, 5*time.Second)
	defer tr.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr}).Get(host); !errors.Is(err, ErrRefused) {
		t.Fatalf("GET %s: %v, want refused", host, err)
	}
}
