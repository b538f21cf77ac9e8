package relaysync_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// revokeDeadline is how soon after a revocation (the revoking call has
// returned) every live session of it must be closed or downgraded.
const revokeDeadline = time.Second

// tap is a raw sync connection to a real relay whose received messages
// are read by one goroutine and delivered on in; closed is closed (with
// err and at set) when reading fails.
type tap struct {
	conn   *peer.WSConn
	in     chan *wire.Message
	closed chan struct{}
	err    error
	at     time.Time
}

// dialToken opens /v1/sync of the relay at origin with a device token
// and completes the automerge-repo handshake as peerID.
func dialToken(t *testing.T, origin, token, peerID string) *tap {
	t.Helper()
	u, err := core.SyncURL(origin)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(t.Context(), u+"?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(t.Context(), conn, peerID, wire.PeerMetadata{StorageID: peerID + "-store"}); err != nil {
		t.Fatal(err)
	}
	tp := &tap{conn: conn, in: make(chan *wire.Message, 64), closed: make(chan struct{})}
	go func() {
		for {
			m, err := conn.Recv(context.Background())
			if err != nil {
				tp.err, tp.at = err, time.Now()
				close(tp.closed)
				return
			}
			tp.in <- m
		}
	}()
	return tp
}

// next returns the next message, or fails the test after d or when the
// connection closes.
func (tp *tap) next(t *testing.T, d time.Duration) *wire.Message {
	t.Helper()
	select {
	case m := <-tp.in:
		return m
	case <-tp.closed:
		t.Fatalf("connection closed: %v", tp.err)
	case <-time.After(d):
		t.Fatalf("no message within %s", d)
	}
	return nil
}

// waitClosed fails the test unless the connection closes before
// deadline with code; it returns when it closed.
func (tp *tap) waitClosed(t *testing.T, deadline time.Time, code websocket.StatusCode) time.Time {
	t.Helper()
	select {
	case <-tp.closed:
	case <-time.After(time.Until(deadline)):
		t.Fatalf("connection still open %s after the revocation", revokeDeadline)
	}
	if got := websocket.CloseStatus(tp.err); got != code {
		t.Fatalf("closed with %v (%v), want close code %d", got, tp.err, code)
	}
	return tp.at
}

// converge syncs doc over tp as a device would, until neither side has
// anything to send and the relay's last heads equal doc's. A message
// that is not a sync message (error, doc-unavailable) ends it and is
// returned.
func (tp *tap) converge(t *testing.T, id docs.DocumentID, doc *automerge.Doc, ss *automerge.SyncState) *wire.Message {
	t.Helper()
	var theirs []automerge.ChangeHash
	for range 20 {
		m, ok := ss.GenerateMessage()
		if ok {
			if err := tp.conn.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: "x", TargetID: "relay", DocumentID: id.String(), Data: m.Bytes()}); err != nil {
				t.Fatal(err)
			}
		}
		// Equal heads: the relay has nothing to send (and answers a
		// message that tells it nothing new with silence).
		if theirs != nil && sameSet(theirs, doc.Heads()) {
			return nil
		}
		in := tp.next(t, 5*time.Second)
		if in.Type != wire.TypeSync {
			return in
		}
		sm, err := ss.ReceiveMessage(in.Data)
		if err != nil {
			t.Fatal(err)
		}
		theirs = sm.Heads()
	}
	t.Fatal("no convergence in 20 rounds")
	return nil
}

