package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/web"
)

// metaRequests counts the relay's track-metadata requests: POST
// /v1/tracks/batch and GET /v1/tracks/{id}. With noBatch set it answers
// the batch route 405, as a relay from before the route does.
type metaRequests struct {
	mu            sync.Mutex
	batch, single int
	noBatch       bool
}

func (m *metaRequests) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		m.mu.Lock()
		defer m.mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/tracks/batch":
			m.batch++
			if m.noBatch {
				return c.NoContent(http.StatusMethodNotAllowed)
			}
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/tracks/"):
			m.single++
		}
		return next(c)
	}
}

// reset zeroes the counts and sets noBatch; counts returns them.
func (m *metaRequests) reset(noBatch bool) {
	m.mu.Lock()
	m.batch, m.single, m.noBatch = 0, 0, noBatch
	m.mu.Unlock()
}
func (m *metaRequests) counts() (int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.batch, m.single
}

// TestBrowserPlaylistTitlesBatched opens a playlist of 300 distinct
// tracks (the demo album's and unknown ids) in the page: its titles come
// from POST /v1/tracks/batch, 100 ids a request (3 requests, no GET
// /v1/tracks/{id}; before, one GET per track), the known tracks labelled
// with their titles and the unknown ones with their ids; opening it again
// asks nothing. Against a relay without the batch route (405) the page
// falls back to one GET per track and shows the same labels. The
// bridge's tracks call refuses more than 100,000 ids and a non-string.
func TestBrowserPlaylistTitlesBatched(t *testing.T) {
	meta := &metaRequests{}
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
		web.Mount(srv.Echo())
		srv.Echo().Pre(meta.middleware)
	}))
	page := browsertest.New(t)
	step := pageSteps(t, page, 30*time.Second, accountMsgs)
	step("sign up", append(signInActions(r.URL, "batchtitles", true, "#playlists"), chromedp.WaitVisible("#pl-list li"))...)
	const n = 300
	// The page's own playlist store makes the playlist: n entries, the
	// demo album's tracks first.
	id := run[string](t, page, fmt.Sprintf(`(async () => {
		const tracks = (await segueSession.album(%q)).tracks.map((t) => t.id);
		const ids = [...tracks];
		for (let i = ids.length; i < %d; i++) ids.push("unknown-track-" + i);
		const id = seguePlaylistStore.create("Big");
		for (const t of ids) await seguePlaylistStore.add(id, t);
		return id;
	})()`, r.Album, n))
	wantLabels := make([]string, n)
	for i := range wantLabels {
		wantLabels[i] = fmt.Sprintf("unknown-track-%d", i)
	}
	titles := run[[]string](t, page, fmt.Sprintf(`segueSession.album(%q).then((a) => a.tracks.map((t) => t.title))`, r.Album))
	copy(wantLabels, titles)

	open := func(what string) {
		t.Helper()
		run[bool](t, page, `Promise.resolve(!!document.getElementById("pl-entries").replaceChildren())`)
		step(what,
			chromedp.WaitVisible(fmt.Sprintf(`#pl-list li[data-id=%q] button`, id)),
			chromedp.Click(fmt.Sprintf(`#pl-list li[data-id=%q] button`, id)))
		var got []string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got = run[[]string](t, page, `Promise.resolve([...document.querySelectorAll("#pl-entries li > button:first-child")].map((b) => b.textContent))`)
			if fmt.Sprint(got) == fmt.Sprint(wantLabels) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the page shows %d entries %.300q…, want %.300q…", what, len(got), got, wantLabels)
			}
		}
	}

	meta.reset(false)
	open("open the playlist")
	if batch, single := meta.counts(); batch != 3 || single != 0 {
		t.Errorf("opening a playlist of %d tracks: %d POST /v1/tracks/batch and %d GET /v1/tracks/{id}, want 3 and 0", n, batch, single)
	}
	meta.reset(false)
	step("close the playlist's view", chromedp.Reload(), chromedp.WaitVisible("#pl-list li button"))
	open("open it again in a fresh page")
	open("open it once more")
	if batch, single := meta.counts(); batch != 3 || single != 0 {
		t.Errorf("opening it twice in one page: %d batch and %d single requests, want 3 and 0 (the titles are kept)", batch, single)
	}

	// The bridge's bounds: at most 100,000 ids, each a string.
	for _, c := range []struct{ call, want string }{
		{`segueSession.tracks(new Array(100001).fill("x"))`, "100001 ids, at most 100000"},
		{`segueSession.tracks(["x", 1])`, "entry 1 is not a string"},
		{`segueSession.tracks("x")`, "the track ids are not an array"},
	} {
		got := run[string](t, page, c.call+`.then(() => "resolved", (err) => String(err.message))`)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want an error with %q", c.call, got, c.want)
		}
	}

	// A relay without the route: one GET per track.
	meta.reset(true)
	step("reload against a relay without the batch route", chromedp.Reload(), chromedp.WaitVisible("#pl-list li button"))
	open("open the playlist without the batch route")
	batch, single := meta.counts()
	if single != n || batch < 1 || batch > 4 {
		t.Errorf("relay without the batch route: %d batch attempts and %d GET /v1/tracks/{id}, want 1–4 and %d", batch, single, n)
	}
}
