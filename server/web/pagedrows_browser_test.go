package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/web"
)

// TestBrowserPlaylistPagedRows: an open playlist draws its entries a page
// at a time (500 rows; ?test-rows=50 here) with a "Show more" button
// after them, which draws the next page, until every entry is drawn and
// the button is gone. Before, every entry was drawn at once and redrawn
// at each change: a 500-entry playlist's edit took 353 ms of redraw, and
// past ~125,000 rows the single replaceChildren(...rows) call threw.
func TestBrowserPlaylistPagedRows(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
		web.Mount(srv.Echo())
	}))
	page := browsertest.New(t)
	step := pageSteps(t, page, 30*time.Second, accountMsgs)
	step("sign up", append(signInActions(r.URL, "pagedrows", true, "#playlists"), chromedp.WaitVisible("#pl-list li"))...)
	const n = 120
	id := run[string](t, page, fmt.Sprintf(`(async () => {
		const id = seguePlaylistStore.create("Long");
		for (let i = 0; i < %d; i++) await seguePlaylistStore.add(id, "entry-" + i);
		await seguePlaylistStore.flush();
		return id;
	})()`, n))
	step("reload with pages of 50 rows", chromedp.Navigate(r.URL+"/?test-rows=50"),
		chromedp.WaitVisible(fmt.Sprintf(`#pl-list li[data-id=%q] button`, id)),
		chromedp.Click(fmt.Sprintf(`#pl-list li[data-id=%q] button`, id)))
	// drawn waits until the list shows rows entry rows (the last one
	// labelled entry-<rows-1>) and says what its last row's button reads.
	drawn := func(rows int) string {
		t.Helper()
		var got []string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got = run[[]string](t, page, `Promise.resolve([...document.querySelectorAll("#pl-entries li:not(.more) > button:first-child")].map((b) => b.textContent))`)
			if len(got) == rows && got[rows-1] == fmt.Sprintf("entry-%d", rows-1) {
				return run[string](t, page, `Promise.resolve(document.querySelector("#pl-entries li.more button")?.textContent ?? "")`)
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page draws %d entry rows, want %d", len(got), rows)
			}
		}
	}
	for _, c := range []struct {
		rows int
		more string
	}{{50, "Show 50 more"}, {100, "Show 20 more"}, {120, ""}} {
		if got := drawn(c.rows); got != c.more {
			t.Fatalf("%d rows drawn: the button reads %q, want %q", c.rows, got, c.more)
		}
		if c.more != "" {
			step("show more", chromedp.Click("#pl-entries li.more button"))
		}
	}
}
