package peer_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// arrivingRepo is a RepoAdapter whose first Has of a document answers
// false and then lets the document arrive (another peer's creation
// committing), the race between a request's Has and the session's
// follow.
type arrivingRepo struct {
	*peer.RepoAdapter
	once   sync.Once
	arrive func()
}

func (a *arrivingRepo) Has(ctx context.Context, id docs.DocumentID) (bool, error) {
	first := false
	a.once.Do(func() { first = true })
	if first {
		a.arrive()
		return false, nil
	}
	return a.RepoAdapter.Has(ctx, id)
}

// TestRequestServedWhenDocumentArrivesMeanwhile: a request for a
// document that arrives while the session decides it is unknown is
// served (the relay's change notification went out before the session
// followed the document); before, the remote only got doc-unavailable
// and waited for a change that never came.
func TestRequestServedWhenDocumentArrivesMeanwhile(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	quiet := repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))
	r, err := repo.Open(ctx, store.NewMemory(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src, err := repo.Open(ctx, store.NewMemory(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	h, err := src.CreatePlaylist(ctx, "alice", "arrives")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	// arrive syncs the playlist from src into r, as alice's device would.
	arrive := func() {
		for range 10 {
			sent := false
			for _, d := range []struct {
				from, to     *repo.Repo
				peer, sender repo.PeerID
			}{{src, r, "relay", "alice"}, {r, src, "alice", "relay"}} {
				if _, err := d.from.Ensure(ctx, id); err != nil {
					t.Error(err)
					return
				}
				m, ok, err := d.from.GenerateSyncMessage(ctx, d.peer, id)
				if err != nil || !ok {
					continue
				}
				sent = true
				if err := d.to.ReceiveSyncMessage(ctx, d.sender, id, m); err != nil {
					t.Error(err)
					return
				}
			}
			if !sent {
				return
			}
		}
	}
	ar := &arrivingRepo{RepoAdapter: peer.NewRepoAdapter(r), arrive: arrive}
	local, far := pipe()
	s := &peer.Session{Repo: ar, Authz: peer.AllowAll, User: "bob", LocalID: "relay", RemoteID: "bob-dev",
		RemoteStorage: "bob-store", Conn: local, Log: slog.New(slog.DiscardHandler), Fanout: peer.NewFanout(ar)}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	doc := automerge.New()
	ss := automerge.NewSyncState(doc)
	req, _ := ss.GenerateMessage()
	if err := far.Send(ctx, &wire.Message{Type: wire.TypeRequest, SenderID: "bob-dev", TargetID: "relay", DocumentID: id.String(), Data: req.Bytes()}); err != nil {
		t.Fatal(err)
	}
	// Sync until bob holds the document; doc-unavailable alone would
	// leave him waiting.
	deadline, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	for len(doc.Heads()) == 0 {
		m, err := far.Recv(deadline)
		if err != nil {
			t.Fatalf("bob never received the document that arrived meanwhile: %v", err)
		}
		if m.Type != wire.TypeSync {
			continue
		}
		if _, err := ss.ReceiveMessage(m.Data); err != nil {
			t.Fatal(err)
		}
		if reply, ok := ss.GenerateMessage(); ok {
			if err := far.Send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: "bob-dev", TargetID: "relay", DocumentID: id.String(), Data: reply.Bytes()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
