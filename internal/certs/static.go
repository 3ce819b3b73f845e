// Package certs gives kassa serve its built-in TLS, for operators without
// a reverse proxy: certificate files that are re-read when they change
// (Static), certificates obtained and renewed over ACME from Let's Encrypt
// or another ACME server (ACME), and the plain-HTTP listener's handler
// that redirects to https (Redirect).
//
// ACME is built on golang.org/x/crypto/acme, the protocol client;
// golang.org/x/crypto/acme/autocert would need golang.org/x/net, which
// kassa does not depend on. ACME answers the tls-alpn-01 challenge on the
// TLS listener and the http-01 challenge through HTTPHandler on the
// redirect listener, keeps its account key and certificate in a cache
// directory (DATA_DIR/acme) and renews a certificate 30 days before it
// expires. Unlike autocert it asks for one certificate covering every
// configured domain, at start, not during a handshake.
package certs

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Static serves a certificate from PEM files and re-reads them when their
// modification times change, so a renewal needs no restart.
type Static struct {
	certFile, keyFile string
	log               *slog.Logger
	// CheckEvery is the least time between two looks at the files'
	// modification times (10 s unless set before use).
	CheckEvery time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	mods    [2]time.Time
	checked time.Time
}

// LoadStatic loads the certificate chain and key; an unreadable or
// mismatched pair is an error.
func LoadStatic(certFile, keyFile string, log *slog.Logger) (*Static, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Static{certFile: certFile, keyFile: keyFile, log: log, CheckEvery: 10 * time.Second}
	mods, err := s.modTimes()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	s.cert, s.mods, s.checked = &cert, mods, time.Now()
	return s, nil
}

func (s *Static) modTimes() ([2]time.Time, error) {
	var out [2]time.Time
	for i, p := range []string{s.certFile, s.keyFile} {
		st, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("TLS file: %w", err)
		}
		out[i] = st.ModTime()
	}
	return out, nil
}

// GetCertificate implements tls.Config.GetCertificate. A pair that fails
// to load after a change is logged and the previous one kept.
func (s *Static) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := time.Now(); now.Sub(s.checked) >= s.CheckEvery {
		s.checked = now
		if mods, err := s.modTimes(); err != nil {
			s.log.Warn("cannot check the TLS certificate files; keeping the loaded certificate", "err", err)
		} else if !mods[0].Equal(s.mods[0]) || !mods[1].Equal(s.mods[1]) {
			cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
			if err != nil {
				// A renewal writing the two files one after the other is
				// caught between them; the next look retries.
				s.log.Warn("TLS certificate files changed but do not load; keeping the previous certificate", "err", err)
			} else {
				s.cert, s.mods = &cert, mods
				s.log.Info("TLS certificate reloaded", "file", s.certFile)
			}
		}
	}
	return s.cert, nil
}

// TLSConfig returns a server configuration serving the certificate over
// HTTP/2 and HTTP/1.1, TLS 1.2 or later.
func (s *Static) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: s.GetCertificate, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
}
