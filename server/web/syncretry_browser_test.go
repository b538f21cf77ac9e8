package web_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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

// syncLog records the requests to /v1/sync the relay takes: when each
// WebSocket upgrade came, and the plain requests (the page asking why a
// socket failed) with the token they carried in the URL, if any.
type syncLog struct {
	mu       sync.Mutex
	upgrades []time.Time
	accepted int // upgrades answered 101
	plain    int
	urlToken int
	trail    []string // every /v1/sync request: when, kind, status, Retry-After
	start    time.Time
}

func (l *syncLog) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.URL.Path != "/v1/sync" {
			return next(c)
		}
		at := time.Now()
		upgrade := r.Header.Get("Upgrade") != ""
		l.mu.Lock()
		if upgrade {
			l.upgrades = append(l.upgrades, at)
		} else {
			l.plain++
			if r.URL.Query().Has("token") {
				l.urlToken++
			}
		}
		l.mu.Unlock()
		err := next(c)
		l.mu.Lock()
		defer l.mu.Unlock()
		status := c.Response().Status
		if upgrade && status == http.StatusSwitchingProtocols {
			l.accepted++
		}
		if l.start.IsZero() {
			l.start = at
		}
		l.trail = append(l.trail, fmt.Sprintf("%6.2fs upgrade=%t %d Retry-After=%q", at.Sub(l.start).Seconds(), upgrade, status, c.Response().Header().Get("Retry-After")))
		return err
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// mark adds what happened to the trail, between its requests.
func (l *syncLog) mark(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trail = append(l.trail, fmt.Sprintf("%6.2fs %s", time.Since(l.start).Seconds(), what))
}

// report is the trail of /v1/sync requests, one per line.
func (l *syncLog) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.trail, "\n")
}

func (l *syncLog) snapshot() (upgrades []time.Time, accepted, plain, urlToken int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.upgrades...), l.accepted, l.plain, l.urlToken
}

// waitFor polls cond every 50 ms until it holds or within passes,
// reporting whether it held.
func waitFor(t *testing.T, within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-t.Context().Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

// TestBrowserSyncHonoursRetryAfter: a tab whose playlists socket the
// relay refuses (429, Retry-After: 10: one sync connection per user, the
// other tab holds it) tries again no sooner than the relay asked, and
// syncs once the other tab lets the connection go. A browser's
// WebSocket does not show the refused handshake's status or headers to
// the page, so the page asks the relay with a plain request. Before, the
// stock adapter opened a socket every 5 s whatever the relay said.
func TestBrowserSyncHonoursRetryAfter(t *testing.T) {
	log := &syncLog{}
	var rlog bytes.Buffer
	var rmu sync.Mutex
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&rmu, &rlog}, &slog.HandlerOptions{Level: slog.LevelDebug}))).
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithSyncSessions(0, 1) }).
		WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
			web.Mount(srv.Echo())
			srv.Echo().Pre(log.middleware)
		}))
	ctx := browsertest.New(t)
	step := pageSteps(t, ctx, 60*time.Second, accountMsgs)
	step("sign up", signInActions(r.URL, "paced", true, "#library")...)
	if !waitFor(t, 30*time.Second, func() bool { _, acc, _, _ := log.snapshot(); return acc == 1 }) {
		t.Fatal("the first tab's playlists socket was not accepted in 30 s")
	}

	tab2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	step("second tab", chromedp.Func(func(context.Context, *chromedp.Target) error {
		if _, err := chromedp.Run(tab2, chromedp.Navigate(r.URL+"/")); err != nil {
			return err
		}
		_, err := chromedp.Run(tab2, chromedp.WaitVisible("#library"))
		return err
	}))
	const retryAfter = 10 * time.Second
	var ups []time.Time
	if !waitFor(t, 40*time.Second, func() bool { ups, _, _, _ = log.snapshot(); return len(ups) >= 4 }) {
		t.Fatalf("%d sync sockets in 40 s, want the first tab's and 3 of the second's", len(ups))
	}
	// ups[0] is the first tab's socket; the second tab's begin at ups[1].
	for i := 2; i < len(ups); i++ {
		if gap := ups[i].Sub(ups[i-1]); gap < retryAfter-500*time.Millisecond {
			t.Errorf("refused socket %d came %v after the one before, want ≥ the relay's Retry-After (%v)", i, gap.Round(time.Millisecond), retryAfter)
		}
	}
	_, _, plain, urlToken := log.snapshot()
	if plain == 0 || urlToken != 0 {
		t.Errorf("plain /v1/sync requests: %d, %d of them with the token in the URL; want some, none", plain, urlToken)
	}

	log.mark("closing the first tab")
	step("first tab closed", chromedp.Navigate("about:blank"))
	log.mark("first tab closed")
	if !waitFor(t, 30*time.Second, func() bool { _, acc, _, _ := log.snapshot(); return acc == 2 }) {
		t.Fatalf("the second tab's playlists socket was not accepted within 30 s of the first tab closing; the /v1/sync requests:\n%s\nrelay:\n%s", log.report(), func() string { rmu.Lock(); defer rmu.Unlock(); return rlog.String() }())
	}
}
