package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/chromedp/chromedp"

	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/sync/docs"
)

// TestBrowserForeignPlaylistNameShown: a playlist name written elsewhere
// (a foreign client, a collaborator; neither the relay nor the page's
// writer rules filter it) with a right-to-left override, an escape and
// 1,000 more bytes is shown by the page as native's segue playlist shows
// it: those characters escaped (\u202e, \u001b), and cut to 256
// characters with an ellipsis; so is a collaborator's name (a key of the
// document's collaborators, which its owner writes). Before, the page
// showed both raw: the override reversed the entry count drawn after
// the name, and the whole name went into the list's button and label.
func TestBrowserForeignPlaylistNameShown(t *testing.T) {
	r := webRelay(t, &reference{})
	page := browsertest.New(t)
	step := pageSteps(t, page, 30*time.Second, accountMsgs)
	step("sign up in the page", signInActions(r.URL, "viewer", true, "#playlists")...)
	step("create a playlist",
		chromedp.WaitVisible("#pl-name"),
		chromedp.SendKeys("#pl-name", "Plain"),
		chromedp.Click("#pl-new button[type=submit]"),
		chromedp.WaitVisible("#pl-open"))
	id, err := docs.ParseURL("automerge:" + run[string](t, page, `Promise.resolve(document.getElementById("pl-open").dataset.id)`))
	if err != nil {
		t.Fatal(err)
	}
	name := "\u202eevil\x1b[2J" + strings.Repeat("x", 1000)
	rh, err := r.Server().Docs().Get(t.Context(), id)
	for deadline := time.Now().Add(20 * time.Second); err != nil || len(rh.Heads()) == 0; rh, err = r.Server().Docs().Get(t.Context(), id) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay does not hold the page's playlist: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := rh.Change(t.Context(), func(d *automerge.Doc) error {
		c, err := d.RootMap().Get("collaborators")
		if err != nil {
			return err
		}
		if err := c.Map().Set("\u202etsoh", true); err != nil {
			return err
		}
		return d.RootMap().Set("name", name)
	}); err != nil {
		t.Fatal(err)
	}
	want := `\u202eevil\u001b[2J` + strings.Repeat("x", 256-len(`\u202eevil\u001b[2J`)) + "…"
	step("the name shown", chromedp.Poll[chromedp.Void](`document.getElementById("pl-title").textContent.length > 5 && document.getElementById("pl-title").textContent !== "Plain"`))
	step("the collaborator shown", chromedp.Poll[chromedp.Void](`document.getElementById("pl-collab").textContent !== ""`))
	type shown struct {
		Title, Button, Label, Collab string
	}
	got := run[shown](t, page, `Promise.resolve({Title: document.getElementById("pl-title").textContent,
		Button: document.querySelector("#pl-list button").textContent, Label: document.querySelector("#pl-list button").getAttribute("aria-label"),
		Collab: document.getElementById("pl-collab").textContent})`)
	if got.Title != want || got.Button != want+" (0)" || got.Label != "Open playlist "+want {
		t.Errorf("page shows title %+.80q, button %+.80q, label %+.80q; want %+.80q (and the count, the label)", got.Title, got.Button, got.Label, want)
	}
	if wantCollab := `Shared with \u202etsoh`; got.Collab != wantCollab {
		t.Errorf("page shows %+q, want %+q", got.Collab, wantCollab)
	}
}
