package web_test

import (
	"net/http"
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

// busyMe answers the first GET /v1/me 503 with Retry-After: after (as a
// busy relay does) and records when each one came.
type busyMe struct {
	mu    sync.Mutex
	after string
	at    []time.Time
}

func (b *busyMe) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method != http.MethodGet || c.Request().URL.Path != "/v1/me" {
			return next(c)
		}
		b.mu.Lock()
		b.at = append(b.at, time.Now())
		refused := len(b.at) == 1
		b.mu.Unlock()
		if refused {
			c.Response().Header().Set("Retry-After", b.after)
			return echo.NewHTTPError(http.StatusServiceUnavailable, "relay: busy")
		}
		return next(c)
	}
}

func (b *busyMe) times() []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.at...)
}

// TestBrowserPlaylistsHonourRetryAfter: the page's GET /v1/me, which
// opens the playlists after sign-in, refused 503 with Retry-After: 20,
// is asked again no sooner than 20 s later, and the page says so; then
// the playlists open. Before, the page retried after its own 15 s (the
// wait was only in the error's text), while the relay was still busy.
func TestBrowserPlaylistsHonourRetryAfter(t *testing.T) {
	const wait = 20 * time.Second
	me := &busyMe{after: "20"}
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
