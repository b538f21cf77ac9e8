package relaysync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// dialStatus dials url as user and returns the HTTP status of a refused
// upgrade (0 when the upgrade succeeded) with its Retry-After; an
// accepted connection is handshaken and returned.
func dialStatus(t *testing.T, url string, user model.UserID) (*websocket.Conn, int, string) {
	t.Helper()
	c, resp, err := websocket.Dial(t.Context(), url+"?token="+string(user), nil)
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return nil, resp.StatusCode, resp.Header.Get("Retry-After")
	}
	t.Cleanup(func() { c.CloseNow() })
	if _, err := peer.ClientHandshake(t.Context(), peer.NewWSConn(c, 0), string(user)+"-dev", wire.PeerMetadata{StorageID: string(user) + "-store"}); err != nil {
		t.Fatal(err)
	}
	return c, 0, ""
}

// waitSessions waits until ep serves n connections.
func waitSessions(t *testing.T, ep *relaysync.Endpoint, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ep.Sessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("endpoint serves %d connections, want %d", ep.Sessions(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMaxSessions: past the per-user cap a user's next connection is
// refused with 429 and Retry-After while another user still connects;
// past the total cap anyone's is refused with 503; once connections
// close, new ones are served again.
func TestMaxSessions(t *testing.T) {
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithMaxSessions(3, 2))
	srv := newServer(t, ep)
	a1, st, _ := dialStatus(t, srv, "alice")
	if st != 0 {
		t.Fatalf("alice's first connection: %d", st)
	}
	if _, st, _ := dialStatus(t, srv, "alice"); st != 0 {
		t.Fatalf("alice's second connection: %d", st)
	}
	if _, st, ra := dialStatus(t, srv, "alice"); st != http.StatusTooManyRequests || ra != "10" {
		t.Fatalf("alice's third connection: %d Retry-After %q, want 429 and 10", st, ra)
	}
	if _, st, _ := dialStatus(t, srv, "bob"); st != 0 {
		t.Fatalf("bob's first connection: %d", st)
	}
	if _, st, ra := dialStatus(t, srv, "carol"); st != http.StatusServiceUnavailable || ra != "10" {
		t.Fatalf("carol past the total: %d Retry-After %q, want 503 and 10", st, ra)
	}
	if got := ep.Refused(); got != 2 {
		t.Fatalf("Refused() = %d, want 2", got)
	}
	a1.Close(websocket.StatusNormalClosure, "")
	waitSessions(t, ep, 2)
	if _, st, _ := dialStatus(t, srv, "carol"); st != 0 {
		t.Fatalf("carol after a close: %d", st)
	}
	if _, st, _ := dialStatus(t, srv, "alice"); st != http.StatusServiceUnavailable {
		t.Fatalf("alice with the total reached again: %d, want 503", st)
	}
}

// TestHandshakeTimeout: a connection that upgrades and never sends join
// is closed after the handshake timeout and stops counting; before, it
// held its connection and goroutines until the client left.
func TestHandshakeTimeout(t *testing.T) {
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithHandshakeTimeout(50*time.Millisecond))
	srv := newServer(t, ep)
	c, _, err := websocket.Dial(t.Context(), srv+"?token=mallory", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("silent connection: read %v, want it closed by the relay", err)
	}
	waitSessions(t, ep, 0)
}

// newServer serves ep over HTTP and returns its sync URL.
func newServer(t *testing.T, ep *relaysync.Endpoint) string {
	t.Helper()
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync"
}
