package web_test

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/web"
)

// TestBrowserPlaysReachTheRelay: a track played in the page is uploaded
// by the web engine on its own (no page call) to the relay's counting
// service, signed by the page's device, and leaves the browser's queue
// once the relay answered. Before, the web player kept its plays in
// IndexedDB and never sent them: the relay's log stayed empty.
func TestBrowserPlaysReachTheRelay(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithCounting(true).WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
		web.Mount(srv.Echo())
	}))
	ctx := openPage(t, r)
	type result struct {
		Device  string `json:"device"`
		Track   string `json:"track"`
		Played  int    `json:"played"`
		Pending int    `json:"pending"`
		Err     string `json:"err"`
	}
	got := run[result](t, ctx, fmt.Sprintf(`(async () => {
		const s = await segue.open(location.origin, {tier: "low", persist: false});
		try {
			await s.signUp("counted", %q);
			await s.login("counted", %q);
			%s
			const track = st.track;
			await s.stop();
			let pending = await s.pendingPlays();
			while (played === 0 || pending > 0) {
				if (performance.now() - t0 > 40000) break;
				await sleep(50);
				pending = await s.pendingPlays();
			}
			return {device: s.deviceId, track, played, pending, err: ""};
		} catch (e) {
			return {err: String(e.message || e)};
		} finally {
			await s.close();
		}
	})()`, testbed.Password, testbed.Password, playOneSecondScript(r.Album)))
	t.Logf("browser: %+v", got)
	if got.Err != "" || got.Played != 1 || got.Pending != 0 {
		t.Fatalf("page: %+v; want one play, none left queued", got)
	}
	logged, err := r.PlayLog().Read(t.Context(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 || string(logged[0].Device) != got.Device || string(logged[0].Event.Track) != got.Track || logged[0].Event.PlayedMs < 1000 {
		t.Fatalf("relay log %+v; want the page's play of %s by device %s (≥ 1 s)", logged, got.Track, got.Device)
	}
}
