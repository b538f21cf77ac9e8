package search

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

// followFresh indexes the playlists of a repo over st (with the relay's
// facts record, or without it, as an older relay) into a fresh index,
// as a relay start does, and returns the service.
func followFresh(t *testing.T, st store.Store, facts bool) (*Service, *repo.Repo) {
	t.Helper()
	ctx := context.Background()
	opts := repo.DefaultOptions().WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if facts {
		opts = opts.WithFacts(docs.EncodeFacts)
	}
	rp, err := repo.Open(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.Close() })
	if !facts {
		return nil, rp
	}
	ix, err := OpenIndex(ctx, store.NewMemory(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Index: ix, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := s.FollowPlaylists(ctx, st, rp); err != nil {
		t.Fatal(err)
	}
	return s, rp
}

// createOwned creates a playlist owned by user through rp and records
// its owner as the relay does.
func createOwned(t *testing.T, st store.Store, rp *repo.Repo, user model.UserID, name string) docs.DocumentID {
	t.Helper()
	ctx := context.Background()
	h, err := rp.CreatePlaylist(ctx, user, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Txn) error { return relaysync.RecordCreation(tx, user, h.ID(), 100) }); err != nil {
		t.Fatal(err)
	}
	return h.ID()
}

// playlistIndex returns the indexed playlist entries of ids.
func playlistIndex(s *Service, ids []docs.DocumentID) map[docs.DocumentID]Entry {
	out := map[docs.DocumentID]Entry{}
	for _, id := range ids {
		if e, ok := s.Index.Lookup(KindPlaylist, id.String()); ok {
			out[id] = e
		}
	}
	return out
}

// TestPlaylistIndexAfterRestart: the playlists of a data directory
// written by an older relay (no facts record) are indexed at start
// without keeping any document loaded; renames and sharing changes made
// afterwards reach the index, and a restart indexes the same entries
// from the facts records alone.
func TestPlaylistIndexAfterRestart(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	_, old := followFresh(t, st, false)
	ids := []docs.DocumentID{
		createOwned(t, st, old, "ada", "Harbour Mixtape"),
		createOwned(t, st, old, "ada", "Sunday Ferry"),
		createOwned(t, st, old, "bob", "Night Walk"),
	}
	lib, err := old.Library(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, rp := followFresh(t, st, true)
	got := playlistIndex(s, append(ids, lib.ID()))
	want := map[docs.DocumentID]Entry{
		ids[0]: {Kind: KindPlaylist, ID: ids[0].String(), Title: "Harbour Mixtape", Owner: "ada"},
		ids[1]: {Kind: KindPlaylist, ID: ids[1].String(), Title: "Sunday Ferry", Owner: "ada"},
		ids[2]: {Kind: KindPlaylist, ID: ids[2].String(), Title: "Night Walk", Owner: "bob"},
	}
	compareEntries(t, "old data directory", got, want)
	if n, _ := rp.Loaded(); n != 0 {
		t.Fatalf("indexing at start left %d documents loaded", n)
	}

	// Rename one, share another; the watcher follows.
	change := func(id docs.DocumentID, fn func(p *docs.Playlist) error) {
		h, err := rp.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Playlist(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	change(ids[0], func(p *docs.Playlist) error { return p.Rename("Harbour Mixtape II") })
	change(ids[1], func(p *docs.Playlist) error { return p.SetPublic(true) })
	change(ids[2], func(p *docs.Playlist) error {
		if err := p.Rename("Night Walk (shared)"); err != nil {
			return err
		}
		return p.SetPublic(true)
	})
	want[ids[0]] = Entry{Kind: KindPlaylist, ID: ids[0].String(), Title: "Harbour Mixtape II", Owner: "ada"}
	want[ids[1]] = Entry{Kind: KindPlaylist, ID: ids[1].String(), Title: "Sunday Ferry", Owner: "ada", Public: true}
	want[ids[2]] = Entry{Kind: KindPlaylist, ID: ids[2].String(), Title: "Night Walk (shared)", Owner: "bob", Public: true}
	deadline := time.Now().Add(15 * time.Second)
	for !equalEntries(playlistIndex(s, ids), want) {
		if time.Now().After(deadline) {
			compareEntries(t, "after the changes", playlistIndex(s, ids), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rp.Close()

	s2, rp2 := followFresh(t, st, true)
	compareEntries(t, "after a restart", playlistIndex(s2, append(ids, lib.ID())), playlistIndex(s, append(ids, lib.ID())))
	if n, _ := rp2.Loaded(); n != 0 {
		t.Fatalf("indexing at restart loaded %d documents", n)
	}
}

func equalEntries(a, b map[docs.DocumentID]Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for id, e := range a {
		if w, ok := b[id]; !ok || !sameEntry(e, w) {
			return false
		}
	}
	return true
}

func sameEntry(a, b Entry) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.Title == b.Title && a.Owner == b.Owner && a.Public == b.Public
}

func compareEntries(t *testing.T, what string, got, want map[docs.DocumentID]Entry) {
	t.Helper()
	if !equalEntries(got, want) {
		t.Fatalf("%s: indexed %+v, want %+v", what, got, want)
	}
}

// TestPlaylistIndexStartBatches: a start over more playlists than one
// batch indexes every one of them.
func TestPlaylistIndexStartBatches(t *testing.T) {
	st := store.NewMemory()
	_, old := followFresh(t, st, false)
	n := 2*startBatch + 1
	ids := make([]docs.DocumentID, n)
	for i := range ids {
		ids[i] = createOwned(t, st, old, model.UserID(fmt.Sprintf("u%d", i%20)), fmt.Sprintf("Playlist %d", i))
	}
	old.Close()
	s, _ := followFresh(t, st, true)
	if got := playlistIndex(s, ids); len(got) != n {
		t.Fatalf("indexed %d of %d playlists", len(got), n)
	}
}