// sameSet reports whether a and b hold the same hashes.
func sameSet(a, b []automerge.ChangeHash) bool {
	cmp := func(x, y automerge.ChangeHash) int { return slices.Compare(x[:], y[:]) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

// syncClient starts a sync/client.Client for token over a fresh
// in-memory repository holding one playlist of user, and returns it
// once it has exchanged a sync message with the relay, with the channel
// that receives Run's result.
func syncClient(t *testing.T, origin, token string, user model.UserID) (*client.Client, <-chan error) {
	t.Helper()
	u, err := core.SyncURL(origin)
	if err != nil {
		t.Fatal(err)
	}
	ad := openRepo(t, store.NewMemory())
	if _, err := ad.R.CreatePlaylist(t.Context(), user, "mine"); err != nil {
		t.Fatal(err)
	}
	c := client.New(ad, client.WebSocket{URL: u, Token: token},
		client.DefaultOptions().WithIdentity(string(user)+"-client", string(user)+"-client").
			WithBackoff(time.Millisecond, 2*time.Millisecond, 1))
	ctx, cancel := context.WithCancel(context.Background())
	done, finished := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(finished)
		done <- c.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-finished })
	select {
	case <-c.Synced():
	case err := <-done:
		t.Fatalf("client ended before syncing: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("client did not sync")
	}
	return c, done
}

// TestRevokeDeviceClosesLiveSessions: DELETE /v1/devices/{id} on a real
// relay closes every live /v1/sync WebSocket of that device within a
// second of the call returning, with close code peer.CloseRevoked; the
// device's sync client reports ErrRevoked and stops instead of
// reconnecting; a new connection with the revoked token gets 401 and the
// client gives up after that one attempt; the account's other device
// receives a catalog-signed revocation notice naming the device; another
// account's session is untouched.
func TestRevokeDeviceClosesLiveSessions(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false).WithLicenses(true))
	lost := testbed.Device(t, r, "alice")
	kept := testbed.Device(t, r, "alice")
	other := testbed.Device(t, r, "bob")

	raw1 := dialToken(t, r.URL, lost.Token(), "lost-1")
	raw2 := dialToken(t, r.URL, lost.Token(), "lost-2")
	sibling := dialToken(t, r.URL, kept.Token(), "kept")
	stranger := dialToken(t, r.URL, other.Token(), "bob")
	c, ran := syncClient(t, r.URL, lost.Token(), "alice")

	testbed.Deregister(t, r.URL, lost.DeviceID(), kept.Token())
	deadline := time.Now().Add(revokeDeadline)

	raw1.waitClosed(t, deadline, peer.CloseRevoked)
	raw2.waitClosed(t, deadline, peer.CloseRevoked)
	// The client reads the close frame (ErrRevoked, no reconnect) unless
	// a write of its own fails first on the closing connection; then it
	// reconnects once, gets 401 and stops (ErrUnauthorized).
	maxAttempts := 0
	select {
	case err := <-ran:
		switch {
		case errors.Is(err, client.ErrRevoked):
		case errors.Is(err, client.ErrUnauthorized):
			maxAttempts = 1
		default:
			t.Fatalf("client Run = %v, want ErrRevoked (or ErrUnauthorized after one redial)", err)
		}
	case <-time.After(time.Until(deadline)):
		t.Fatal("sync client still running after the revocation")
	}
	if st := c.Status(); !st.AuthRefused || st.Connected || st.Attempts > maxAttempts {
		t.Fatalf("client status %+v: want refused, disconnected, at most %d reconnect attempt", st, maxAttempts)
	}

	m := sibling.next(t, time.Until(deadline))
	if m.Type != wire.TypeDeviceRevoked {
		t.Fatalf("other device got %s, want %s", m.Type, wire.TypeDeviceRevoked)
	}
	rev, err := crypto.VerifyRevocation(r.CatalogKey, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if rev.User != "alice" || rev.Device != lost.DeviceID() {
		t.Fatalf("notice %+v, want alice's %s", rev, lost.DeviceID())
	}

	// Bob's session is still served: a request gets its answer.
	req := automerge.NewSyncState(automerge.New())
	msg, _ := req.GenerateMessage()
	if err := stranger.conn.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: "bob", TargetID: "relay", DocumentID: docs.DocumentID{7}.String(), Data: msg.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if m := stranger.next(t, 5*time.Second); m.Type != wire.TypeDocUnavailable {
		t.Fatalf("bob got %s, want doc-unavailable", m.Type)
	}

	// The revoked token: 401 at once, and a client stops after one try.
	u, _ := core.SyncURL(r.URL)
	if _, res, err := websocket.Dial(t.Context(), u+"?token="+lost.Token(), nil); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial with the revoked token: %v, want 401", err)
	}
	again := client.New(openRepo(t, store.NewMemory()), client.WebSocket{URL: u, Token: lost.Token()},
		client.DefaultOptions().WithBackoff(time.Millisecond, 2*time.Millisecond, 1))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := again.Run(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("client with the revoked token: Run = %v, want ErrUnauthorized", err)
	}
	if st := again.Status(); st.Attempts != 1 || !st.AuthRefused {
		t.Fatalf("client with the revoked token: %+v, want one attempt, refused", st)
	}
}

// TestTokenExpiryClosesSession: a sync connection opened with a token
// that expires is closed by the relay with peer.CloseUnauthorized no
// earlier than the expiry and within a second after it (real clock and
// timers: the token lives three seconds).
func TestTokenExpiryClosesSession(t *testing.T) {
	// Stored in whole seconds: 3 s leave at least 2 s to connect.
	const ttl = 3 * time.Second
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false).
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithTokenTTL(ttl) }))
	e := testbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	if err := e.SignUp(t.Context(), "alice", testbed.Password); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := e.Register(t.Context(), "alice", testbed.Password, "phone"); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	tp := dialToken(t, r.URL, e.Token(), "phone")
	at := tp.waitClosed(t, after.Add(ttl+revokeDeadline), peer.CloseUnauthorized)
	// The relay stores token expiries in whole seconds.
	if earliest := before.Add(ttl).Truncate(time.Second); at.Before(earliest) {
		t.Fatalf("closed %s before the token expired", earliest.Sub(at))
	}
	if !strings.Contains(tp.err.Error(), "expired") {
		t.Fatalf("close reason %v, want it to say the token expired", tp.err)
	}
}

