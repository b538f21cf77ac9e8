package peer_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// revokingRepo is a RepoAdapter that, once armed, runs revoke right
// after the next access decision (ViewAt) returns: a change of the
// document's ACL fields lands between a session's decision and the
// message it sends under it.
type revokingRepo struct {
	*peer.RepoAdapter
	revoke atomic.Pointer[func()]
}

func (r *revokingRepo) ViewAt(ctx context.Context, id docs.DocumentID, fn func(doc *automerge.Doc, rev uint64) error) error {
	err := r.RepoAdapter.ViewAt(ctx, id, fn)
	if f := r.revoke.Swap(nil); f != nil {
		(*f)()
	}
	return err
}

// collaboratorSession returns alice's playlist, shared with bob, in a
// relay repository served to bob by a session over a revokingRepo, and
// bob's end of the connection; the session ends with the test.
func collaboratorSession(t *testing.T) (ctx context.Context, h *repo.Handle, ad *revokingRepo, bob *pipeConn) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	quiet := slog.New(slog.DiscardHandler)
	r, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	h, err = r.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.SetCollaborators("bob") }); err != nil {
		t.Fatal(err)
	}
	ad = &revokingRepo{RepoAdapter: peer.NewRepoAdapter(r)}
	relayEnd, bob := pipe()
	s := &peer.Session{Repo: ad, Authz: peer.DocumentAccess, User: "bob", LocalID: "relay", RemoteID: "bob",
		RemoteStorage: "bob-store", Conn: relayEnd, Log: quiet,
		Owner: func(context.Context, docs.DocumentID) (model.UserID, error) { return "alice", nil }}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		r.Close()
	})
	return ctx, h, ad, bob
}

// TestRevokedBetweenDecisionAndMessage: bob follows alice's private
// playlist as a collaborator. The owner adds an entry, and while bob's
// relay session decides he may read it, she removes him and renames the
// playlist. The session must not send those changes under the decision
// it made before them: bob's next message is doc-unavailable.
func TestRevokedBetweenDecisionAndMessage(t *testing.T) {
	ctx, h, ad, bob := collaboratorSession(t)
	id := h.ID()

	// Bob asks for the playlist and receives it (he does not answer:
	// nothing of his reaches the session afterwards).
	empty := automerge.New()
	req, _ := automerge.NewSyncState(empty).GenerateMessage()
	if err := bob.Send(ctx, &wire.Message{Type: wire.TypeRequest, SenderID: "bob", TargetID: "relay", DocumentID: id.String(), Data: req.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if m, err := bob.Recv(ctx); err != nil || m.Type != wire.TypeSync {
		t.Fatalf("bob's request answered with %+v (%v), want the playlist", m, err)
	}

	revoke := func() {
		if err := h.Playlist(ctx, func(p *docs.Playlist) error {
			if err := p.SetCollaborators(); err != nil {
				return err
			}
			return p.Rename("secret")
		}); err != nil {
			t.Error(err)
		}
	}
	ad.revoke.Store(&revoke)
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t2"); return err }); err != nil {
		t.Fatal(err)
	}
	m, err := bob.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != wire.TypeDocUnavailable || m.DocumentID != id.String() {
		t.Fatalf("bob got %s after losing access, want doc-unavailable for %s", m.Type, id)
	}
}

// TestRevokedBetweenDecisionAndWrite: bob, a collaborator on alice's
// playlist, sends an entry he added, and while his relay session
// decides he may write, she removes him. His entry must not land under
// the decision made before the removal: it is not in the playlist, and
// bob is told the playlist is unavailable.
func TestRevokedBetweenDecisionAndWrite(t *testing.T) {
	ctx, h, ad, bob := collaboratorSession(t)
	id := h.ID()

	// Bob fetches the playlist and adds an entry to his copy.
	doc := automerge.New()
	defer doc.Close()
	ss := automerge.NewSyncState(doc)
	req, _ := ss.GenerateMessage()
	if err := bob.Send(ctx, &wire.Message{Type: wire.TypeRequest, SenderID: "bob", TargetID: "relay", DocumentID: id.String(), Data: req.Bytes()}); err != nil {
		t.Fatal(err)
	}
	m, err := bob.Recv(ctx)
	if err != nil || m.Type != wire.TypeSync {
		t.Fatalf("bob's request answered with %+v (%v), want the playlist", m, err)
	}
	if _, err := ss.ReceiveMessage(m.Data); err != nil {
		t.Fatal(err)
	}
	p, err := docs.OpenPlaylist(doc, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(docs.AtEnd(), "bob", "t-bob"); err != nil {
		t.Fatal(err)
	}
	msg, ok := ss.GenerateMessage()
	if !ok {
		t.Fatal("bob has nothing to send after his edit")
	}

	revoke := func() {
		if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.SetCollaborators() }); err != nil {
			t.Error(err)
		}
	}
	ad.revoke.Store(&revoke)
	if err := bob.Send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: "bob", TargetID: "relay", DocumentID: id.String(), Data: msg.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if m, err = bob.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Type != wire.TypeDocUnavailable || m.DocumentID != id.String() {
		t.Fatalf("bob got %s after losing access, want doc-unavailable for %s", m.Type, id)
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error {
		es, err := p.Entries()
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.Track == "t-bob" {
				t.Errorf("bob's entry landed after he was removed: %+v", e)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
