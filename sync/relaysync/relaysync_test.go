package relaysync_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

func openRelay(t *testing.T, opts relaysync.Options) (string, *peer.RepoAdapter) {
	t.Helper()
	url, repo, _ := openRelayStore(t, opts)
	return url, repo
}

// openRelayStore is openRelay that also returns the relay's store.
func openRelayStore(t *testing.T, opts relaysync.Options) (string, *peer.RepoAdapter, store.Store) {
	t.Helper()
	ep, repo, st := openEndpoint(t, opts)
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync", repo, st
}

// openEndpoint opens a Badger store in a temporary directory, a repo on
// it and a sync endpoint (not served) whose caller is the user named by
// the "token" query parameter, all closed when the test ends.
func openEndpoint(t *testing.T, opts relaysync.Options) (*relaysync.Endpoint, *peer.RepoAdapter, store.Store) {
	t.Helper()
	return openEndpointRepo(t, opts, repo.DefaultOptions().WithActorBinding(true))
}

// openEndpointRepo is openEndpoint with the repo opened with ropts.
func openEndpointRepo(t *testing.T, opts relaysync.Options, ropts repo.Options) (*relaysync.Endpoint, *peer.RepoAdapter, store.Store) {
	t.Helper()
	st, err := badgerstore.Open(t.Context(), t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := openRepoWith(t, st, ropts)
	ep := relaysync.New(repo, st, peer.DocumentAccess, opts.WithAuthenticator(func(r *http.Request) (model.UserID, error) {
		if u := r.URL.Query().Get("token"); u != "" {
			return model.UserID(u), nil
		}
		return "", relaysync.ErrUnauthenticated
	}))
	return ep, repo, st
}

// dial connects as user and completes the handshake, announcing the
// storage id user + "-store".
func dial(t *testing.T, url string, user model.UserID) *peer.WSConn {
	t.Helper()
	return dialStorage(t, url, user, string(user)+"-store")
}

// dialStorage is dial announcing storage as the storage id.
func dialStorage(t *testing.T, url string, user model.UserID, storage string) *peer.WSConn {
	t.Helper()
	return dialPeer(t, url, user, string(user)+"-dev", storage)
}

// dialPeer is dialStorage joining as peer peerID.
func dialPeer(t *testing.T, url string, user model.UserID, peerID, storage string) *peer.WSConn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), url+"?token="+string(user), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(t.Context(), conn, peerID, wire.PeerMetadata{StorageID: storage}); err != nil {
		t.Fatal(err)
	}
	return conn
}

