package rpc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/chain/zmq"
)

// ErrNoNotifications means the node offers no notifications this client
// can use: neither btcd's websocket (plain HTTP only) nor Bitcoin Core's
// ZMQ publishers (zmqpubhashblock, zmqpubhashtx, zmqpubsequence or
// zmqpubrawtx on tcp://).
var ErrNoNotifications = errors.New("rpc: node offers no notifications")

// zmqTopics are the Core notifications that wake the watcher; the topics
// are prefixes, and rawblock is left out for its size.
var zmqTopics = []string{"hashblock", "hashtx", "sequence", "rawtx"}

// Subscribe asks the node for block and mempool notifications: btcd's
// websocket notifications, else Bitcoin Core's ZMQ publishers as
// getzmqnotifications lists them. The returned channel receives
// (coalesced) after each block or transaction until ctx is done; both
// kinds reconnect on their own. A node with neither answers
// ErrNoNotifications and the caller polls.
func (c *Client) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	wsErr := c.subscribeWebsocket(ctx, poke)
	if wsErr == nil {
		return wake, nil
	}
	zmqErr := c.subscribeZMQ(ctx, poke)
	if zmqErr == nil {
		return wake, nil
	}
	return nil, fmt.Errorf("%w: websocket: %v; zmq: %v", ErrNoNotifications, wsErr, zmqErr)
}

// subscribeWebsocket opens btcd's websocket endpoint and asks for block and
// mempool notifications.
func (c *Client) subscribeWebsocket(ctx context.Context, poke func()) error {
	u, err := url.Parse(c.endpoint)
	if err != nil {
		return err
	}
	if u.Scheme != "http" {
		return fmt.Errorf("TLS endpoint %s is not dialled", c.endpoint)
	}
	handlers := &rpcclient.NotificationHandlers{
		OnFilteredBlockConnected: func(int32, *wire.BlockHeader, []*btcutil.Tx) { poke() },
		OnTxAccepted:             func(*chainhash.Hash, btcutil.Amount) { poke() },
	}
	ws, err := rpcclient.New(&rpcclient.ConnConfig{
		Host: u.Host, Endpoint: "ws", User: c.user, Pass: c.pass, DisableTLS: true,
	}, handlers)
	if err != nil {
		return err
	}
	if err := ws.NotifyBlocks(); err != nil {
		ws.Shutdown()
		return fmt.Errorf("notifyblocks: %w", err)
	}
	if err := ws.NotifyNewTransactions(false); err != nil {
		ws.Shutdown()
		return fmt.Errorf("notifynewtransactions: %w", err)
	}
	go func() {
		<-ctx.Done()
		ws.Shutdown()
		ws.WaitForShutdown()
	}()
	return nil
}

// zmqNotification is one entry of Core's getzmqnotifications.
type zmqNotification struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// subscribeZMQ subscribes to every tcp:// publisher Core lists.
func (c *Client) subscribeZMQ(ctx context.Context, poke func()) error {
	var list []zmqNotification
	if err := c.Call(ctx, "getzmqnotifications", &list); err != nil {
		return err
	}
	addrs := map[string]bool{}
	for _, n := range list {
		switch n.Type {
		case "pubhashblock", "pubhashtx", "pubsequence", "pubrawtx":
		default:
			continue
		}
		addr, err := zmq.ParseEndpoint(n.Address)
		if err != nil {
			continue
		}
		addrs[c.reachable(addr)] = true
	}
	if len(addrs) == 0 {
		return errors.New("no zmqpubhashblock, zmqpubhashtx, zmqpubsequence or zmqpubrawtx on tcp://")
	}
	subscribed := 0
	var firstErr error
	for addr := range addrs {
		err := zmq.Subscribe(ctx, addr, zmqTopics, slog.Default(), func(zmq.Message) { poke() })
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		subscribed++
	}
	if subscribed == 0 {
		return firstErr
	}
	return nil
}

// reachable replaces a wildcard listening host (0.0.0.0, ::, *) with the
// RPC host, which is where the node is.
func (c *Client) reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host != "0.0.0.0" && host != "::" && host != "*" && host != "" {
		return addr
	}
	u, err := url.Parse(c.endpoint)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(u.Hostname(), port)
}
