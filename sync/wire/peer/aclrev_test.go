package peer_test

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// sharedFixture is a relay repository holding alice's playlist shared
// with bob and carol (one entry, t1), and a device repository per user in
// devs, each syncing it through a relay session that counts its access
// evaluations; carol's device reports the playlist unavailable on
// unavailable. The sessions stop, and their errors are reported, when the
// test ends.
type sharedFixture struct {
	relay       *repo.Repo
	h           *repo.Handle
	id          docs.DocumentID
	devs        map[model.UserID]*repo.Repo
	evaluations atomic.Int64
	unavailable chan docs.DocumentID
}

func newSharedFixture(t *testing.T, users ...model.UserID) *sharedFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	quiet := slog.New(slog.DiscardHandler)
	open := func() *repo.Repo {
		r, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	f := &sharedFixture{relay: open(), devs: map[model.UserID]*repo.Repo{}, unavailable: make(chan docs.DocumentID, 4)}
	h, err := f.relay.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	f.h, f.id = h, h.ID()
	if err := h.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.SetCollaborators("bob", "carol"); err != nil {
			return err
		}
		_, err := p.Add(docs.AtEnd(), "alice", "t1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	authz := func(user, owner model.UserID, doc *automerge.Doc) (peer.Access, error) {
		f.evaluations.Add(1)
		return peer.DocumentAccess(user, owner, doc)
	}
	owner := func(context.Context, docs.DocumentID) (model.UserID, error) { return "alice", nil }
	ad := peer.NewRepoAdapter(f.relay)
	fan := peer.NewFanout(ad)
	done := make(chan error, 2*len(users))
	for _, user := range users {
		dev := open()
		f.devs[user] = dev
		relayEnd, devEnd := pipe()
		rs := &peer.Session{Repo: ad, Authz: authz, Owner: owner, User: user, LocalID: "relay",
			RemoteID: string(user) + "-dev", RemoteStorage: string(user) + "-store", Conn: relayEnd, Fanout: fan, Log: quiet}
		ds := &peer.Session{Repo: peer.NewRepoAdapter(dev), Authz: peer.AllowAll, LocalID: string(user) + "-dev",
			RemoteID: "relay", RemoteStorage: "relay-store", Conn: devEnd, FollowAll: true, Log: quiet}
		if user == "carol" {
			ds.OnUnavailable = func(id docs.DocumentID) { f.unavailable <- id }
		}
		go func() { done <- rs.Run(ctx) }()
		go func() { done <- ds.Run(ctx) }()
		ds.Want(f.id)
	}
	t.Cleanup(func() {
		cancel()
		for range 2 * len(users) {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
	return f
}

// tracks returns the tracks of the playlist in r, in order (nil while r
// does not hold it).
func (f *sharedFixture) tracks(r *repo.Repo) []model.TrackID {
	dh, err := r.Get(context.Background(), f.id)
	if err != nil || dh.Empty() {
		return nil
	}
	var out []model.TrackID
	_ = dh.ReadPlaylist(func(p *docs.Playlist) error {
		es, err := p.Entries()
		for _, e := range es {
			out = append(out, e.Track)
		}
		return err
	})
	return out
}

// dropCarol has the owner drop carol from the collaborators through h
// (the relay's handle or the owner's device's) and waits until carol's
// device is told the playlist is unavailable; the change must have been
// evaluated (more access evaluations than before).
func (f *sharedFixture) dropCarol(t *testing.T, h *repo.Handle, before int64) {
	t.Helper()
	if err := h.Playlist(t.Context(), func(p *docs.Playlist) error { return p.SetCollaborators("bob") }); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-f.unavailable:
		if got != f.id {
			t.Fatalf("unavailable %s, want %s", got, f.id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("carol was not told the playlist is unavailable after the owner dropped her")
	}
	if f.evaluations.Load() == before {
		t.Fatal("the owner's change to the collaborators was not evaluated")
	}
}

// TestCollaboratorEditKeepsAccess: on the relay, a collaborator's edit
// (checked to leave the ACL fields alone) reaches the other
// collaborator's device without any session evaluating access again;
// the owner dropping that collaborator is evaluated at once and her
// device is told the document is unavailable.
func TestCollaboratorEditKeepsAccess(t *testing.T) {
	ctx := t.Context()
	f := newSharedFixture(t, "bob", "carol")
	bobDev, carolDev, h, id, tracks := f.devs["bob"], f.devs["carol"], f.h, f.id, f.tracks
	evaluations := &f.evaluations
	waitFor(t, "both devices hold the playlist", func() bool {
		return slices.Equal(tracks(bobDev), []model.TrackID{"t1"}) && slices.Equal(tracks(carolDev), []model.TrackID{"t1"})
	})
	before := evaluations.Load()
	bh, err := bobDev.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, track := range []model.TrackID{"b1", "b2", "b3"} {
		if err := bh.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", track); return err }); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "bob's edit reaches carol", func() bool { return slices.Contains(tracks(carolDev), track) })
	}
	if n := evaluations.Load() - before; n != 0 {
		t.Fatalf("%d access evaluations for a collaborator's three edits, want 0", n)
	}
	f.dropCarol(t, h, before)
}

// TestOwnerEditsKeepAccessUntilRevoked: on the relay, the owner's entry
// edits — from her device and made on the relay itself — are neutral
// changes (docs.Neutral): they reach both collaborators' devices without
// any session evaluating access again. The owner then drops carol from
// her device: that change is not neutral, carol's session evaluates
// access at once and her device is told the document is unavailable,
// and an edit carol makes afterwards never reaches the relay's copy.
func TestOwnerEditsKeepAccessUntilRevoked(t *testing.T) {
	ctx := t.Context()
	f := newSharedFixture(t, "alice", "bob", "carol")
	relay, aliceDev, bobDev, carolDev := f.relay, f.devs["alice"], f.devs["bob"], f.devs["carol"]
	h, id, tracks, evaluations := f.h, f.id, f.tracks, &f.evaluations
	holds := func(track model.TrackID, rs ...*repo.Repo) func() bool {
		return func() bool {
			for _, r := range rs {
				if !slices.Contains(tracks(r), track) {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "every device holds the playlist", holds("t1", aliceDev, bobDev, carolDev))
	ah, err := aliceDev.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	before := evaluations.Load()
	for _, track := range []model.TrackID{"a1", "a2", "a3"} {
		if err := ah.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", track); return err }); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "alice's edit reaches bob and carol", holds(track, bobDev, carolDev))
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "r1"); return err }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay's own edit reaches every device", holds("r1", aliceDev, bobDev, carolDev))
	if n := evaluations.Load() - before; n != 0 {
		t.Fatalf("%d access evaluations for the owner's four entry edits, want 0", n)
	}
	f.dropCarol(t, ah, before)
	ch, err := carolDev.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "carol", "c1"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := ah.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "a4"); return err }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's next edit reaches bob", holds("a4", bobDev))
	for _, r := range []*repo.Repo{relay, bobDev} {
		if slices.Contains(tracks(r), "c1") {
			t.Fatal("carol's edit after she was dropped reached the playlist")
		}
	}
}
