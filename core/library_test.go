package core_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

// registered opens an engine against origin registered as a device of
// user, and its documents.
func registered(t *testing.T, origin string, user model.UserID) (*core.Engine, *core.Docs) {
	t.Helper()
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(origin))
	tbed.Register(t, e, user, "device")
	d, err := e.OpenDocs(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return e, d
}

func storedLibraryID(t *testing.T, e *core.Engine) docs.DocumentID {
	t.Helper()
	v, err := e.Store().Get(context.Background(), []byte("cfg/library-id"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := docs.ParseDocumentID(string(v))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func savedTracks(t *testing.T, d *core.Docs) []model.TrackID {
	t.Helper()
	lib, err := d.Library().Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []model.TrackID
	for _, s := range lib.Tracks {
		out = append(out, model.TrackID(s.ID))
	}
	return out
}

// TestLibraryAtAssignedID: registration hands every device of an
// account the same relay-assigned library id, not the one derived from
// the username; the library syncs between the devices under it.
func TestLibraryAtAssignedID(t *testing.T) {
	ctx := t.Context()
	origin := syncRelay(t)
	e1, d1 := registered(t, origin, "alice")
	e2, d2 := registered(t, origin, "alice")
	id := storedLibraryID(t, e1)
	if id == docs.LibraryID("alice") {
		t.Fatal("the relay assigned the id derived from the username")
	}
	if id2 := storedLibraryID(t, e2); id2 != id {
		t.Fatalf("second device got library %s, first %s", id2, id)
	}
	if err := d1.Library().SaveTracks(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*core.Docs{d1, d2} {
		if err := d.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the second device gets the library", func() bool { return slices.Contains(savedTracks(t, d2), "t1") })
	if h, err := d2.Repo().Get(ctx, id); err != nil || h.Empty() {
		t.Fatalf("second device holds no library at %s (%v)", id, err)
	}
}

// TestLibraryMovedFromDerivedID: a device registered before the relay
// assigned library ids kept its library under the id derived from the
// username. At StartSync it fetches its id (GET /v1/me), imports the old
// library into it and deletes the old document; nothing is refused and
// another device of the account receives what was saved.
func TestLibraryMovedFromDerivedID(t *testing.T) {
	ctx := t.Context()
	origin := syncRelay(t)
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(origin))
	tbed.Register(t, e, "alice", "old device")
	if err := e.Store().Delete(ctx, []byte("cfg/library-id")); err != nil {
		t.Fatal(err)
	}
	d, err := e.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Library().SaveTracks(ctx, "old-1"); err != nil {
		t.Fatal(err)
	}
	derived := docs.LibraryID("alice")
	if h, err := d.Repo().Get(ctx, derived); err != nil || h.Empty() {
		t.Fatalf("the legacy device keeps no library at the derived id (%v)", err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	id := storedLibraryID(t, e)
	if id == derived {
		t.Fatal("library id still the derived one")
	}
	if _, err := d.Repo().Get(ctx, derived); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("derived library still stored (%v)", err)
	}
	if got := savedTracks(t, d); !slices.Equal(got, []model.TrackID{"old-1"}) {
		t.Fatalf("library after the move: %v", got)
	}
	_, other := registered(t, origin, "alice")
	if err := other.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "another device gets the moved library", func() bool { return slices.Contains(savedTracks(t, other), "old-1") })
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Relay.Refused) != 0 {
		t.Fatalf("refused after the move: %+v", st.Relay.Refused)
	}
}

// TestEditsRefuseBadIDs: playlist adds, saves and follows refuse an id
// no catalog id can be (too long, with '/' or NUL, empty) with ErrBadID
// and change nothing, not even for the valid ids given with it; before,
// a 100 KB id with slashes was stored and synced.
func TestEditsRefuseBadIDs(t *testing.T) {
	ctx := context.Background()
	_, d := registered(t, syncRelay(t), "alice")
	list, err := d.Playlists().Create(ctx, "ids")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", model.MaxIDLen+1)
	edits := map[string]func(id string) error{
		"Playlists.Add": func(id string) error {
			_, err := d.Playlists().Add(ctx, list, docs.AtEnd(), "ok", model.TrackID(id))
			return err
		},
		"Library.SaveTracks":    func(id string) error { return d.Library().SaveTracks(ctx, "ok", model.TrackID(id)) },
		"Library.SaveAlbums":    func(id string) error { return d.Library().SaveAlbums(ctx, "ok", model.AlbumID(id)) },
		"Library.FollowArtists": func(id string) error { return d.Library().FollowArtists(ctx, "ok", model.ArtistID(id)) },
	}
	for name, edit := range edits {
		for _, id := range []string{"", long, "a/b", "a\x00b"} {
			if err := edit(id); !errors.Is(err, core.ErrBadID) {
				t.Errorf("%s(%.20q): %v, want ErrBadID", name, id, err)
			}
		}
	}
	v, err := d.Playlists().Get(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := d.Library().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Entries) != 0 || len(lib.Tracks)+len(lib.Albums)+len(lib.Artists) != 0 {
		t.Fatalf("refused edits stored something: %d entries, library %+v", len(v.Entries), lib)
	}
	for name, edit := range edits {
		if err := edit(strings.Repeat("y", model.MaxIDLen)); err != nil {
			t.Errorf("%s of a %d-byte id: %v", name, model.MaxIDLen, err)
		}
	}
}

// TestDamagedLibraryIDRefetched: a cfg/library-id record that does not
// parse is treated as a missing one: StartSync asks the relay for the id
// again and stores it, and the library is back at the assigned id with
// what was saved under it. Before, every StartSync (segue sync now)
// failed with "stored library id".
func TestDamagedLibraryIDRefetched(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
	}{
		{"nul", "\x00"},
		{"not base58", "0OIl"},
		{"empty", ""},
		{"truncated", "__truncate__"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			origin := syncRelay(t)
			e, d := registered(t, origin, "alice")
			id := storedLibraryID(t, e)
			if err := d.Library().SaveTracks(ctx, "t1"); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			value := tc.value
			if value == "__truncate__" {
				value = id.String()[:len(id.String())-1]
			}
			if err := e.Store().Set(ctx, []byte("cfg/library-id"), []byte(value)); err != nil {
				t.Fatal(err)
			}
			d, err := e.OpenDocs(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			if err := d.StartSync(ctx); err != nil {
				t.Fatalf("start sync with the library id damaged: %v", err)
			}
			if got := storedLibraryID(t, e); got != id {
				t.Fatalf("library id after the sync: %s, want %s", got, id)
			}
			if got := savedTracks(t, d); !slices.Equal(got, []model.TrackID{"t1"}) {
				t.Fatalf("library after the sync: %v", got)
			}
		})
	}
}
