package zmq

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// maxFrame bounds one frame: Core's largest notification is a raw block.
const maxFrame = 8 << 20

// Frame flags (ZMTP 3.0).
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
)

// ErrProtocol means the peer broke ZMTP.
var ErrProtocol = errors.New("zmq: protocol error")

// Message is one multi-part message.
type Message [][]byte

// Conn is a subscribed connection to a publisher.
type Conn struct {
	c net.Conn
	r *bufio.Reader
}

// greeting is ZMTP 3.0's greeting for the NULL mechanism, as a client: the
// signature (whose last byte tells ZMTP 2+ to a ZMTP 1 peer), version 3.0,
// the mechanism name padded to 20 bytes, as-server 0 and filler.
func greeting() []byte {
	g := make([]byte, 64)
	g[0], g[8], g[9] = 0xff, 0x01, 0x7f
	g[10], g[11] = 3, 0
	copy(g[12:32], "NULL")
	return g
}

// ParseEndpoint turns tcp://host:port into host:port.
func ParseEndpoint(endpoint string) (string, error) {
	addr, ok := strings.CutPrefix(endpoint, "tcp://")
	if !ok {
		return "", fmt.Errorf("zmq endpoint %q: only tcp:// is supported", endpoint)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("zmq endpoint %q: %w", endpoint, err)
	}
	return addr, nil
}

// Dial connects to a publisher at addr (host:port), performs the handshake
// and subscribes to the topics (prefixes; "" is everything).
func Dial(ctx context.Context, addr string, topics ...string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("zmq dial %s: %w", addr, err)
	}
	c := &Conn{c: nc, r: bufio.NewReader(nc)}
	if err := c.handshake(ctx, topics); err != nil {
		nc.Close()
		return nil, fmt.Errorf("zmq handshake with %s: %w", addr, err)
	}
	return c, nil
}

func (c *Conn) handshake(ctx context.Context, topics []string) error {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	defer c.c.SetDeadline(time.Time{})

	if _, err := c.c.Write(greeting()); err != nil {
		return err
	}
	var peer [64]byte
	if _, err := io.ReadFull(c.r, peer[:]); err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if peer[0] != 0xff || peer[9]&0x01 == 0 || peer[10] < 3 {
		return fmt.Errorf("%w: not a ZMTP 3 peer", ErrProtocol)
	}
	if mech := strings.TrimRight(string(peer[12:32]), "\x00"); mech != "NULL" {
		return fmt.Errorf("%w: security mechanism %q is not supported", ErrProtocol, mech)
	}

	var ready []byte
	ready = append(ready, 5)
	ready = append(ready, "READY"...)
	ready = appendProperty(ready, "Socket-Type", "SUB")
	if err := c.writeFrame(flagCommand, ready); err != nil {
		return err
	}
	flags, body, err := c.readFrame()
	if err != nil {
		return fmt.Errorf("read READY: %w", err)
	}
	if flags&flagCommand == 0 || len(body) < 6 || string(body[1:6]) != "READY" {
		if len(body) > 6 && string(body[1:6]) == "ERROR" {
			return fmt.Errorf("%w: peer refused: %q", ErrProtocol, body[7:])
		}
		return fmt.Errorf("%w: expected READY", ErrProtocol)
	}
	if t := property(body[6:], "Socket-Type"); t != "PUB" && t != "XPUB" {
		return fmt.Errorf("%w: peer is a %q socket, not a publisher", ErrProtocol, t)
	}
	// ZMTP 3.0 subscriptions are messages whose first byte is 1.
	for _, t := range topics {
		if err := c.writeFrame(0, append([]byte{1}, t...)); err != nil {
			return err
		}
	}
	return nil
}

func appendProperty(b []byte, name, value string) []byte {
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

// property returns a metadata property of a READY command's body.
func property(meta []byte, name string) string {
	for len(meta) > 0 {
		n := int(meta[0])
		if len(meta) < 1+n+4 {
			return ""
		}
		key := string(meta[1 : 1+n])
		vlen := int(binary.BigEndian.Uint32(meta[1+n:]))
		meta = meta[1+n+4:]
		if vlen > len(meta) {
			return ""
		}
		if strings.EqualFold(key, name) {
			return string(meta[:vlen])
		}
		meta = meta[vlen:]
	}
	return ""
}

func (c *Conn) writeFrame(flags byte, body []byte) error {
	var hdr []byte
	if len(body) > 255 {
		hdr = binary.BigEndian.AppendUint64([]byte{flags | flagLong}, uint64(len(body)))
	} else {
		hdr = []byte{flags, byte(len(body))}
	}
	_, err := c.c.Write(append(hdr, body...))
	return err
}

func (c *Conn) readFrame() (byte, []byte, error) {
	flags, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var size uint64
	if flags&flagLong != 0 {
		var b [8]byte
		if _, err := io.ReadFull(c.r, b[:]); err != nil {
			return 0, nil, err
		}
		size = binary.BigEndian.Uint64(b[:])
	} else {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		size = uint64(b)
	}
	if size > maxFrame {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes", ErrProtocol, size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return flags, body, nil
}

// Read returns the next message, skipping commands (heartbeats).
func (c *Conn) Read() (Message, error) {
	var msg Message
	for {
		flags, body, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		if flags&flagCommand != 0 {
			continue
		}
		msg = append(msg, body)
		if flags&flagMore == 0 {
			return msg, nil
		}
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }
