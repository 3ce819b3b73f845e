package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopspring/decimal"

	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/store"
)

// sharedProvider makes one node of several call a rate provider: the
// leader fetches and stores the answer, the followers read the stored
// answer, so a cluster asks the public rate APIs as often as one node
// does and every node prices invoices from the same quotes.
type sharedProvider struct {
	p       rates.Provider
	db      *store.DB
	leading func() bool
	// maxAge is how old a stored answer a follower still takes.
	maxAge time.Duration
	now    func() time.Time
	log    *slog.Logger
}

func (s *sharedProvider) Name() string { return s.p.Name() }

func (s *sharedProvider) Fetch(ctx context.Context) (map[string]decimal.Decimal, error) {
	if s.leading() {
		m, err := s.p.Fetch(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.db.SaveRateQuotes(ctx, s.p.Name(), m, s.now()); err != nil {
			s.log.Warn("share exchange rates with the other nodes", "source", s.p.Name(), "err", err)
		}
		return m, nil
	}
	m, at, err := s.db.RateQuotes(ctx, s.p.Name())
	switch {
	case err != nil:
	case len(m) == 0:
		err = errors.New("the leader has stored no rates of this source yet")
	case s.now().Sub(at) > s.maxAge:
		err = fmt.Errorf("the leader's rates are %s old", s.now().Sub(at).Round(time.Second))
	default:
		return m, nil
	}
	// No usable answer from the leader (a cold start, or no leader for a
	// while): ask the source directly rather than stop pricing invoices.
	s.log.Debug("fetching exchange rates directly", "source", s.p.Name(), "reason", err)
	return s.p.Fetch(ctx)
}

// shareProviders wraps every provider that calls out (not fixed rates) in a
// sharedProvider.
func shareProviders(ps []rates.Provider, db *store.DB, leading func() bool, log *slog.Logger) []rates.Provider {
	out := make([]rates.Provider, len(ps))
	for i, p := range ps {
		if _, fixed := p.(*rates.Fixed); fixed {
			out[i] = p
			continue
		}
		out[i] = &sharedProvider{p: p, db: db, leading: leading, maxAge: 2 * rates.DefaultRefreshInterval,
			now: time.Now, log: log}
	}
	return out
}
