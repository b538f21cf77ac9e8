package peer_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestAccessFollowsDocumentChanges: a session caches Authz results by
// document revision, so a change to a playlist's sharing takes effect on the
// next message: bob reads alice's public playlist, is refused once she
// makes it private, and reads it again once she adds him as a
// collaborator. The session runs without a Fanout (a device's session).
func TestAccessFollowsDocumentChanges(t *testing.T) { accessSteps(t, nil) }

// TestRecordedOwnerReadOnce: with a recorded owner (the relay's Owner),
// the same steps decide the same, and the record is read once for the
// session, not once per revision; an owner not recorded yet is asked
// again.
func TestRecordedOwnerReadOnce(t *testing.T) {
	for _, c := range []struct {
		name     string
		recorded model.UserID
		reads    func(n int) bool
	}{
		{"recorded", "alice", func(n int) bool { return n == 1 }},
		{"not recorded", "", func(n int) bool { return n >= 3 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int64
			accessSteps(t, func(context.Context, docs.DocumentID) (model.UserID, error) {
				n.Add(1)
				return c.recorded, nil
			})
			if !c.reads(int(n.Load())) {
				t.Fatalf("owner read %d times", n.Load())
			}
		})
	}
}

// accessSteps runs bob's session through alice's playlist going public,
// private and shared with him, with owner as Session.Owner (nil: the
// document's owner field).
func accessSteps(t *testing.T, owner func(context.Context, docs.DocumentID) (model.UserID, error)) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := openRepo(ctx, t)
	h, err := r.CreatePlaylist(ctx, "alice", "mix")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(p *docs.Playlist) error) {
		t.Helper()
		if err := h.Playlist(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	edit(func(p *docs.Playlist) error { return p.SetPublic(true) })

	local, far := pipe()
	s := &peer.Session{Repo: peer.NewRepoAdapter(r), Authz: peer.DocumentAccess, User: "bob", LocalID: "relay",
		RemoteID: "bob-dev", RemoteStorage: "bob-store", Conn: local, Log: slog.New(slog.DiscardHandler), Owner: owner}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	doc := automerge.New()
	ss := automerge.NewSyncState(doc)
	// ask sends bob's next sync message (or an empty one) and returns the
	// type of the answer. A doc-unavailable received while a sync is
	// wanted is skipped: when bob loses read access the session also sends
	// one on its own (the downgrade), which may still be queued behind the
	// previous step's answer. A sync while doc-unavailable is wanted is
	// never skipped.
	ask := func(want string) string {
		t.Helper()
		data := automerge.NewSyncState(automerge.New())
		m, ok := ss.GenerateMessage()
		if !ok {
			m, _ = data.GenerateMessage()
		}
		if err := far.Send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: "bob-dev", TargetID: "relay", DocumentID: h.ID().String(), Data: m.Bytes()}); err != nil {
			t.Fatal(err)
		}
		got, err := far.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for want == wire.TypeSync && got.Type == wire.TypeDocUnavailable {
			if got, err = far.Recv(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got.Type == wire.TypeSync {
			if _, err := ss.ReceiveMessage(got.Data); err != nil {
				t.Fatal(err)
			}
		}
		return got.Type
	}
	steps := []struct {
		name   string
		change func(p *docs.Playlist) error
		want   string
	}{
		{"public", nil, wire.TypeSync},
		{"made private", func(p *docs.Playlist) error { return p.SetPublic(false) }, wire.TypeDocUnavailable},
		{"bob collaborates", func(p *docs.Playlist) error { return p.SetCollaborators("bob") }, wire.TypeSync},
	}
	for _, st := range steps {
		if st.change != nil {
			edit(st.change)
		}
		if got := ask(st.want); got != st.want {
			t.Fatalf("%s: answer %s, want %s", st.name, got, st.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
