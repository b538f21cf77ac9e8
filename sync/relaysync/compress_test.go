package relaysync

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
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
	tr := countingTransport(&n)
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
		{"default, catch-up-sized message", DefaultOptions(), 4 << 10, false},
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
			writeMessages(b, &Endpoint{opts: DefaultOptions().WithCompressionThreshold(thr)}, msg)
		})
	}
}

// writeMessages times the endpoint's side writing msg b.N times to a
// client over loopback that offered permessage-deflate (no context
// takeover) and reads everything; it reports the bytes the client read
// per message (wire-B/msg).
func writeMessages(b *testing.B, e *Endpoint, msg []byte) {
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
	var n atomic.Int64
	tr := countingTransport(&n)
	defer tr.CloseIdleConnections()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr}, CompressionMode: websocket.CompressionNoContextTakeover,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(int64(len(msg)) + 1)
	got := make(chan int, 1)
	go func() {
		for i := 0; ; i++ {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
			if i+1 == b.N {
				got <- i + 1
			}
		}
	}()
	sc := <-ready
	defer sc.CloseNow()
	start := n.Load()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for range b.N {
		if err := sc.Write(ctx, websocket.MessageBinary, msg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	<-got
	b.ReportMetric(float64(n.Load()-start)/float64(b.N), "wire-B/msg")
}

// catchUpMessages returns the relay's sync messages for a follower that
// missed k moves of a 20-entry playlist, for each k of ks, wrapped in
// the wire envelope as the relay sends them: real hashes, Bloom filters
// and change chunks, so deflate sees what it sees in production.
func catchUpMessages(tb testing.TB, ks []int) [][]byte {
	tb.Helper()
	ctx := context.Background()
	open := func() *repo.Repo {
		r, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { r.Close() })
		return r
	}
	relay, follower := open(), open()
	h, err := relay.CreatePlaylist(ctx, "alice", "P")
	if err != nil {
		tb.Fatal(err)
	}
	tracks := make([]model.TrackID, 20)
	for i := range tracks {
		tracks[i] = model.TrackID(fmt.Sprintf("trk%06d", i))
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tracks...); return err }); err != nil {
		tb.Fatal(err)
	}
	id := h.ID()
	// exchange runs the sync protocol until neither side has anything
	// to send, returning the relay's first message.
	exchange := func() []byte {
		var first []byte
		for range 50 {
			m, ok, err := relay.GenerateSyncMessage(ctx, "f", id)
			if err != nil {
				tb.Fatal(err)
			}
			if ok {
				if first == nil {
					first = m
				}
				if err := follower.ReceiveSyncMessage(ctx, "relay", id, m); err != nil {
					tb.Fatal(err)
				}
			}
			a, ok2, err := follower.GenerateSyncMessage(ctx, "relay", id)
			if err != nil {
				tb.Fatal(err)
			}
			if ok2 {
				if err := relay.ReceiveSyncMessage(ctx, "f", id, a); err != nil {
					tb.Fatal(err)
				}
			}
			if !ok && !ok2 {
				return first
			}
		}
		tb.Fatal("no quiet after 50 rounds")
		return nil
	}
	exchange()
	var out [][]byte
	for i, k := range ks {
		for j := range k {
			if err := h.Playlist(ctx, func(p *docs.Playlist) error {
				es, err := p.Entries()
				if err != nil {
					return err
				}
				return p.Move(es[(i+j)%len(es)].ID, docs.AtIndex((i*7+j*3)%len(es)))
			}); err != nil {
				tb.Fatal(err)
			}
		}
		b, err := wire.Encode(&wire.Message{Type: wire.TypeSync, SenderID: "relay-0123456789abcdef", TargetID: "peer-0123456789abcdef", DocumentID: id.String(), Data: exchange()})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// BenchmarkWriteCatchUp: the relay's cost of writing one catch-up
// message (a follower k changes behind: k change chunks, the heads and
// a Bloom filter, in the wire envelope) to a client that offered
// permessage-deflate, with a threshold that deflates it and with the
// relay's default; wire-B/msg is what the client read.
func BenchmarkWriteCatchUp(b *testing.B) {
	ks := []int{8, 16, 32, 64}
	msgs := catchUpMessages(b, ks)
	for i, k := range ks {
		for _, thr := range []int{1024, DefaultCompressionThreshold} {
			b.Run(fmt.Sprintf("changes=%d/bytes=%d/threshold=%d", k, len(msgs[i]), thr), func(b *testing.B) {
				writeMessages(b, &Endpoint{opts: DefaultOptions().WithCompressionThreshold(thr)}, msgs[i])
			})
		}
	}
}

// countingTransport is an HTTP transport whose connections add the bytes
// they read to n.
func countingTransport(n *atomic.Int64) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, n}, nil
	}}
}
