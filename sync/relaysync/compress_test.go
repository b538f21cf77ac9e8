package relaysync

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// wireBytes returns how many bytes a client offering permessage-deflate
// reads for one message of size zero bytes sent with the endpoint's
// WebSocket options.
func wireBytes(t *testing.T, e *Endpoint, size int) int64 {
	t.Helper()
	msg := bytes.Repeat([]byte{0}, size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, e.acceptOptions())
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if _, _, err := c.Read(ctx); err != nil { // the client is ready
			return
		}
		_ = c.Write(ctx, websocket.MessageBinary, msg)
		_, _, _ = c.Read(ctx) // until the client closes
	}))
	defer srv.Close()
	var n atomic.Int64
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, &n}, nil
	}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr}, CompressionMode: websocket.CompressionNoContextTakeover,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(int64(size) + 1)
	start := n.Load() // the handshake's response
	if err := c.Write(ctx, websocket.MessageBinary, []byte("ready")); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes, want the %d sent", len(got), size)
	}
	return n.Load() - start
}

// TestCompressionThreshold: messages below the threshold go out as they
// are (one header plus the payload), messages from it up are deflated.
func TestCompressionThreshold(t *testing.T) {
	cases := []struct {
		name       string
		opts       Options
		size       int
		compressed bool
	}{
		{"default, edit-sized message", DefaultOptions(), 600, false},
		{"default, at the threshold", DefaultOptions(), DefaultCompressionThreshold, true},
		{"default, first-sync-sized message", DefaultOptions(), 64 << 10, true},
		{"threshold 128", DefaultOptions().WithCompressionThreshold(128), 600, true},
		{"threshold 0 keeps the default", DefaultOptions().WithCompressionThreshold(0), 600, false},
		{"compression off", DefaultOptions().WithCompression(false), 64 << 10, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &Endpoint{opts: c.opts}
			n := wireBytes(t, e, c.size)
			if c.compressed && n >= int64(c.size)/4 {
				t.Fatalf("%d bytes of zeros took %d on the wire, want them deflated", c.size, n)
			}
			if !c.compressed && n < int64(c.size) {
				t.Fatalf("%d bytes took %d on the wire, want them sent as they are", c.size, n)
			}
		})
	}
}

// BenchmarkWriteEditMessage: the relay's cost of writing one edit-sized
// message (random bytes, as incompressible as the hashes and Bloom
// filter that fill a sync message) on a WebSocket whose client offered
// permessage-deflate, with the old threshold (128 B, the library's
// default without context takeover) and the relay's default.
func BenchmarkWriteEditMessage(b *testing.B) {
	msg := make([]byte, 600)
	for i := range msg {
		msg[i] = byte(i*7919 + i*i*31)
	}
	for _, thr := range []int{128, DefaultCompressionThreshold} {
		b.Run(fmt.Sprintf("threshold=%d", thr), func(b *testing.B) {
			e := &Endpoint{opts: DefaultOptions().WithCompressionThreshold(thr)}
			ready := make(chan *websocket.Conn, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, e.acceptOptions())
				if err != nil {
					return
				}
				ready <- c
				<-r.Context().Done()
			}))
			defer srv.Close()
			ctx := context.Background()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover})
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			go func() {
				for {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
				}
			}()
			sc := <-ready
			defer sc.CloseNow()
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for range b.N {
				if err := sc.Write(ctx, websocket.MessageBinary, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
