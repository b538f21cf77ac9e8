package web_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/demoalbum"
)

// TestBrowserOfflinePlaylist is the offline story for a playlist, not an
// album: the listener creates a playlist in the page, adds "Crossing" and
// "Harbour Lights" from search results (Add), presses the playlist's
// "Download for offline" and waits for the Downloads row to complete.
// Then the tab goes offline (DevTools emulation) and the relay stops; the
// page reloads from the service worker, signed in, lists the playlist's
// download, and plays it from what this browser kept (the playlist's
// track ids in localStorage, the blobs and licence in IndexedDB): the
// last 1.5 s of Crossing into Harbour Lights in the playlist's context
// (each track's own gain), every frame equal to the native player's for
// the same tracks and start, and no underrun; the Downloads Play button
// plays the playlist. IndexedDB holds no Ogg page, no content key and no
// token in clear.
func TestBrowserOfflinePlaylist(t *testing.T) {
	r, data := offlineRelay(t)
	ctx := browsertest.New(t)
	step := offlineStep(t, ctx)
	signUpLowTier(step, r, "roadtrip")

	step("playlist name", chromedp.SendKeys("#pl-name", "Road trip"))
	step("create playlist", chromedp.Click("#pl-new button[type=submit]"))
	step("playlist open", chromedp.WaitVisible("#pl-open"))
	for i, q := range []string{"crossing", "harbour lights"} {
		step("clear "+q, clearInput("q"))
		step("search "+q, chromedp.SendKeys("#q", q))
		step("submit "+q, chromedp.Click("#find button[type=submit]"))
		sel := fmt.Sprintf(`#results[data-query=%q] li[data-kind="track"][data-id=%q] button[aria-label^="Add"]`, q, r.Tracks[i+1])
		step("result "+q, chromedp.WaitVisible(sel))
		step("add "+q, chromedp.Click(sel))
		step("added "+q, chromedp.WaitVisible(fmt.Sprintf(`#pl-entries li:nth-child(%d)[data-track=%q]`, i+1, r.Tracks[i+1])))
	}
	id := run[string](t, ctx, `Promise.resolve(document.getElementById("pl-open").dataset.id)`)
	ids := []model.TrackID{r.Tracks[1], r.Tracks[2]}

	t0 := time.Now()
	step("download", chromedp.Click("#pl-dl"))
	done := `#dl-list li[data-kind="playlist"][data-done="true"]`
	step("downloaded", chromedp.WaitVisible(done))
	t.Logf("playlist downloaded in %v (page: %s)", time.Since(t0).Round(time.Millisecond),
		run[string](t, ctx, `Promise.resolve(document.getElementById("dl-progress").textContent + " " + document.getElementById("dl-licence").textContent)`))
	if n := run[int](t, ctx, `Promise.resolve(document.querySelectorAll("#dl-list li[data-kind]").length)`); n != 1 {
		t.Fatalf("the Downloads section lists %d items, want the playlist alone", n)
	}
	waitPageCached(t, ctx)

	rate := run[int](t, ctx, `Promise.resolve(window.segueSession.audioContext.sampleRate)`)
	trackLen := int64(682706) * int64(rate) / demoalbum.Rate // Crossing
	start := trackLen - int64(rate)*3/2
	want := nativePlay(t, r, rate, model.TierLow, "nativepl", func(e *core.Engine) error {
		return e.PlayTracksFrom(t.Context(), model.PlayContext{Kind: "playlist", ID: id}, ids, 0, start)
	})
	needles := contentKeys(t, data, ids) // read before the relay stops

	reloadOffline(t, step, r, done)

	// What the page kept to play the playlist with no network: its
	// track ids, in order.
	kept := run[[]model.TrackID](t, ctx, fmt.Sprintf(`Promise.resolve(JSON.parse(localStorage.getItem("segue-downloads"))[%q].tracks)`, "playlist/"+id))
	if !slices.Equal(kept, ids) {
		t.Fatalf("the page kept the playlist's tracks as %v, want %v", kept, ids)
	}
	playOffline(t, ctx, fmt.Sprintf(`s.playTracks(%s, 0, "playlist", %q, %d)`, mustJSON(t, kept), id, start), 1,
		`#dl-list li[data-kind="playlist"] button`, rate, want)
	assertNothingInClear(t, ctx, needles)
}
