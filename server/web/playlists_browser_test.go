package web_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/docs/fracindex"
)

// pageEntries is what the page's open playlist shows.
type pageEntries struct {
	Title  string   `json:"title"`
	Tracks []string `json:"tracks"`
	Labels []string `json:"labels"`
}

// TestBrowserPlaylistsWithNativeDevice edits a playlist in the page and on
// a native device (core engine with its Go automerge repo) of the same
// user, both syncing through the relay's /v1/sync: the page creates a
// playlist and adds a searched track through its controls, the native
// device sees both; the native device appends a track, the page shows it
// with its title; the page reorders with the keyboard-reachable Move
// buttons and removes an entry, the native device sees the order; an
// edit made in the page while the relay is down merges with a concurrent
// native edit once it is back; the page shares the playlist with another
// user, whose native device follows it and adds a track the page shows.
func TestBrowserPlaylistsWithNativeDevice(t *testing.T) {
	r := webRelay(t, &reference{})
	ctx := t.Context()
	const user = "pluser"
	e := testbed.Device(t, r, user)
	d, err := e.OpenDocs(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	// The library is created by Segue devices (its first change is the
	// same bytes everywhere); the page opens the one the relay holds.
	if err := d.Library().SaveAlbums(ctx, model.AlbumID(r.Album)); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}

	page := browsertest.New(t)
	step := pageSteps(t, page, 20*time.Second, accountMsgs)
	step("sign in as a second device of the user",
		append(signInActions(r.URL, user, false, "#playlists"), chromedp.WaitVisible("#pl-list li"))...)
	step("create a playlist",
		chromedp.SendKeys("#pl-name", "Road trip"),
		chromedp.Click("#pl-new button[type=submit]"),
		chromedp.WaitVisible("#pl-open"))
	id := run[string](t, page, `Promise.resolve(document.getElementById("pl-open").dataset.id)`)
	plID, err := docs.ParseURL("automerge:" + id)
	if err != nil {
		t.Fatalf("page created playlist %q: %v", id, err)
	}
	step("search and add a track",
		chromedp.SendKeys("#q", "harbour lights"),
		chromedp.Click("#find button[type=submit]"),
		chromedp.WaitVisible(`#results li button[aria-label^="Add"]`),
		chromedp.Click(`#results li button[aria-label^="Add"]`),
		chromedp.WaitVisible("#pl-entries li"))
	tracks := run[[]string](t, page, fmt.Sprintf(`segueSession.album(%q).then((a) => a.tracks.map((t) => t.id))`, r.Album))
	if len(tracks) < 4 {
		t.Fatalf("demo album has %d tracks", len(tracks))
	}
	harbour := model.TrackID(tracks[2])

	native := func(what string, ok func(core.PlaylistView) bool) core.PlaylistView {
		t.Helper()
		var v core.PlaylistView
		deadline := time.Now().Add(20 * time.Second)
		for {
			var err error
			v, err = d.Playlists().Get(ctx, plID)
			if err == nil && ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("native device: %s: %+v (%v)", what, v, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	order := func(v core.PlaylistView) []model.TrackID {
		var out []model.TrackID
		for _, e := range v.Entries {
			out = append(out, e.Track)
		}
		return out
	}
	v := native("the page's playlist", func(v core.PlaylistView) bool {
		return v.Info.Name == "Road trip" && slices.Equal(order(v), []model.TrackID{harbour})
	})
	if v.Info.Owner != user || v.Entries[0].AddedBy != user || len(v.Entries[0].ID) != 16 {
		t.Errorf("native device reads the page's playlist as %+v", v)
	}

	// Native → page: append the first and second tracks.
	if _, err := d.Playlists().Add(ctx, plID, docs.AtEnd(), model.TrackID(tracks[0]), model.TrackID(tracks[1])); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	shown := func(what string, want []string) pageEntries {
		t.Helper()
		var got pageEntries
		deadline := time.Now().Add(20 * time.Second)
		for {
			got = run[pageEntries](t, page, `Promise.resolve({
				title: document.getElementById("pl-title").textContent,
				tracks: [...document.querySelectorAll("#pl-entries li")].map((li) => li.dataset.track),
				labels: [...document.querySelectorAll("#pl-entries li > button:first-child")].map((b) => b.textContent)})`)
			if slices.Equal(got.Tracks, want) && !slices.Contains(got.Labels, "") {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("page: %s: shows %+v, want tracks %v", what, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := shown("the native device's entries", []string{tracks[2], tracks[0], tracks[1]})
	t.Logf("native → page: %v; page shows %+v", time.Since(t0), got)
	if !strings.Contains(strings.ToLower(got.Labels[0]), "harbour lights") {
		t.Errorf("page labels the first entry %q, want the track's title", got.Labels[0])
	}

	// Reorder in the page with the keyboard: focus "Move … up" of the last
	// entry and press Enter; then remove the first entry.
	t0 = time.Now()
	step("move the last entry up",
		chromedp.Focus(`#pl-entries li:nth-child(3) button[aria-label^="Move"][aria-label$="up"]`),
		chromedp.KeyEvent("\r"))
	shown("after moving up", []string{tracks[2], tracks[1], tracks[0]})
	native("the page's reorder", func(v core.PlaylistView) bool {
		return slices.Equal(order(v), []model.TrackID{harbour, model.TrackID(tracks[1]), model.TrackID(tracks[0])})
	})
	t.Logf("page → native (keypress to the native device's order): %v", time.Since(t0))
	step("remove the first entry", chromedp.Click(`#pl-entries li:nth-child(1) button[aria-label^="Remove"]`))
	shown("after removing", []string{tracks[1], tracks[0]})
	v = native("the page's removal", func(v core.PlaylistView) bool {
		return slices.Equal(order(v), []model.TrackID{model.TrackID(tracks[1]), model.TrackID(tracks[0])})
	})
	for _, e := range v.Entries {
		if err := fracindex.Validate(e.Pos); err != nil {
			t.Errorf("entry %s: the page wrote pos %q: %v", e.ID, e.Pos, err)
		}
	}

	// Offline: the relay goes away (the page's socket closes), the page
	// moves an entry and the native device appends one meanwhile; both
	// edits are kept locally (IndexedDB in the page) and merge when the
	// relay is back.
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	step("move while offline",
		chromedp.Focus(`#pl-entries li:nth-child(2) button[aria-label^="Move"][aria-label$="up"]`),
		chromedp.KeyEvent("\r"))
	shown("offline edit", []string{tracks[0], tracks[1]})
	if _, err := d.Playlists().Add(ctx, plID, docs.AtEnd(), model.TrackID(tracks[3])); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	want := []string{tracks[0], tracks[1], tracks[3]}
	native("the offline edits merged", func(v core.PlaylistView) bool {
		return slices.Equal(order(v), []model.TrackID{model.TrackID(want[0]), model.TrackID(want[1]), model.TrackID(want[2])})
	})
	shown("the offline edits merged", want)
	t.Logf("reconnect and merge: %v", time.Since(t0))

	// Share from the page with another user, whose native device follows
	// the link and appends a track the page then shows.
	step("share with a collaborator",
		chromedp.SendKeys("#pl-share-user", "collab"),
		chromedp.Click("#pl-share button[type=submit]"),
		chromedp.WaitVisible(`#pl-collab`))
	link := run[string](t, page, `Promise.resolve(document.getElementById("pl-link").textContent)`)
	if link != plID.URL() {
		t.Errorf("page shows the link %q, want %q", link, plID.URL())
	}
	ce := testbed.Device(t, r, "collab")
	cd, err := ce.OpenDocs(ctx, "collab")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cd.Close() })
	if err := cd.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cd.Playlists().Follow(ctx, plID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		v, err := cd.Playlists().Get(ctx, plID)
		if err == nil && len(v.Entries) == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("collaborator's device: %+v (%v)", v, err)
		}
	}
	if _, err := cd.Playlists().Add(ctx, plID, docs.AtStart(), model.TrackID(tracks[2])); err != nil {
		t.Fatal(err)
	}
	shown("the collaborator's entry", append([]string{tracks[2]}, want...))
}
