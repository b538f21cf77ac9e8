package web_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/web"
)

// playsGate counts the POST /v1/plays requests the relay takes: refused
// (503) while closed; once open, the first is held until a second one
// comes or hold passes, so two uploads under way at once both reach
// the relay.
type playsGate struct {
	open   atomic.Bool
	posts  atomic.Int32
	second chan struct{}
	hold   time.Duration
}

func (g *playsGate) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r := c.Request(); r.Method != http.MethodPost || r.URL.Path != "/v1/plays" {
			return next(c)
		}
		if !g.open.Load() {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		if g.posts.Add(1) == 1 {
			select {
			case <-g.second:
			case <-time.After(g.hold):
			}
		} else {
			select {
			case g.second <- struct{}{}:
			default:
			}
		}
		return next(c)
	}
}

// TestBrowserTabsUploadOnce: two tabs of one origin on one IndexedDB
// with a play queued, both uploading at once, send it in one request:
// the upload holds the Web Lock plays-upload:<database>, and the tab that
// waited for it finds the queue empty. Before, both tabs read the queue
// and posted the same batch (2 requests; the relay answered the second
// duplicate).
func TestBrowserTabsUploadOnce(t *testing.T) {
	gate := &playsGate{second: make(chan struct{}, 1), hold: 3 * time.Second}
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithCounting(true).WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
		web.Mount(srv.Echo())
		srv.Echo().Pre(gate.middleware)
	}))
	tabA := openPage(t, r)
	type queued struct {
		Device  string `json:"device"`
		Pending int    `json:"pending"`
		Err     string `json:"err"`
	}
	// Tab A signs up and plays a track; its upload is refused (503), so
	// the play stays queued.
	a := run[queued](t, tabA, fmt.Sprintf(`(async () => {
		try {
			const s = await segue.open(location.origin, {tier: "low", database: "uploadlock"});
			globalThis.tabSession = s;
			await s.signUp("twotabs", %q);
			await s.login("twotabs", %q);
			%s
			await s.stop();
			let pending = await s.pendingPlays();
			while (played === 0 || pending === 0) {
				if (performance.now() - t0 > 40000) throw new Error("no play queued");
				await sleep(50);
				pending = await s.pendingPlays();
			}
			return {device: s.deviceId, pending, err: ""};
		} catch (e) {
			return {err: String(e.message || e)};
		}
	})()`, testbed.Password, testbed.Password, playOneSecondScript(r.Album)))
	if a.Err != "" || a.Pending != 1 {
		t.Fatalf("tab A: %+v; want one play queued", a)
	}
	tabB, cancel := chromedp.NewContext(tabA)
	defer cancel()
	if err := chromedp.Do(tabB, chromedp.Navigate(r.URL+"/")); err != nil {
		t.Fatal(err)
	}
	b := run[queued](t, tabB, `(async () => {
		try {
			const s = await segue.open(location.origin, {tier: "low", database: "uploadlock"});
			globalThis.tabSession = s;
			return {device: s.deviceId, pending: await s.pendingPlays(), err: ""};
		} catch (e) {
			return {err: String(e.message || e)};
		}
	})()`)
	if b.Err != "" || b.Device != a.Device || b.Pending != 1 {
		t.Fatalf("tab B: %+v; want tab A's device %s and its play queued", b, a.Device)
	}
	gate.open.Store(true)
	type uploaded struct {
		Accepted  int    `json:"accepted"`
		Duplicate int    `json:"duplicate"`
		Pending   int    `json:"pending"`
		Err       string `json:"err"`
	}
	const upload = `(async () => {
		try {
			const u = await tabSession.uploadPlays();
			return {accepted: u.accepted, duplicate: u.duplicate, pending: await tabSession.pendingPlays(), err: ""};
		} catch (e) {
			return {err: String(e.message || e)};
		}
	})()`
	var wg sync.WaitGroup
	var ua, ub uploaded
	var errA, errB error
	wg.Go(func() { ua, errA = chromedp.Run(tabA, chromedp.Evaluate[uploaded](upload, chromedp.EvalAwaitPromise)) })
	wg.Go(func() { ub, errB = chromedp.Run(tabB, chromedp.Evaluate[uploaded](upload, chromedp.EvalAwaitPromise)) })
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("pages: %v, %v", errA, errB)
	}
	t.Logf("tab A %+v, tab B %+v, %d requests", ua, ub, gate.posts.Load())
	if ua.Err != "" || ub.Err != "" || ua.Pending != 0 || ub.Pending != 0 {
		t.Fatalf("uploads: tab A %+v, tab B %+v; want both done, nothing left", ua, ub)
	}
	if n := gate.posts.Load(); n != 1 || ua.Accepted+ub.Accepted != 1 || ua.Duplicate+ub.Duplicate != 0 {
		t.Fatalf("%d requests (tab A %+v, tab B %+v); want one, its play accepted", n, ua, ub)
	}
	logged, err := r.PlayLog().Read(t.Context(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 {
		t.Fatalf("relay log holds %d plays, want 1", len(logged))
	}
}
