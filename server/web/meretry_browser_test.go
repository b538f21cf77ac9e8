package web_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/web"
)

// TestBrowserPlaylistsHonourRetryAfter: the page's GET /v1/me, which
// opens the playlists after sign-in, refused 503 with Retry-After: 20,
// is asked again no sooner than 20 s later, and the page says so; then
// the playlists open. Before, the page retried after its own 15 s (the
// wait was only in the error's text), while the relay was still busy.
func TestBrowserPlaylistsHonourRetryAfter(t *testing.T) {
	const wait = 20 * time.Second
	me := &busyRoute{method: http.MethodGet, path: "/v1/me", refuse: 1, after: "20"}
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
		web.Mount(srv.Echo())
		srv.Echo().Pre(me.middleware)
	}))
	page := browsertest.New(t)
	step := pageSteps(t, page, 60*time.Second, `document.getElementById("account-msg").textContent + " | " + document.getElementById("pl-msg").textContent`)
	step("sign up", signInActions(r.URL, "ada", true, "#playlists")...)
	step("the wait shown", chromedp.Poll[chromedp.Void](`document.getElementById("pl-msg").textContent.includes("trying again in 20 s")`))
	if !waitFor(t, wait+20*time.Second, func() bool { return len(me.times()) > 1 }) {
		t.Fatalf("%d GET /v1/me in %v, want 2", len(me.times()), wait+20*time.Second)
	}
	at := me.times()
	if gap := at[1].Sub(at[0]); gap < wait-100*time.Millisecond {
		t.Fatalf("GET /v1/me asked again %v after a refusal with Retry-After: 20, want ≥ %v", gap.Round(time.Millisecond), wait)
	}
	step("playlists open", chromedp.Poll[chromedp.Void](`window.seguePlaylistStore !== undefined`))
}
