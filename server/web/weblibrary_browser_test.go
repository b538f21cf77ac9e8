package web_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
)

// TestBrowserPageOnlyLibrary: a user who has only ever used the web page
// (signed up there, no native device) still has a library, the one the
// relay created at the page's registration: the page creates a playlist,
// lists it, and a native device of the user registered afterwards syncs
// and finds it in its library, named as in the page, with the library's
// history shared (the relay's and the device's genesis are one change,
// so the device's heads equal the relay's after sync).
func TestBrowserPageOnlyLibrary(t *testing.T) {
	r := webRelay(t, &reference{})
	ctx := t.Context()
	const user, name = "pageonly", "Made in the page"
	page := browsertest.New(t)
	step := pageSteps(t, page, 30*time.Second, accountMsgs)
	step("sign up in the page", signInActions(r.URL, user, true, "#playlists")...)
	step("create a playlist",
		chromedp.WaitVisible("#pl-name"),
		chromedp.SendKeys("#pl-name", name),
		chromedp.Click("#pl-new button[type=submit]"),
		chromedp.WaitVisible("#pl-open"))
	id := run[string](t, page, `Promise.resolve(document.getElementById("pl-open").dataset.id)`)
	plID, err := docs.ParseURL("automerge:" + id)
	if err != nil {
		t.Fatalf("page created playlist %q: %v", id, err)
	}
	step("the page lists it from its library", chromedp.WaitVisible(fmt.Sprintf(`#pl-list li[data-id=%q] button`, id)))
	if ids := run[[]string](t, page, `Promise.resolve(window.seguePlaylistStore.ids())`); !slices.Equal(ids, []string{id}) {
		t.Fatalf("page's library lists %v, want [%s]", ids, id)
	}

	// A native device registered afterwards finds the playlist in its
	// library.
	e := testbed.Device(t, r, user)
	d, err := e.OpenDocs(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		v, err := d.Library().Get(ctx)
		if err == nil && slices.Equal(v.Playlists, []docs.DocumentID{plID}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("native device's library: %+v (%v), want playlist %s", v, err, plID)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		v, err := d.Playlists().Get(ctx, plID)
		if err == nil && v.Info.Name == name && v.Info.Owner == user {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("native device: playlist %s: %+v (%v)", plID, v.Info, err)
		}
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	lib, err := docs.ParseDocumentID(run[string](t, page, `segueSession.get("/v1/me").then((m) => m.library)`))
	if err != nil {
		t.Fatal(err)
	}
	rh, err := r.Server().Docs().Get(ctx, lib)
	if err != nil {
		t.Fatal(err)
	}
	nh, err := d.Repo().Get(ctx, lib)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(rh.Heads(), nh.Heads()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("library heads: relay %v, native device %v", rh.Heads(), nh.Heads())
		}
	}
}