// TestCollaboratorRemovedIsDowngraded: when the owner removes a
// collaborator, the collaborator's live session is downgraded with the
// change: on a private playlist it gets doc-unavailable within a second
// and no further change; on a public one it keeps reading but its next
// write is refused and never reaches the relay.
func TestCollaboratorRemovedIsDowngraded(t *testing.T) {
	for _, public := range []bool{false, true} {
		name := map[bool]string{false: "private: loses read", true: "public: loses write"}[public]
		t.Run(name, func(t *testing.T) {
			r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false))
			alice := dialToken(t, r.URL, testbed.Device(t, r, "alice").Token(), "alice")
			bobTok := testbed.Device(t, r, "bob").Token()
			bob := dialToken(t, r.URL, bobTok, "bob")

			doc := automerge.New()
			p, err := docs.CreatePlaylist(doc, "alice", "shared", docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := p.SetCollaborators("bob"); err != nil {
				t.Fatal(err)
			}
			if err := p.SetPublic(public); err != nil {
				t.Fatal(err)
			}
			id, err := docs.NewDocumentID(strings.NewReader("0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			ass := automerge.NewSyncState(doc)
			if m := alice.converge(t, id, doc, ass); m != nil {
				t.Fatalf("alice's upload: %s %s", m.Type, m.Message)
			}

			// Bob, a collaborator, follows the playlist and may write.
			bdoc := automerge.New()
			bss := automerge.NewSyncState(bdoc)
			if m := bob.converge(t, id, bdoc, bss); m != nil {
				t.Fatalf("bob's first sync: %s %s", m.Type, m.Message)
			}
			bp := addTrack(t, bdoc, "bob", "allowed")
			if m := bob.converge(t, id, bdoc, bss); m != nil {
				t.Fatalf("bob's write as a collaborator: %s %s", m.Type, m.Message)
			}
			if m := alice.converge(t, id, doc, ass); m != nil {
				t.Fatalf("alice's sync: %s %s", m.Type, m.Message)
			}

			// Alice removes bob; the change reaches the relay.
			if err := p.SetCollaborators(); err != nil {
				t.Fatal(err)
			}
			if m := alice.converge(t, id, doc, ass); m != nil {
				t.Fatalf("alice's removal: %s %s", m.Type, m.Message)
			}
			deadline := time.Now().Add(revokeDeadline)
			m := bob.next(t, time.Until(deadline))
			if !public {
				if m.Type != wire.TypeDocUnavailable || m.DocumentID != id.String() {
					t.Fatalf("bob got %s for %q, want doc-unavailable for %s", m.Type, m.DocumentID, id)
				}
				// Alice's next change does not reach bob.
				if err := p.Rename("secret"); err != nil {
					t.Fatal(err)
				}
				if m := alice.converge(t, id, doc, ass); m != nil {
					t.Fatalf("alice's rename: %s %s", m.Type, m.Message)
				}
				select {
				case m := <-bob.in:
					t.Fatalf("bob received %s after losing access", m.Type)
				case <-time.After(300 * time.Millisecond):
				}
				return
			}
			// Public: bob still reads the change that removed him …
			if m.Type != wire.TypeSync {
				t.Fatalf("bob got %s %s, want the change (public playlist)", m.Type, m.Message)
			}
			if _, err := bss.ReceiveMessage(m.Data); err != nil {
				t.Fatal(err)
			}
			// … but his next write is refused.
			if _, err := bp.Add(docs.AtEnd(), "bob", "refused"); err != nil {
				t.Fatal(err)
			}
			if m := bob.converge(t, id, bdoc, bss); m == nil || m.Type != wire.TypeError {
				t.Fatalf("bob's write after removal: got %+v, want an error", m)
			}
			check := automerge.New()
			if m := dialToken(t, r.URL, bobTok, "bob-reader").converge(t, id, check, automerge.NewSyncState(check)); m != nil {
				t.Fatalf("reading the relay's copy: %s %s", m.Type, m.Message)
			}
			cp, err := docs.OpenPlaylist(check, docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			es, err := cp.Entries()
			if err != nil {
				t.Fatal(err)
			}
			var tracks []model.TrackID
			for _, e := range es {
				tracks = append(tracks, e.Track)
			}
			if !slices.Equal(tracks, []model.TrackID{"allowed"}) {
				t.Fatalf("relay's entries %v, want only the one bob added as a collaborator", tracks)
			}
		})
	}
}
