package zmq

import (
	"context"
	"log/slog"
	"time"
)

// Subscribe dials addr, subscribes to the topics and calls fn with every
// message until ctx is done, redialling with backoff when the publisher
// goes away. The first dial must succeed; its error is returned.
func Subscribe(ctx context.Context, addr string, topics []string, log *slog.Logger, fn func(Message)) error {
	c, err := Dial(ctx, addr, topics...)
	if err != nil {
		return err
	}
	go func() {
		backoff := time.Second
		for {
			cc := c
			stop := context.AfterFunc(ctx, func() { cc.Close() })
			for {
				msg, err := c.Read()
				if err != nil {
					break
				}
				backoff = time.Second
				fn(msg)
			}
			stop()
			c.Close()
			for {
				if ctx.Err() != nil {
					return
				}
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(2*backoff, 30*time.Second)
				if c, err = Dial(ctx, addr, topics...); err == nil {
					break
				}
				log.Debug("zmq redial failed", "addr", addr, "err", err)
			}
		}
	}()
	return nil
}
