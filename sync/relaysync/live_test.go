package relaysync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestExpirySchedule: the close at token expiry is scheduled from the
// injected clock (WithClock) through the injected timer
// (WithAfterFunc), fires as peer.CloseUnauthorized, and a token already
// expired at connect closes the connection at once; RevokeDevice ends
// only the named device's connections. The keepalive, whose sweeps the
// same timer would schedule, is off.
func TestExpirySchedule(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	var delays []time.Duration
	var fire []func()
	after := func(d time.Duration, f func()) func() bool {
		mu.Lock()
		defer mu.Unlock()
		delays, fire = append(delays, d), append(fire, f)
		return func() bool { return true }
	}
	ep := relaysync.New(openRepo(t, store.NewMemory()), store.NewMemory(), peer.DocumentAccess,
		relaysync.DefaultOptions().WithClock(func() time.Time { return now }).WithAfterFunc(after).WithKeepalive(0))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ttl, _ := time.ParseDuration(q.Get("ttl"))
		ep.ServeCaller(w, r, relaysync.Caller{User: "alice", Device: model.DeviceID("d" + q.Get("dev")), Expires: now.Add(ttl)})
	}))
	t.Cleanup(srv.Close)
	open := func(dev, ttl string) (*peer.WSConn, error) {
		c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"?dev="+dev+"&ttl="+ttl, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		conn := peer.NewWSConn(c, 0)
		_, err = peer.ClientHandshake(t.Context(), conn, "p"+dev, wire.PeerMetadata{})
		return conn, err
	}
	closeCode := func(conn *peer.WSConn) websocket.StatusCode {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := conn.Recv(ctx)
		return websocket.CloseStatus(err)
	}

	a, err := open("1", "1h")
	if err != nil {
		t.Fatal(err)
	}
	b, err := open("2", "2h")
	if err != nil {
		t.Fatal(err)
	}
	// The relay schedules a connection's expiry as it registers the
	// connection, which may finish just after the client's handshake: wait
	// for both, in either order.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(delays)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	var expireA func()
	got := map[time.Duration]bool{}
	for i, d := range delays {
		got[d] = true
		if d == time.Hour {
			expireA = fire[i]
		}
	}
	if len(delays) != 2 || !got[time.Hour] || !got[2*time.Hour] {
		mu.Unlock()
		t.Fatalf("scheduled %v, want 1h and 2h from the injected clock", delays)
	}
	mu.Unlock()
	expireA()
	if got := closeCode(a); got != peer.CloseUnauthorized {
		t.Fatalf("expired connection closed with %v, want %d", got, peer.CloseUnauthorized)
	}

	if n := ep.RevokeDevice(t.Context(), "alice", "d3", nil); n != 0 {
		t.Fatalf("revoking an unconnected device closed %d connections", n)
	}
	if n := ep.RevokeDevice(t.Context(), "alice", "d2", nil); n != 1 {
		t.Fatalf("revoking d2 closed %d connections, want 1", n)
	}
	if got := closeCode(b); got != peer.CloseRevoked {
		t.Fatalf("revoked connection closed with %v, want %d", got, peer.CloseRevoked)
	}

	// Already expired at connect: closed right after the handshake,
	// never served.
	c, err := open("4", "-1s")
	if err != nil {
		t.Fatal(err)
	}
	if got := closeCode(c); got != peer.CloseUnauthorized {
		t.Fatalf("connection with an expired token closed with %v", got)
	}
}
