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

// TestCollaboratorEditKeepsAccess: on the relay, a collaborator's edit
// (checked to leave the ACL fields alone) reaches the other
// collaborator's device without any session evaluating access again;
// the owner dropping that collaborator is evaluated at once and her
// device is told the document is unavailable.
func TestCollaboratorEditKeepsAccess(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	open := func() *repo.Repo {
		r, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	relay, bobDev, carolDev := open(), open(), open()
	h, err := relay.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	if err := h.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.SetCollaborators("bob", "carol"); err != nil {
			return err
		}
		_, err := p.Add(docs.AtEnd(), "alice", "t1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var evaluations atomic.Int64
	authz := func(user, owner model.UserID, doc *automerge.Doc) (peer.Access, error) {
		evaluations.Add(1)
		return peer.DocumentAccess(user, owner, doc)
	}
	owner := func(context.Context, docs.DocumentID) (model.UserID, error) { return "alice", nil }
	ad := peer.NewRepoAdapter(relay)
	fan := peer.NewFanout(ad)
	unavailable := make(chan docs.DocumentID, 4)
	done := make(chan error, 4)
	for _, u := range []struct {
		user model.UserID
		dev  *repo.Repo
	}{{"bob", bobDev}, {"carol", carolDev}} {
		relayEnd, devEnd := pipe()
		rs := &peer.Session{Repo: ad, Authz: authz, Owner: owner, User: u.user, LocalID: "relay",
			RemoteID: string(u.user) + "-dev", RemoteStorage: string(u.user) + "-store", Conn: relayEnd, Fanout: fan, Log: quiet}
		ds := &peer.Session{Repo: peer.NewRepoAdapter(u.dev), Authz: peer.AllowAll, LocalID: string(u.user) + "-dev",
			RemoteID: "relay", RemoteStorage: "relay-store", Conn: devEnd, FollowAll: true, Log: quiet}
		if u.user == "carol" {
			ds.OnUnavailable = func(id docs.DocumentID) { unavailable <- id }
		}
		go func() { done <- rs.Run(ctx) }()
		go func() { done <- ds.Run(ctx) }()
		ds.Want(id)
	}
	defer func() {
		cancel()
		for range 4 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}()
	tracks := func(r *repo.Repo) []model.TrackID {
		dh, err := r.Get(ctx, id)
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
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.SetCollaborators("bob") }); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-unavailable:
		if got != id {
			t.Fatalf("unavailable %s, want %s", got, id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("carol was not told the playlist is unavailable after the owner dropped her")
	}
	if evaluations.Load() == before {
		t.Fatal("the owner's change to the collaborators was not evaluated")
	}
}

// TestOwnerEditsKeepAccessUntilRevoked: on the relay, the owner's entry
// edits — from her device and made on the relay itself — are neutral
// changes (docs.Neutral): they reach both collaborators' devices without
// any session evaluating access again. The owner then drops carol from
// her device: that change is not neutral, carol's session evaluates
// access at once and her device is told the document is unavailable,
// and an edit carol makes afterwards never reaches the relay's copy.
func TestOwnerEditsKeepAccessUntilRevoked(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	open := func() *repo.Repo {
		r, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	relay, aliceDev, bobDev, carolDev := open(), open(), open(), open()
	h, err := relay.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	if err := h.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.SetCollaborators("bob", "carol"); err != nil {
			return err
		}
		_, err := p.Add(docs.AtEnd(), "alice", "t1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var evaluations atomic.Int64
	authz := func(user, owner model.UserID, doc *automerge.Doc) (peer.Access, error) {
		evaluations.Add(1)
		return peer.DocumentAccess(user, owner, doc)
	}
	owner := func(context.Context, docs.DocumentID) (model.UserID, error) { return "alice", nil }
	ad := peer.NewRepoAdapter(relay)
	fan := peer.NewFanout(ad)
	unavailable := make(chan docs.DocumentID, 4)
	done := make(chan error, 6)
	for _, u := range []struct {
		user model.UserID
		dev  *repo.Repo
	}{{"alice", aliceDev}, {"bob", bobDev}, {"carol", carolDev}} {
		relayEnd, devEnd := pipe()
		rs := &peer.Session{Repo: ad, Authz: authz, Owner: owner, User: u.user, LocalID: "relay",
			RemoteID: string(u.user) + "-dev", RemoteStorage: string(u.user) + "-store", Conn: relayEnd, Fanout: fan, Log: quiet}
		ds := &peer.Session{Repo: peer.NewRepoAdapter(u.dev), Authz: peer.AllowAll, LocalID: string(u.user) + "-dev",
			RemoteID: "relay", RemoteStorage: "relay-store", Conn: devEnd, FollowAll: true, Log: quiet}
		if u.user == "carol" {
			ds.OnUnavailable = func(id docs.DocumentID) { unavailable <- id }
		}
		go func() { done <- rs.Run(ctx) }()
		go func() { done <- ds.Run(ctx) }()
		ds.Want(id)
	}
	defer func() {
		cancel()
		for range 6 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}()
	tracks := func(r *repo.Repo) []model.TrackID {
		dh, err := r.Get(ctx, id)
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
	if err := ah.Playlist(ctx, func(p *docs.Playlist) error { return p.SetCollaborators("bob") }); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-unavailable:
		if got != id {
			t.Fatalf("unavailable %s, want %s", got, id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("carol was not told the playlist is unavailable after the owner dropped her")
	}
	if evaluations.Load() == before {
		t.Fatal("the owner's change to the collaborators was not evaluated")
	}
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
