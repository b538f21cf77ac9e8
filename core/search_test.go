package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/search"
	"github.com/segue-fm/segue/sync/docs"
)

// searchRelay is a real relay with the demo album, licenses and search.
func searchRelay(t *testing.T) *tbed.Relay {
	t.Helper()
	return tbed.NewRelay(t, tbed.DefaultOptions().WithLicenses(true).WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		if _, err := search.MountForDataDir(t.Context(), dd, srv); err != nil {
			t.Fatal(err)
		}
	}))
}

// waitFor polls cond (the engine refreshes its local index in the
// background) for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func offlineTop(t *testing.T, e *core.Engine, q string) (core.SearchResults, *core.SearchHit) {
	t.Helper()
	res, err := e.Search(t.Context(), q, core.DefaultSearchOptions().WithOffline(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 {
		return res, nil
	}
	return res, &res.Hits[0]
}

// TestSearchOfflineAfterDownload downloads the demo album, checks that
// the local index picked it up on its own (download events), that online
// searches put the downloaded track first and mark it, then stops the
// relay: a search with a typo still finds the track, from the local
// index, saying it is offline. Removing the download (relay still down)
// takes the track out of the local index.
func TestSearchOfflineAfterDownload(t *testing.T) {
	r := searchRelay(t)
	ctx := t.Context()
	e := tbed.Device(t, r, testUser)
	dl, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ref := download.Ref{Kind: download.KindAlbum, ID: string(r.Album), Tier: model.TierLow}
	if err := dl.Add(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the downloaded album in the local index", func() bool {
		res, _ := offlineTop(t, e, "harbour lights")
		return len(res.Hits) > 0 && res.Hits[0].Title == "Harbour Lights"
	})

	// Online: the relay is asked, the local hit comes first, marked.
	res, err := e.Search(ctx, "Harbuor Lights", core.DefaultSearchOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.Offline || len(res.Hits) == 0 || res.Hits[0].Title != "Harbour Lights" || !res.Hits[0].Local || !res.Hits[0].Downloaded {
		t.Fatalf("online search = %+v", res)
	}
	for _, h := range res.Hits[1:] {
		if h.Kind == "track" && h.ID == res.Hits[0].ID {
			t.Fatalf("track %s listed twice: %+v", h.ID, res.Hits)
		}
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err = e.Search(ctx, "Harbuor Lights", core.DefaultSearchOptions())
	if err != nil {
		t.Fatalf("search with the relay down: %v", err)
	}
	if !res.Offline || !errors.Is(res.Unreachable, core.ErrOffline) {
		t.Fatalf("search with the relay down: Offline=%v Unreachable=%v, want the local index and ErrOffline", res.Offline, res.Unreachable)
	}
	if len(res.Hits) == 0 {
		t.Fatal("search with the relay down found nothing")
	}
	top := res.Hits[0]
	if top.Kind != "track" || top.Title != "Harbour Lights" || !top.Downloaded || len(top.Highlights) == 0 || len(top.Artists) == 0 || top.Album == "" {
		t.Fatalf("top hit with the relay down = %+v", top)
	}
	// A prefix while typing and a query without any near word.
	if _, h := offlineTop(t, e, "harb"); h == nil || h.Title != "Harbour Lights" {
		t.Fatalf("prefix \"harb\" offline → %+v", h)
	}
	if res, _ := offlineTop(t, e, "zzyzx qwv"); len(res.Hits) != 0 {
		t.Fatalf("nonsense query offline → %+v", res.Hits)
	}
	// Kinds are validated; an invalid query is refused.
	if _, err := e.Search(ctx, "x", core.DefaultSearchOptions().WithKinds("song")); !errors.Is(err, core.ErrBadQuery) {
		t.Fatalf("kind song: %v, want ErrBadQuery", err)
	}
	if _, err := e.Search(ctx, "x", core.DefaultSearchOptions().WithLimit(0)); !errors.Is(err, core.ErrBadQuery) {
		t.Fatalf("limit 0: %v, want ErrBadQuery", err)
	}
	if _, err := e.Search(ctx, "\xff", core.DefaultSearchOptions()); !errors.Is(err, core.ErrBadQuery) {
		t.Fatalf("invalid UTF-8: %v, want ErrBadQuery", err)
	}

	if err := dl.Remove(ctx, ref); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removed download to leave the local index", func() bool {
		_, h := offlineTop(t, e, "harbour lights")
		return h == nil || h.Title != "Harbour Lights"
	})
}

// TestSearchIndexFollowsDocs indexes the library and playlists: a saved
// album and its artist, a playlist by its name and its tracks; renaming
// the playlist renames its entry; deleting it from the library and the
// playlist removes them. Everything found offline.
func TestSearchIndexFollowsDocs(t *testing.T) {
	r := searchRelay(t)
	ctx := t.Context()
	e := tbed.Device(t, r, testUser)
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := e.FollowSearchIndex(ctx, d)
	if err != nil || st.Entries != 0 {
		t.Fatalf("FollowSearchIndex on an empty library = %+v, %v", st, err)
	}
	pl, err := d.Playlists().Create(ctx, "Late Night Ferries")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Add(ctx, pl, docs.AtEnd(), r.Tracks[1]); err != nil {
		t.Fatal(err)
	}
	if err := d.Library().SaveAlbums(ctx, r.Album); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the playlist in the local index", func() bool {
		_, h := offlineTop(t, e, "late nihgt ferries")
		return h != nil && h.Kind == "playlist" && h.ID == pl.String()
	})
	tr, err := e.TrackInfo(ctx, r.Tracks[1])
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the playlist's track and the saved album", func() bool {
		_, h := offlineTop(t, e, tr.Title)
		res, _ := e.Search(ctx, "segue demo", core.DefaultSearchOptions().WithOffline(true).WithKinds("album"))
		return h != nil && h.Kind == "track" && h.ID == string(r.Tracks[1]) && !h.Downloaded && len(res.Hits) > 0
	})
	if err := d.Playlists().Rename(ctx, pl, "Early Morning Trains"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renamed playlist", func() bool {
		_, h := offlineTop(t, e, "early morning")
		res, _ := offlineTop(t, e, "ferries")
		return h != nil && h.ID == pl.String() && len(res.Hits) == 0
	})
	if err := d.Library().UnsaveAlbums(ctx, r.Album); err != nil {
		t.Fatal(err)
	}
	st, err = e.RefreshSearchIndex(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := e.Search(ctx, "segue demo", core.DefaultSearchOptions().WithOffline(true).WithKinds("album")); len(res.Hits) != 0 {
		t.Fatalf("unsaved album still found: %+v (%+v)", res.Hits, st)
	}
}
