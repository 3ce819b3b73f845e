package zmq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func newPublisher(t *testing.T, socketType string) *Publisher {
	t.Helper()
	p, err := listen("127.0.0.1:0", socketType)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func addr(p *Publisher) string { return strings.TrimPrefix(p.Endpoint(), "tcp://") }

func coreMessage(topic string, body []byte, seq uint32) Message {
	return Message{[]byte(topic), body, binary.LittleEndian.AppendUint32(nil, seq)}
}

func TestDialAndRead(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t, "PUB")
	c, err := Dial(ctx, addr(p), "hashblock", "rawtx")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := p.WaitSubscriptions(ctx, 2); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0xab}, 1000) // a long frame, like a raw transaction
	want := []Message{coreMessage("hashblock", bytes.Repeat([]byte{7}, 32), 41), coreMessage("rawtx", big, 42)}
	p.Publish(coreMessage("hashtx", []byte{1}, 40)) // not subscribed
	for _, m := range want {
		p.Publish(m)
	}
	for i, w := range want {
		got, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !bytes.Equal(got[0], w[0]) || !bytes.Equal(got[1], w[1]) || !bytes.Equal(got[2], w[2]) {
			t.Fatalf("message %d: %q", i, got)
		}
	}
}

func TestReadSkipsCommands(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	c := &Conn{c: client, r: bufio.NewReader(client)}
	go func() {
		s := &Conn{c: server, r: bufio.NewReader(server)}
		s.writeFrame(flagCommand, append([]byte{4}, "PING"...))
		s.writeFrame(flagMore, []byte("hashtx"))
		s.writeFrame(0, []byte{9})
	}()
	m, err := c.Read()
	if err != nil || len(m) != 2 || string(m[0]) != "hashtx" {
		t.Fatalf("Read = %q, %v", m, err)
	}
}

func TestDialRefusesNonPublisher(t *testing.T) {
	p := newPublisher(t, "REP")
	_, err := Dial(context.Background(), addr(p), "")
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "REP") {
		t.Fatalf("err %v, want a protocol error naming REP", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://127.0.0.1:28332": "127.0.0.1:28332",
		"tcp://[::1]:28332":     "[::1]:28332",
		"ipc:///tmp/core.sock":  "",
		"tcp://nohost":          "",
	} {
		got, err := ParseEndpoint(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseEndpoint(%q) = %q, %v", in, got, err)
		}
	}
}

func TestSubscribeRedials(t *testing.T) {
	p := newPublisher(t, "PUB")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Message, 8)
	if err := Subscribe(ctx, addr(p), []string{"hashblock"}, slog.Default(), func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitSubscriptions(ctx, 1); err != nil {
		t.Fatal(err)
	}
	p.Publish(coreMessage("hashblock", []byte{1}, 1))
	if m := <-got; m[1][0] != 1 {
		t.Fatalf("got %q", m)
	}
	// The publisher drops the connection; the subscriber dials again.
	p.DropSubscribers()
	if err := p.WaitSubscriptions(ctx, 2); err != nil {
		t.Fatal(err)
	}
	p.Publish(coreMessage("hashblock", []byte{2}, 2))
	if m := <-got; m[1][0] != 2 {
		t.Fatalf("got %q after redial", m)
	}
}

// TestLibzmqPublisher checks the subscriber against a real libzmq PUB
// socket (python3-zmq), as Bitcoin Core uses; it is skipped where that is
// not installed.
func TestLibzmqPublisher(t *testing.T) {
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import zmq").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("python3-zmq (libzmq) not installed")
	}
	script := `
import sys, time, zmq, struct
ctx = zmq.Context()
s = ctx.socket(zmq.PUB)
port = s.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
seq = 0
while True:
    s.send_multipart([b"hashtx", bytes(range(32)), struct.pack("<I", seq)])
    s.send_multipart([b"hashblock", bytes(32), struct.pack("<I", seq)])
    seq += 1
    time.sleep(0.02)
`
	cmd := exec.Command(python, "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, "127.0.0.1:"+strings.TrimSpace(port), "hashblock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		m, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		// Only the subscribed topic arrives: libzmq filters on our
		// subscription.
		if len(m) != 3 || string(m[0]) != "hashblock" || len(m[1]) != 32 || len(m[2]) != 4 {
			t.Fatalf("message %q", m)
		}
	}
}
