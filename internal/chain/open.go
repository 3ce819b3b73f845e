package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/chain/esplora"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// ErrWrongNetwork means the backend serves another network than the one
// kassa is configured for.
var ErrWrongNetwork = errors.New("chain backend is on the wrong network")

// Options configures the backend Open returns.
type Options struct {
	// URL names the backend (KASSA_CHAIN):
	//
	//	rpc://user:pass@host:port   Bitcoin Core or btcd JSON-RPC (also http://, and rpcs:// or https:// for TLS)
	//	esplora+https://host/api    an Esplora server (also esplora+http://)
	URL string
	// Network is the network kassa is configured for: mainnet, testnet
	// (testnet3), testnet4, signet or regtest.
	Network string
	// Sink receives the backend's batches (required).
	Sink Sink
	// PollInterval is the node watcher's poll interval or the Esplora
	// watcher's tick; the backend's default when zero.
	PollInterval time.Duration
	// Log is the backend's logger (slog.Default() if nil).
	Log *slog.Logger
	// Clock stamps payments (the system clock if nil).
	Clock Clock
	// HTTPClient, if set, is used by the backend's client (TLS settings,
	// proxies).
	HTTPClient *http.Client
	// Wake, if set, makes the node watcher poll at once on each receive.
	Wake <-chan struct{}
}

// Open connects to the chain backend named by opts.URL, checks that it is
// on opts.Network and returns its watcher, ready to Run. An unreachable
// backend is an error the caller may retry; a backend on another network
// is ErrWrongNetwork, naming both.
func Open(ctx context.Context, opts Options) (Backend, error) {
	if opts.Sink == nil {
		return nil, errors.New("open chain backend: a Sink is required")
	}
	want := rpc.NormaliseNetwork(opts.Network)
	scheme, rest, ok := strings.Cut(opts.URL, "://")
	if !ok {
		return nil, fmt.Errorf("chain url %q: want rpc://user:pass@host:port or esplora+https://host/api", redact(opts.URL))
	}
	switch scheme {
	case "rpc", "rpcs", "http", "https":
		var ropts []rpc.Option
		if opts.HTTPClient != nil {
			ropts = append(ropts, rpc.WithHTTPClient(opts.HTTPClient))
		}
		client, err := rpc.New(opts.URL, ropts...)
		if err != nil {
			return nil, fmt.Errorf("chain url %s: %w", redact(opts.URL), err)
		}
		if err := checkNetwork(ctx, client, client.Endpoint(), want); err != nil {
			return nil, err
		}
		return NewWatcher(Config{
			Source: client, Sink: opts.Sink, PollInterval: opts.PollInterval,
			Logger: opts.Log, Clock: opts.Clock, Wake: opts.Wake, Notify: client.Subscribe,
		})
	case "esplora+http", "esplora+https":
		var eopts []esplora.Option
		if opts.HTTPClient != nil {
			eopts = append(eopts, esplora.WithHTTPClient(opts.HTTPClient))
		}
		client, err := esplora.New(strings.TrimPrefix(scheme, "esplora+")+"://"+rest, eopts...)
		if err != nil {
			return nil, fmt.Errorf("chain url %s: %w", redact(opts.URL), err)
		}
		if err := checkNetwork(ctx, client, client.BaseURL(), want); err != nil {
			return nil, err
		}
		params, err := wallet.NetworkParams(want)
		if err != nil {
			return nil, fmt.Errorf("open chain backend: %w", err)
		}
		return NewEsploraWatcher(EsploraConfig{
			Source: client, Sink: opts.Sink, Tick: opts.PollInterval, Logger: opts.Log, Clock: opts.Clock,
			Params: params,
		})
	}
	return nil, fmt.Errorf("chain url scheme %q: want rpc, http(s) or esplora+http(s)", scheme)
}

type networker interface {
	Network(ctx context.Context) (string, error)
}

func checkNetwork(ctx context.Context, n networker, where, want string) error {
	got, err := n.Network(ctx)
	if err != nil {
		return fmt.Errorf("ask chain backend %s for its network: %w", where, err)
	}
	if got != want {
		return fmt.Errorf("%w: %s is on %s, but kassa is configured for %s", ErrWrongNetwork, where, got, want)
	}
	return nil
}

// redact hides a URL's password for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
