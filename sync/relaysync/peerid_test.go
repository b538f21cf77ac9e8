package relaysync_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// testClock is a settable clock for WithClock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// joinAs connects to url as user under peerID, requests id and reports
// whether the relay refused the join (an error message naming the peer
// id, then the close) or served it (the document's sync message). An
// accepted connection stays open until the test ends.
func joinAs(t *testing.T, url string, user model.UserID, peerID string, id docs.DocumentID) (refused bool) {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), url+"?token="+string(user), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(t.Context(), conn, peerID, wire.PeerMetadata{StorageID: string(user) + "-store"}); err != nil {
		t.Fatal(err)
	}
	req, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
	_ = conn.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: peerID, TargetID: "relay", DocumentID: id.String(), Data: req.Bytes()})
	m, err := conn.Recv(t.Context())
	switch {
	case err != nil:
		t.Fatalf("%s as %s: %v before any answer", user, peerID, err)
	case m.Type == wire.TypeError && strings.Contains(m.Message, "peer id refused"):
		if _, err := conn.Recv(t.Context()); err == nil {
			t.Fatalf("%s as %s: connection still open after the refusal", user, peerID)
		}
		return true
	case m.Type != wire.TypeSync:
		t.Fatalf("%s as %s: got %q %q, want the document's sync message or a refusal", user, peerID, m.Type, m.Message)
	}
	return false
}

// leave connects as user under peerID, is served, and closes; it
// returns once the relay has let the connection go.
func leave(t *testing.T, ep *relaysync.Endpoint, url string, user model.UserID, peerID string, id docs.DocumentID) {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), url+"?token="+string(user), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(t.Context(), conn, peerID, wire.PeerMetadata{StorageID: string(user) + "-store"}); err != nil {
		t.Fatal(err)
	}
	req, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
	if err := conn.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: peerID, TargetID: "relay", DocumentID: id.String(), Data: req.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if m, err := conn.Recv(t.Context()); err != nil || m.Type != wire.TypeSync {
		t.Fatalf("%s as %s not served: %v %+v", user, peerID, err, m)
	}
	c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(10 * time.Second)
	for relaysync.LivePeerID(ep, peerID) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's connection as %s still live 10 s after its close", user, peerID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGonePeerID: a stock automerge-repo client keeps its random peer
// id across reconnects, and every follower of a document it shares sees
// that id on its ephemeral messages. Once its connection was gone,
// another account could join under the id: its ephemeral messages then
// reached followers under the owner's id, and while it held the id the
// owner's own reconnects were refused (ErrPeerID), locking the owner's
// tab out of sync. The relay now remembers the account of a gone peer
// id for WithPeerIDMemory's window.
func TestGonePeerID(t *testing.T) {
	const window = time.Hour
	for _, tc := range []struct {
		name   string
		user   model.UserID
		after  time.Duration
		refuse bool
	}{
		{"another account at once", "eve", 0, true},
		{"another account within the window", "eve", window, true},
		{"the same account", "alice", window, false},
		{"another account after the window", "eve", window + time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &testClock{t: time.Unix(1_700_000_000, 0)}
			ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithClock(clock.now).WithKeepalive(0).WithPeerIDMemory(window, 64, 1000))
			url := newServer(t, ep)
			id, doc := playlist(t, true)
			upload(t, url, id, doc)
			leave(t, ep, url, "alice", "peer-4f1c2a", id)
			clock.add(tc.after)
			if got := joinAs(t, url, tc.user, "peer-4f1c2a", id); got != tc.refuse {
				t.Errorf("%s joining under alice's gone peer id: refused %v, want %v", tc.user, got, tc.refuse)
			}
			if tc.refuse && joinAs(t, url, "alice", "peer-4f1c2a", id) {
				t.Error("alice's reconnect under her own peer id refused")
			}
		})
	}
}

// TestGonePeerIDBounded: the memory of gone peer ids holds at most
// perUser ids of one account (its oldest forgotten first, so one
// account's reconnect storm pushes out only its own ids) and max in all
// (the oldest forgotten first).
func TestGonePeerIDBounded(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithClock(clock.now).WithKeepalive(0).WithPeerIDMemory(time.Hour, 2, 3))
	url := newServer(t, ep)
	id, doc := playlist(t, true)
	upload(t, url, id, doc)
	for _, p := range []string{"a1", "a2", "a3"} {
		leave(t, ep, url, "alice", p, id)
		clock.add(time.Second)
	}
	leave(t, ep, url, "carol", "c1", id)
	clock.add(time.Second)
	// alice's a1 went with her third id (2 per account); a2, a3 and c1
	// fill the table (3), and dave's d1 pushes out the oldest, a2.
	leave(t, ep, url, "dave", "d1", id)
	for _, tc := range []struct {
		peerID string
		refuse bool
	}{
		{"a1", false},
		{"a2", false},
		{"a3", true},
		{"c1", true},
		{"d1", true},
	} {
		if got := joinAs(t, url, "eve", tc.peerID, id); got != tc.refuse {
			t.Errorf("eve joining as %s: refused %v, want %v", tc.peerID, got, tc.refuse)
		}
	}
}

// TestJoinRelayPeerID: the relay's own peer id, which every message it
// sends names, is refused as a remote's: the relay forwards a remote's
// ephemeral messages under the id it joined with, so they reached the
// document's followers as the relay's own.
func TestJoinRelayPeerID(t *testing.T) {
	for _, tc := range []struct {
		peerID string
		refuse bool
	}{
		{"relay-7", true},
		{"relay-70", false},
		{"relay-", false},
	} {
		t.Run(tc.peerID, func(t *testing.T) {
			ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithPeerID("relay-7").WithKeepalive(0))
			url := newServer(t, ep)
			id, doc := playlist(t, true)
			upload(t, url, id, doc)
			if got := joinAs(t, url, "eve", tc.peerID, id); got != tc.refuse {
				t.Fatalf("eve joining as %s: refused %v, want %v", tc.peerID, got, tc.refuse)
			}
		})
	}
}
