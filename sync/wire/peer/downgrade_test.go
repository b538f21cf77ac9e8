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

// TestRevokedBetweenDecisionAndMessage: bob follows alice's private
// playlist as a collaborator. The owner adds an entry, and while bob's
// relay session decides he may read it, she removes him and renames the
// playlist. The session must not send those changes under the decision
// it made before them: bob's next message is doc-unavailable.
func TestRevokedBetweenDecisionAndMessage(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	r, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h, err := r.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.SetCollaborators("bob") }); err != nil {
		t.Fatal(err)
	}
	ad := &revokingRepo{RepoAdapter: peer.NewRepoAdapter(r)}
	relayEnd, bob := pipe()
	s := &peer.Session{Repo: ad, Authz: peer.DocumentAccess, User: "bob", LocalID: "relay", RemoteID: "bob",
		RemoteStorage: "bob-store", Conn: relayEnd, Log: quiet,
		Owner: func(context.Context, docs.DocumentID) (model.UserID, error) { return "alice", nil }}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

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
