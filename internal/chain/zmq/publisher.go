package zmq

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
)

// Publisher is a minimal ZMTP 3.0 PUB socket on TCP: it accepts
// subscribers and sends each published message to those whose
// subscriptions prefix its first part. It stands in for Bitcoin Core in
// tests and demos.
type Publisher struct {
	ln         net.Listener
	socketType string

	mu    sync.Mutex
	subs  map[*pubConn]struct{}
	count int           // subscriptions received so far
	more  chan struct{} // closed and replaced when count grows
}

type pubConn struct {
	c      *Conn
	mu     sync.Mutex
	topics []string
}

// Listen starts a publisher on addr (host:port; port 0 picks one).
func Listen(addr string) (*Publisher, error) { return listen(addr, "PUB") }

func listen(addr, socketType string) (*Publisher, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Publisher{ln: ln, socketType: socketType, subs: map[*pubConn]struct{}{}, more: make(chan struct{})}
	go p.serve()
	return p, nil
}

// Endpoint returns the publisher's tcp:// endpoint.
func (p *Publisher) Endpoint() string { return "tcp://" + p.ln.Addr().String() }

// Close stops accepting and drops every subscriber.
func (p *Publisher) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.subs {
		s.c.Close()
	}
	return err
}

// DropSubscribers closes the current subscribers' connections (a
// publisher restart, for tests).
func (p *Publisher) DropSubscribers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.subs {
		s.c.Close()
		delete(p.subs, s)
	}
}

// WaitSubscriptions waits until n subscriptions have arrived in total.
func (p *Publisher) WaitSubscriptions(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		count, more := p.count, p.more
		p.mu.Unlock()
		if count >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-more:
		}
	}
}

// Publish sends msg to the matching subscribers.
func (p *Publisher) Publish(msg Message) {
	if len(msg) == 0 {
		return
	}
	p.mu.Lock()
	subs := make([]*pubConn, 0, len(p.subs))
	for s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		match := false
		for _, t := range s.topics {
			match = match || strings.HasPrefix(string(msg[0]), t)
		}
		if match {
			for i, part := range msg {
				flags := byte(0)
				if i < len(msg)-1 {
					flags = flagMore
				}
				s.c.writeFrame(flags, part)
			}
		}
		s.mu.Unlock()
	}
}

func (p *Publisher) serve() {
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(nc)
	}
}

func (p *Publisher) handle(nc net.Conn) {
	c := &Conn{c: nc, r: bufio.NewReader(nc)}
	defer c.Close()
	var g [64]byte
	if _, err := io.ReadFull(c.r, g[:]); err != nil {
		return
	}
	mine := greeting()
	mine[32] = 1 // as-server
	if _, err := nc.Write(mine); err != nil {
		return
	}
	if _, _, err := c.readFrame(); err != nil { // the subscriber's READY
		return
	}
	ready := append([]byte{5}, "READY"...)
	if err := c.writeFrame(flagCommand, appendProperty(ready, "Socket-Type", p.socketType)); err != nil {
		return
	}
	s := &pubConn{c: c}
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.subs, s)
		p.mu.Unlock()
	}()
	for {
		flags, body, err := c.readFrame()
		if err != nil {
			return
		}
		if flags&flagCommand != 0 || len(body) == 0 || body[0] != 1 {
			continue // commands and unsubscriptions are ignored
		}
		s.mu.Lock()
		s.topics = append(s.topics, string(body[1:]))
		s.mu.Unlock()
		p.mu.Lock()
		p.count++
		close(p.more)
		p.more = make(chan struct{})
		p.mu.Unlock()
	}
}
