package relaysync_test

import (
	"context"
	"encoding/json"
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

// noSlots is a Slots budget with none left.
type noSlots struct{}

func (noSlots) TryAcquire() bool { return false }
func (noSlots) Release()         {}
func (noSlots) Full() bool       { return true }

// TestRefusalsAreJSON: every answer the endpoint gives instead of an
// upgrade is the relay's JSON error body, uncacheable, and a temporary
// refusal has a Retry-After that its message names. Before, each was
// plain text (http.Error).
func TestRefusalsAreJSON(t *testing.T) {
	perUser, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithMaxSessions(0, 1))
	perUserURL := newServer(t, perUser)
	total, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithMaxSessions(1, 0))
	totalURL := newServer(t, total)
	for _, url := range []string{perUserURL, totalURL} {
		if _, st, _ := dialStatus(t, url, "alice"); st != 0 {
			t.Fatalf("alice's first connection: %d", st)
		}
	}
	slotless, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithSlots(noSlots{}))
	plain, _, _ := openEndpoint(t, relaysync.DefaultOptions())
	plainURL := newServer(t, plain)
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	for _, tc := range []struct {
		name, url, token string
		drop, set        map[string]string // headers of upgrade to drop and set
		status           int
		retry            string // Retry-After, "" for none
		msg              string // in the message
		header           [2]string
	}{
		{name: "no token", url: plainURL, status: http.StatusUnauthorized, msg: "relaysync: missing or invalid token"},
		{name: "per-user cap", url: perUserURL, token: "alice", status: http.StatusTooManyRequests, retry: "10",
			msg: "relaysync: at most 1 sync connections per user, retry in 10 s"},
		{name: "total cap", url: totalURL, token: "carol", status: http.StatusServiceUnavailable, retry: "10",
			msg: "relaysync: too many sync connections, retry in 10 s"},
		{name: "no long-lived slot", url: newServer(t, slotless), token: "alice", status: http.StatusServiceUnavailable, retry: "10",
			msg: "relaysync: too many long-lived connections, retry in 10 s"},
		{name: "no key", url: plainURL, token: "alice", drop: map[string]string{"Sec-Websocket-Key": ""},
			status: http.StatusBadRequest, msg: "Sec-WebSocket-Key"},
		{name: "old version", url: plainURL, token: "alice", set: map[string]string{"Sec-Websocket-Version": "8"},
			status: http.StatusBadRequest, msg: "WebSocket protocol version", header: [2]string{"Sec-Websocket-Version", "13"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := "http" + strings.TrimPrefix(tc.url, "ws")
			if tc.token != "" {
				u += "?token=" + tc.token
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = upgrade.Clone()
			for k := range tc.drop {
				req.Header.Del(k)
			}
			for k, v := range tc.set {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error string `json:"error"`
			}
			dec := json.NewDecoder(resp.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil {
				t.Errorf("body is not the JSON error body: %v", err)
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" ||
				resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Retry-After") != tc.retry {
				t.Errorf("%d Content-Type %q Cache-Control %q Retry-After %q, want %d application/json no-store %q",
					resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), resp.Header.Get("Retry-After"), tc.status, tc.retry)
			}
			if !strings.HasPrefix(body.Error, "relaysync: ") || !strings.Contains(body.Error, tc.msg) {
				t.Errorf("message %q, want it to hold %q", body.Error, tc.msg)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s: %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			}
		})
	}
}

// TestRefuses: Refuses answers as a connection of the user would be
// refused now (429 past the per-user cap, 503 past the total or with no
// slot left, each with Retry-After: 10) and reports true, else writes
// nothing and reports false; it takes no session and counts no refusal.
func TestRefuses(t *testing.T) {
	cases := []struct {
		name   string
		opts   relaysync.Options
		hold   bool // alice holds one connection first
		user   model.UserID
		status int
	}{
		{"no caps", relaysync.DefaultOptions().WithMaxSessions(0, 0), true, "alice", 0},
		{"room under the per-user cap", relaysync.DefaultOptions().WithMaxSessions(0, 2), true, "alice", 0},
		{"per-user cap reached", relaysync.DefaultOptions().WithMaxSessions(0, 1), true, "alice", http.StatusTooManyRequests},
		{"another user", relaysync.DefaultOptions().WithMaxSessions(0, 1), true, "bob", 0},
		{"total reached", relaysync.DefaultOptions().WithMaxSessions(1, 0), true, "bob", http.StatusServiceUnavailable},
		{"no slot left", relaysync.DefaultOptions().WithSlots(noSlots{}), false, "alice", http.StatusServiceUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep, _, _ := openEndpoint(t, tc.opts)
			if tc.hold {
				if _, st, _ := dialStatus(t, newServer(t, ep), "alice"); st != 0 {
					t.Fatalf("alice's connection: %d", st)
				}
			}
			open, refused := ep.Sessions(), ep.Refused()
			w := httptest.NewRecorder()
			got := ep.Refuses(w, tc.user)
			if got != (tc.status != 0) || (got && w.Code != tc.status) || (!got && w.Body.Len() != 0) {
				t.Fatalf("Refuses = %v, answer %d %q; want %v, %d", got, w.Code, w.Body, tc.status != 0, tc.status)
			}
			if got && (w.Header().Get("Retry-After") != "10" || !strings.Contains(w.Body.String(), "retry in 10 s")) {
				t.Errorf("Retry-After %q, body %q; want 10, named in the message", w.Header().Get("Retry-After"), w.Body)
			}
			if ep.Sessions() != open || ep.Refused() != refused {
				t.Errorf("sessions %d → %d, refused %d → %d: want both unchanged", open, ep.Sessions(), refused, ep.Refused())
			}
		})
	}
}