func playlist(t *testing.T, public bool) (docs.DocumentID, *automerge.Doc) {
	t.Helper()
	doc := automerge.New()
	p, err := docs.CreatePlaylist(doc, "alice", "mine", docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if public {
		if err := p.SetPublic(true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Add(docs.AtEnd(), "alice", "t1"); err != nil {
		t.Fatal(err)
	}
	id, err := docs.NewDocumentID(strings.NewReader("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return id, doc
}

// syncUntilQuiet pushes doc's state to the relay over conn, as a
// device would, until the relay has nothing more to say or an error
// message arrives (returned).
func syncUntilQuiet(t *testing.T, conn *peer.WSConn, id docs.DocumentID, doc *automerge.Doc, user string) (*wire.Message, error) {
	t.Helper()
	ss := automerge.NewSyncState(doc)
	for range 10 {
		if m, ok := ss.GenerateMessage(); ok {
			if err := conn.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: user, TargetID: "relay", DocumentID: id.String(), Data: m.Bytes()}); err != nil {
				return nil, err
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		m, err := conn.Recv(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if m.Type == wire.TypeError || m.Type == wire.TypeDocUnavailable {
			return m, nil
		}
		if _, err := ss.ReceiveMessage(m.Data); err != nil {
			t.Fatal(err)
		}
	}
	return nil, nil
}

// upload syncs alice's doc to the relay at url as document id until
// quiet; any error or refusal fails the test.
func upload(t *testing.T, url string, id docs.DocumentID, doc *automerge.Doc) {
	t.Helper()
	if m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, doc, "alice-dev"); err != nil || m != nil {
		t.Fatalf("alice upload: %v %+v", err, m)
	}
}

func relayTracks(t *testing.T, repo *peer.RepoAdapter, id docs.DocumentID) []string {
	var out []string
	if err := repo.View(t.Context(), id, func(doc *automerge.Doc) error {
		p, err := docs.OpenPlaylist(doc, docs.DefaultOptions())
		if err != nil {
			return err
		}
		es, err := p.Entries()
		for _, e := range es {
			out = append(out, string(e.Track))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuthorisation(t *testing.T) {
	tests := []struct {
		name      string
		public    bool
		wantReply string
	}{
		{"private playlist: non-collaborator gets nothing", false, wire.TypeDocUnavailable},
		{"public playlist: readable, change rejected", true, wire.TypeError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, repo := openRelay(t, relaysync.DefaultOptions())
			id, doc := playlist(t, tc.public)
			alice := dial(t, url, "alice")
			if m, err := syncUntilQuiet(t, alice, id, doc, "alice-dev"); err != nil || m != nil {
				t.Fatalf("alice upload: %v %+v", err, m)
			}
			if got := relayTracks(t, repo, id); len(got) != 1 {
				t.Fatalf("relay has %v after alice's upload", got)
			}
			// Eve forks alice's playlist, adds a track and syncs it.
			evil, err := doc.Fork()
			if err != nil {
				t.Fatal(err)
			}
			addTrack(t, evil, "eve", "spam")
			eve := dial(t, url, "eve")
			m, err := syncUntilQuiet(t, eve, id, evil, "eve-dev")
			if err != nil {
				t.Fatal(err)
			}
			if m == nil || m.Type != tc.wantReply {
				t.Fatalf("eve got %+v, want %s", m, tc.wantReply)
			}
			if got := relayTracks(t, repo, id); len(got) != 1 || got[0] != "t1" {
				t.Fatalf("relay stored eve's change: %v", got)
			}
			// Alice's connection never receives eve's entry.
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if m, err := alice.Recv(ctx); err == nil {
				t.Fatalf("alice received %s after eve's rejected change", m.Type)
			}
		})
	}
}

func TestRateAndFrameLimits(t *testing.T) {
	now := time.Unix(0, 0)
	url, _ := openRelay(t, relaysync.DefaultOptions().WithRate(1, 2).WithMaxFrame(4096).WithClock(func() time.Time { return now }))
	t.Run("rate", func(t *testing.T) {
		c := dial(t, url, "alice")
		var got *wire.Message
		for i := range 5 {
			e := &wire.Message{Type: wire.TypeEphemeral, SenderID: "alice-dev", TargetID: "relay", DocumentID: docs.DocumentID{1}.String(), SessionID: "s", Count: uint64(i + 1), Data: []byte{1}}
			if err := c.Send(t.Context(), e); err != nil {
				break
			}
		}
		m, err := c.Recv(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = m
		if got.Type != wire.TypeError || !strings.Contains(got.Message, "messages/s") {
			t.Fatalf("got %+v, want a rate-limit error", got)
		}
		_, err = c.Recv(t.Context())
		if code := websocket.CloseStatus(err); code != peer.CloseRateLimited {
			t.Fatalf("connection ended with %v (close code %d), want close code %d", err, code, peer.CloseRateLimited)
		}
	})
	t.Run("frame", func(t *testing.T) {
		c := dial(t, url, "bob")
		big := &wire.Message{Type: wire.TypeSync, SenderID: "bob-dev", TargetID: "relay", DocumentID: docs.DocumentID{2}.String(), Data: make([]byte, 8192)}
		if err := c.Send(t.Context(), big); err != nil {
			t.Fatal(err)
		}
		m, err := c.Recv(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != wire.TypeError || !strings.Contains(m.Message, "frame larger") {
			t.Fatalf("got %+v, want a frame-size error", m)
		}
	})
}

// openRepo opens a sync/repo.Repo over st for the test's lifetime,
// binding actors to users as the relay does.
func openRepo(t *testing.T, st store.Store) *peer.RepoAdapter {
	t.Helper()
	return openRepoWith(t, st, repo.DefaultOptions().WithActorBinding(true))
}

// openRepoWith is openRepo with the repo opened with opts.
func openRepoWith(t *testing.T, st store.Store, opts repo.Options) *peer.RepoAdapter {
	t.Helper()
	r, err := repo.Open(t.Context(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return peer.NewRepoAdapter(r)
}

// addTrack appends track to the playlist in doc as user, in one commit
// (the caller syncs it), and returns the playlist.
func addTrack(t *testing.T, doc *automerge.Doc, user model.UserID, track model.TrackID) *docs.Playlist {
	t.Helper()
	p, err := docs.OpenPlaylist(doc, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(docs.AtEnd(), user, track); err != nil {
		t.Fatal(err)
	}
	return p
}
