package peer

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// writeCounter is a net.Conn that counts its Write calls (the system
// calls a TCP connection makes).
type writeCounter struct {
	net.Conn
	writes *atomic.Int64
}

func (w writeCounter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	return w.Conn.Write(p)
}

// countingClient returns an HTTP client whose connections count their
// writes in n.
func countingClient(n *atomic.Int64) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return writeCounter{c, n}, nil
	}
	return &http.Client{Transport: t}
}

// TestDialWebSocketQueuesWrites: messages a client sends back to back
// over a connection from DialWebSocket leave together (the flusher runs
// once the sender blocks, GOMAXPROCS 1 as a pinned process has: one
// write as a rule; the bound allows for the runtime preempting a sender
// slowed by a loaded machine), where websocket.Dial's connection makes
// one write per message; every message arrives, in order.
func TestDialWebSocketQueuesWrites(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector randomises the order of runnable goroutines")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const messages = 8
	for _, tc := range []struct {
		name       string
		dial       func(ctx context.Context, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error)
		minW, maxW int64
	}{
		{"DialWebSocket", DialWebSocket, 1, messages / 2},
		{"websocket.Dial", websocket.Dial, messages, messages},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, messages)
			url := wsServer(t, func(ctx context.Context, conn *WSConn) {
				for {
					m, err := conn.Recv(ctx)
					if err != nil {
						return
					}
					got <- string(m.Data)
				}
			})
			var writes atomic.Int64
			ctx := context.Background()
			c, _, err := tc.dial(ctx, url, &websocket.DialOptions{HTTPClient: countingClient(&writes)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			conn := NewWSConn(c, 0)
			writes.Store(0) // the upgrade request's
			for i := range messages {
				if err := conn.Send(ctx, editMessage(fmt.Appendf(nil, "m%d", i))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range messages {
				select {
				case m := <-got:
					if want := fmt.Sprintf("m%d", i); m != want {
						t.Fatalf("message %d: %q, want %q", i, m, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("message %d not received", i)
				}
			}
			if n := writes.Load(); n < tc.minW || n > tc.maxW {
				t.Fatalf("%d messages in %d writes, want %d–%d", messages, n, tc.minW, tc.maxW)
			}
		})
	}
}

// TestDialWebSocketOtherTransport: a client whose transport is not an
// *http.Transport is dialed unqueued, and works.
func TestDialWebSocketOtherTransport(t *testing.T) {
	url := wsServer(t, func(ctx context.Context, conn *WSConn) {
		m, err := conn.Recv(ctx)
		if err != nil {
			return
		}
		_ = conn.Send(ctx, m)
	})
	var used atomic.Bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Store(true)
		return http.DefaultTransport.RoundTrip(r)
	})}
	ctx := context.Background()
	c, _, err := DialWebSocket(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	conn := NewWSConn(c, 0)
	if err := conn.Send(ctx, editMessage([]byte("echo"))); err != nil {
		t.Fatal(err)
	}
	m, err := conn.Recv(ctx)
	if err != nil || string(m.Data) != "echo" {
		t.Fatalf("echo: %v, %v", m, err)
	}
	if !used.Load() {
		t.Fatal("the client's own transport was not used")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
