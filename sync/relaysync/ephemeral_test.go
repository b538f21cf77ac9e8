package relaysync_test

import (
	"math"
	"net/http"
	"net/http/httptest"
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

// ephReader is a connection that requested a document and reads
// everything the relay sends it on a goroutine (a read whose context
// ends closes a WebSocket, so the test never times one out).
type ephReader struct {
	conn *peer.WSConn
	in   chan *wire.Message
}

// followDoc dials url as user, requests id and waits for the relay's
// answer, so the session follows id.
func followDoc(t *testing.T, url string, user model.UserID, id docs.DocumentID) *ephReader {
	t.Helper()
	return followDocAs(t, url, user, string(user)+"-dev", id)
}

// followDocAs is followDoc joining as peer peerID.
func followDocAs(t *testing.T, url string, user model.UserID, peerID string, id docs.DocumentID) *ephReader {
	t.Helper()
	f := &ephReader{conn: dialPeer(t, url, user, peerID, string(user)+"-store"), in: make(chan *wire.Message, 64)}
	go func() {
		for {
			m, err := f.conn.Recv(t.Context())
			if err != nil {
				close(f.in)
				return
			}
			select {
			case f.in <- m:
			case <-t.Context().Done():
				return
			}
		}
	}()
	req, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
	if err := f.conn.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: peerID, TargetID: "relay", DocumentID: id.String(), Data: req.Bytes()}); err != nil {
		t.Fatal(err)
	}
	f.wait(t, func(m *wire.Message) bool { return m.Type == wire.TypeSync })
	return f
}

// wait returns the first message ok accepts and fails the test when
// none arrives within 10 s.
func (f *ephReader) wait(t *testing.T, ok func(*wire.Message) bool) *wire.Message {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, open := <-f.in:
			if !open {
				t.Fatal("connection closed")
			}
			if ok(m) {
				return m
			}
		case <-timeout:
			t.Fatal("no such message within 10 s")
		}
	}
}

// recvEphemeral waits for the ephemeral message with count.
func (f *ephReader) recvEphemeral(t *testing.T, count uint64) *wire.Message {
	t.Helper()
	return f.wait(t, func(m *wire.Message) bool { return m.Type == wire.TypeEphemeral && m.Count == count })
}

// TestEphemeralDedupPerUser: a reader of a public playlist sees the
// sender and session ids of its owner's ephemeral messages; replaying
// them with a huge count must not make the relay drop the owner's later
// messages as duplicates (the de-duplication table was keyed by the ids
// the sender claims, so any reader could silence any other peer).
func TestEphemeralDedupPerUser(t *testing.T) {
	tests := []struct {
		name      string
		eveCount  uint64
		aliceNext uint64
	}{
		{"replayed at the largest count", math.MaxUint64, 2},
		{"replayed one ahead", 2, 2},
		{"replayed far ahead", 1 << 40, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := openRelay(t, relaysync.DefaultOptions())
			id, doc := playlist(t, true)
			upload(t, url, id, doc)
			alice, bob, eve := followDoc(t, url, "alice", id), followDoc(t, url, "bob", id), followDoc(t, url, "eve", id)
			send := func(f *ephReader, count uint64) {
				t.Helper()
				m := &wire.Message{Type: wire.TypeEphemeral, SenderID: "alice-dev", TargetID: "relay", DocumentID: id.String(), SessionID: "alice-session", Count: count, Data: []byte{0xa0}}
				if err := f.conn.Send(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}
			send(alice, 1)
			seen := eve.recvEphemeral(t, 1)
			bob.recvEphemeral(t, 1)
			// Eve replays what she saw under alice's ids.
			if seen.SenderID != "alice-dev" || seen.SessionID != "alice-session" {
				t.Fatalf("forwarded message names %q/%q", seen.SenderID, seen.SessionID)
			}
			send(eve, tc.eveCount)
			bob.recvEphemeral(t, tc.eveCount)
			send(alice, tc.aliceNext)
			if m := bob.recvEphemeral(t, tc.aliceNext); m.SenderID != "alice-dev" {
				t.Fatalf("bob got %+v", m)
			}
		})
	}
}

// TestEphemeralSender: the sender id of an ephemeral message is the
// remote's claim, and the relay forwarded it as it came, so a reader of
// a public playlist could speak to its followers as another peer (the
// owner's device, seen on its messages). Followers now see the peer id
// the sending connection joined with, unless the claim names a peer of
// the same user connected now (the user's tabs forward each other's
// messages, as automerge-repo does).
func TestEphemeralSender(t *testing.T) {
	for _, tc := range []struct {
		name      string
		from      string // "eve", "alice" or "tab" (alice's second connection)
		claim     string
		wantInBob string
	}{
		{"another user's peer", "eve", "alice-dev", "eve-dev"},
		{"a peer nobody joined as", "eve", "ghost", "eve-dev"},
		{"its own", "eve", "eve-dev", "eve-dev"},
		{"the same user's other connection", "tab", "alice-dev", "alice-dev"},
		{"the same user's peer not connected", "alice", "alice-gone", "alice-dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := openRelay(t, relaysync.DefaultOptions())
			id, doc := playlist(t, true)
			upload(t, url, id, doc)
			from := map[string]*ephReader{
				"alice": followDoc(t, url, "alice", id),
				"eve":   followDoc(t, url, "eve", id),
				"tab":   followDocAs(t, url, "alice", "alice-tab", id),
			}
			bob := followDoc(t, url, "bob", id)
			m := &wire.Message{Type: wire.TypeEphemeral, SenderID: tc.claim, TargetID: "relay", DocumentID: id.String(), SessionID: "s", Count: 1, Data: []byte{0xa0}}
			if err := from[tc.from].conn.Send(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			if got := bob.recvEphemeral(t, 1); got.SenderID != tc.wantInBob || got.SessionID != "s" || got.TargetID != "bob-dev" {
				t.Fatalf("bob got sender %q, session %q, target %q; want sender %q", got.SenderID, got.SessionID, got.TargetID, tc.wantInBob)
			}
		})
	}
}

