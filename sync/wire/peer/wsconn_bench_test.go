package peer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/sync/wire"
)

// wsPair returns the two ends of a WebSocket over loopback TCP as
// WSConns: the server's (the relay's) and the client's.
func wsPair(tb testing.TB) (srv, cl *WSConn) {
	tb.Helper()
	ready := make(chan *WSConn, 1)
	stop := make(chan struct{})
	url := wsServer(tb, func(_ context.Context, c *WSConn) {
		ready <- c
		<-stop
	})
	tb.Cleanup(func() { close(stop) })
	c, _, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	return <-ready, NewWSConn(c, 0)
}

// wsServer starts a test HTTP server whose handler accepts a WebSocket,
// runs serve on it (as a WSConn, with the request's context) and closes
// it when serve returns; it returns the server's ws:// URL. The server
// is closed when the test ends.
func wsServer(tb testing.TB, serve func(ctx context.Context, c *WSConn)) string {
	tb.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(r.Context(), NewWSConn(c, 0))
	}))
	tb.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// editMessage returns a sync message the size of an edit's (600 B of
// data) for document id.
func editMessage(data []byte) *wire.Message {
	return &wire.Message{Type: wire.TypeSync, SenderID: "device-0123456789", TargetID: "relay-0123456789",
		DocumentID: "2Y6zXDn9rZ8ofGH1SJJXhZ5tU8Mx", Data: data}
}

// BenchmarkWSConnMessage is one edit-sized sync message through the
// relay's WebSocket path over loopback: Send (CBOR envelope, frame
// write) on one end and Recv (frame read, CBOR decode) on the other, in
// both directions (the relay receives a device's change and sends a
// follower its copy). allocs/op are both ends' for one message. The
// context: "background" never ends; "cancellable" is a session's (the
// library registers a cancellation callback per read and write);
// "bound" is a session's bound with Bind at both ends, as
// Session.Run binds its own.
func BenchmarkWSConnMessage(b *testing.B) {
	for _, mode := range []string{"background", "cancellable", "bound"} {
		b.Run(mode, func(b *testing.B) {
			srv, cl := wsPair(b)
			data := make([]byte, 600)
			for i := range data {
				data[i] = byte(i*7919 + i*i*31)
			}
			m := editMessage(data)
			ctx := context.Background()
			if mode != "background" {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			if mode == "bound" {
				defer srv.Bind(ctx)()
				defer cl.Bind(ctx)()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				from, to := cl, srv
				if i%2 == 1 {
					from, to = srv, cl
				}
				if err := from.Send(ctx, m); err != nil {
					b.Fatal(err)
				}
				got, err := to.Recv(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(got.Data) != len(data) {
					b.Fatalf("received %d bytes of data, sent %d", len(got.Data), len(data))
				}
			}
		})
	}
}
