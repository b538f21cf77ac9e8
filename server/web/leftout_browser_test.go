package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
)

// TestBrowserDownloadLeftOut: a playlist download holding a track the
// relay cannot license (an id no catalog has) downloads the rest, and
// the Downloads row says which track was left out and why, as `segue
// offline` does (the relay's per_track answer, reason not_found).
func TestBrowserDownloadLeftOut(t *testing.T) {
	r, _ := offlineRelay(t)
	ctx := browsertest.New(t)
	step := offlineStep(t, ctx)
	signUpLowTier(step, r, "leftout")

	step("playlist name", chromedp.SendKeys("#pl-name", "Gaps"))
	step("create playlist", chromedp.Click("#pl-new button[type=submit]"))
	step("playlist open", chromedp.WaitVisible("#pl-open"))
	const bogus = "trnosuchtrack0001"
	// The page's automerge replica names the playlist's tracks; this
	// one names an unknown track before a real one.
	run[bool](t, ctx, fmt.Sprintf(`Promise.resolve((window.segueSession.setPlaylistResolver(async () => [%q, %q]), true))`, bogus, r.Tracks[0]))
	step("download", chromedp.Click("#pl-dl"))
	step("downloaded", chromedp.WaitVisible(`#dl-list li[data-kind="playlist"][data-done="true"]`))
	sel := fmt.Sprintf(`#dl-list li[data-kind="playlist"] .dl-left li[data-track=%q][data-reason="not_found"]`, bogus)
	step("left-out track listed", chromedp.WaitVisible(sel))
	row := run[string](t, ctx, `Promise.resolve(document.querySelector('#dl-list li[data-kind="playlist"]').textContent)`)
	for _, want := range []string{"1/1 tracks, 1 left out", "Track " + bogus + " left out: not in the catalog"} {
		if !strings.Contains(row, want) {
			t.Fatalf("the Downloads row reads %q, want it to contain %q", row, want)
		}
	}
}
