package web_test

import (
	"log/slog"
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
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/server/web"
)

// busyRoute answers the first refuse requests for path (of method, any
// when "") 503 with Retry-After: after, as a busy relay does, and records
// when each request came.
type busyRoute struct {
	method, path string
	mu           sync.Mutex
	refuse       int
	after        string
	at           []time.Time
}

func (b *busyRoute) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().URL.Path != b.path || b.method != "" && c.Request().Method != b.method {
			return next(c)
		}
		b.mu.Lock()
		b.at = append(b.at, time.Now())
		refused := len(b.at) <= b.refuse
		b.mu.Unlock()
		if refused {
			c.Response().Header().Set("Retry-After", b.after)
			return echo.NewHTTPError(http.StatusServiceUnavailable, "relay: busy")
		}
		return next(c)
	}
}

func (b *busyRoute) times() []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.at...)
}

// TestBrowserFriendFeedHonoursRetryAfter: the page's activity stream,
// refused 503 with Retry-After, asks again no sooner than the relay
// asked, whether it names seconds or a date, then reads the stream.
// Before, it retried after its own backoff (1 s, 2 s, 4 s) whatever the
// relay said.
func TestBrowserFriendFeedHonoursRetryAfter(t *testing.T) {
	cases := []struct {
		name  string
		after func() string
	}{
		{"seconds", func() string { return "3" }},
		{"date", func() string { return time.Now().Add(4 * time.Second).UTC().Format(http.TimeFormat) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			feed := &busyRoute{path: "/v1/activity/stream", refuse: 3}
			r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
				web.Mount(srv.Echo())
				social.NewForRelay(dd, srv, social.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
				srv.Echo().Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
					h := feed.middleware(next)
					return func(c echo.Context) error {
						feed.mu.Lock()
						feed.after = tc.after()
						feed.mu.Unlock()
						return h(c)
					}
				})
			}))
			page := browsertest.New(t)
			step := pageSteps(t, page, 30*time.Second, `document.getElementById("account-msg").textContent + " | " + document.getElementById("friends-msg").textContent`)
			step("sign up", signInActions(r.URL, "ada", true, "#friends")...)
			if !waitFor(t, 40*time.Second, func() bool { return len(feed.times()) > feed.refuse }) {
				t.Fatalf("%d activity stream requests in 40 s, want %d", len(feed.times()), feed.refuse+1)
			}
			at := feed.times()
			for i := 1; i <= feed.refuse; i++ {
				// An HTTP-date has whole seconds: a wait ≥ 3 s either way.
				if gap := at[i].Sub(at[i-1]); gap < 2900*time.Millisecond {
					t.Errorf("request %d came %v after a refusal with Retry-After, want ≥ 3 s", i, gap.Round(time.Millisecond))
				}
			}
			step("stream read", chromedp.Poll[chromedp.Void](`document.getElementById("friends-msg").textContent.startsWith("No friend activity")`))
		})
	}
}