// TestEphemeralByteRate: the relay forwards an ephemeral message to
// every follower of its document, so a reader of a public playlist
// sending 12.5 MiB of them made the relay send 125 MiB to ten followers
// in half a second (at the message rate's burst, 2.2 GB to each). Past
// its user's ephemeral byte budget, which the user's connections share,
// a message is not forwarded and its sender gets an error naming the
// document; the budget refills with time.
func TestEphemeralByteRate(t *testing.T) {
	now := time.Unix(0, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tests := []struct {
		name  string
		sizes []int // sent in order; the last one is refused
	}{
		{"one message over the burst", []int{relaysync.DefaultEphemeralBurst + 1}},
		{"burst spent by earlier messages", []int{relaysync.DefaultEphemeralBurst / 2, relaysync.DefaultEphemeralBurst / 2, 1}},
		{"burst spent by another connection of the user", []int{relaysync.DefaultEphemeralBurst/2 + 1, relaysync.DefaultEphemeralBurst / 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := openRelay(t, relaysync.DefaultOptions().WithClock(clock))
			id, doc := playlist(t, true)
			upload(t, url, id, doc)
			bob, eve, eve2 := followDoc(t, url, "bob", id), followDoc(t, url, "eve", id), followDoc(t, url, "eve", id)
			send := func(f *ephReader, count uint64, size int) {
				t.Helper()
				m := &wire.Message{Type: wire.TypeEphemeral, SenderID: "eve-dev", TargetID: "relay", DocumentID: id.String(), SessionID: "s", Count: count, Data: make([]byte, size)}
				if err := f.conn.Send(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}
			last := uint64(len(tc.sizes))
			for i, size := range tc.sizes {
				// Eve's two connections take turns, the last message
				// on the first.
				from := eve
				if (len(tc.sizes)-1-i)%2 == 1 {
					from = eve2
				}
				send(from, uint64(i+1), size)
				if uint64(i+1) < last {
					bob.recvEphemeral(t, uint64(i+1))
				}
			}
			m := eve.wait(t, func(m *wire.Message) bool { return m.Type == wire.TypeError })
			if m.DocumentID != id.String() || !strings.Contains(m.Message, "ephemeral") {
				t.Fatalf("eve got %+v, want an error naming %s and the ephemeral budget", m, id)
			}
			// A second later a small message passes; bob never got the
			// refused one.
			mu.Lock()
			now = now.Add(time.Second)
			mu.Unlock()
			send(eve, last+1, 100)
			if got := bob.wait(t, func(m *wire.Message) bool { return m.Type == wire.TypeEphemeral }); got.Count != last+1 {
				t.Fatalf("bob got ephemeral message %d, want %d", got.Count, last+1)
			}
		})
	}
}

// TestJoinPeerID checks that the relay refuses a join under a peer id
// another account's live connection joined with, or of a device's form
// naming another device, and keeps ids an account's own connections
// share (a reconnect before the old connection is gone).
func TestJoinPeerID(t *testing.T) {
	const aliceDevice = "0123456789abcdef0123456789abcdef-x1"
	for _, tc := range []struct {
		name   string
		user   model.UserID
		peerID string
		refuse bool
	}{
		{"another account's live peer", "eve", "alice-dev", true},
		{"another account's live device peer", "eve", aliceDevice, true},
		{"the same account's live peer", "alice", "alice-dev", false},
		{"a device's form, not the caller's device", "alice", "fedcba9876543210fedcba9876543210-y", true},
		{"a random id", "eve", "peer-3f9a", false},
		{"a device-like id of other length", "eve", "0123456789abcdef-x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, _, _ := openEndpoint(t, relaysync.DefaultOptions())
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				user, dev, _ := strings.Cut(r.URL.Query().Get("token"), "/")
				ep.ServeCaller(w, r, relaysync.Caller{User: model.UserID(user), Device: model.DeviceID(dev)})
			}))
			defer srv.Close()
			url := "ws" + strings.TrimPrefix(srv.URL, "http")
			id, doc := playlist(t, true)
			upload(t, url, id, doc)
			followDoc(t, url, "alice", id)
			followDocAs(t, url, model.UserID("alice/"+aliceDevice[:32]), aliceDevice, id)
			c, _, err := websocket.Dial(t.Context(), url+"?token="+string(tc.user), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			conn := peer.NewWSConn(c, 0)
			if _, err := peer.ClientHandshake(t.Context(), conn, tc.peerID, wire.PeerMetadata{StorageID: "s"}); err != nil {
				t.Fatal(err)
			}
			req, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
			if err := conn.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: tc.peerID, TargetID: "relay", DocumentID: id.String(), Data: req.Bytes()}); err != nil && !tc.refuse {
				t.Fatal(err)
			}
			m, err := conn.Recv(t.Context())
			switch {
			case tc.refuse && err == nil && (m.Type != wire.TypeError || !strings.Contains(m.Message, "peer id refused")):
				t.Fatalf("got %q %q, want the join refused", m.Type, m.Message)
			case tc.refuse && err == nil:
				if _, err := conn.Recv(t.Context()); err == nil {
					t.Fatal("connection still open after the refusal")
				}
			case !tc.refuse && err != nil:
				t.Fatalf("join refused: %v", err)
			case !tc.refuse && m.Type != wire.TypeSync:
				t.Fatalf("got %q %q, want the document's sync message", m.Type, m.Message)
			}
		})
	}
}
