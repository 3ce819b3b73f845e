package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/kassa-pay/kassa/internal/netguard"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/store"
)

// attempt is the outcome of one try: the HTTP status (0 for none), the
// error (nil for success) and whether retrying is pointless.
type attempt struct {
	status    int
	err       error
	permanent bool
}

// lane is a channel's workers as the dispatcher sees them: how many are
// busy, and with which hosts. Only the dispatcher goroutine touches the
// counts; workers report back on done.
type lane struct {
	channel   string
	workers   int
	hostLimit int
	jobs      chan store.Claimed
	done      chan string // the host of each finished job
	inFlight  int
	hosts     map[string]int
}

func newLane(channel string, workers, hostLimit int) *lane {
	return &lane{channel: channel, workers: workers, hostLimit: hostLimit, jobs: make(chan store.Claimed),
		done: make(chan string, workers), hosts: map[string]int{}}
}

func (l *lane) start(host string) {
	l.inFlight++
	l.hosts[host]++
}

func (l *lane) finish(host string) {
	l.inFlight--
	if l.hosts[host]--; l.hosts[host] <= 0 {
		delete(l.hosts, host)
	}
}

// reap takes in every finished job reported so far.
func (l *lane) reap() {
	for {
		select {
		case h := <-l.done:
			l.finish(h)
		default:
			return
		}
	}
}

// busyHosts returns the hosts at their in-flight limit.
func (l *lane) busyHosts() []string {
	var out []string
	for h, n := range l.hosts {
		if h != "" && n >= l.hostLimit {
			out = append(out, h)
		}
	}
	return out
}

// hostOf returns a URL's host[:port] in lower case, "" if it has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// sendIPN makes one IPN attempt.
func (s *Service) sendIPN(ctx context.Context, c store.Claimed) attempt {
	if _, err := netguard.CheckURL(c.Target, s.cfg.AllowPrivate); err != nil {
		var refused *netguard.RefusedError
		// A malformed URL never gets better; a refused address may (DNS).
		return attempt{err: err, permanent: !errors.As(err, &refused)}
	}
	sub, err := subjectOf(c.Event)
	if err != nil {
		return attempt{err: err, permanent: true}
	}
	body, createdBy, created, err := sub.ipn(c.Event, s.cfg.PublicURL)
	if err != nil {
		return attempt{err: err, permanent: true}
	}
	key, err := s.signingKey(ctx, c.StoreID, createdBy, created)
	if err != nil {
		return attempt{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Target, bytes.NewReader(body))
	if err != nil {
		return attempt{err: fmt.Errorf("build request: %w", err), permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	req.Header.Set(EventIDHeader, c.EventID)
	if key != "" {
		req.Header.Set(SignatureHeader, Sign(body, key))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return attempt{err: requestError(err)}
	}
	// Read a bounded part of the answer: all of a short one, so the
	// connection can be reused; a longer one's connection is closed unread.
	snippet, rerr := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxResponse))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return attempt{status: resp.StatusCode}
	}
	msg := "HTTP " + resp.Status
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode <= 399 && loc != "" {
		msg += ": redirect to " + printable(loc, 200) + " not followed"
	} else if text := printable(string(snippet), 200); text != "" && rerr == nil {
		msg += ": " + text
	}
	return attempt{status: resp.StatusCode, err: errors.New(msg)}
}

// requestError makes a failed request's error readable: the guard's
// refusal or the network error, without Go's "Post \"url\":" prefix.
func requestError(err error) error {
	var refused *netguard.RefusedError
	if errors.As(err, &refused) {
		return refused
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("no answer within the timeout")
		}
		return ue.Err
	}
	return err
}

// printable keeps the first n bytes of s with control characters replaced,
// for error messages and logs.
func printable(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// sendMail makes one mail attempt.
func (s *Service) sendMail(ctx context.Context, c store.Claimed) attempt {
	sub, err := subjectOf(c.Event)
	if err != nil {
		return attempt{err: err, permanent: true}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*s.cfg.Timeout)
	defer cancel()
	if err := sub.mail(ctx, s, c.Target, c.Event); err != nil {
		// An unreadable event, or a mail server's 5xx (bad recipient,
		// refused sender), will not change on retry.
		var unreadable errUnreadable
		return attempt{err: err, permanent: errors.As(err, &unreadable) || errors.Is(err, email.ErrPermanent)}
	}
	return attempt{}
}
