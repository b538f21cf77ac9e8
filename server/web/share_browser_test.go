package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/server/web"
)

// shareRun is what the page reports after playing a share link.
type shareRun struct {
	Msg    string  `json:"msg"`
	Title  string  `json:"title"`
	Played float64 `json:"played"`
	Rate   float64 `json:"rate"`
	State  string  `json:"state"`
}

// TestBrowserSharePreview opens a share link in headless Chromium the way
// a visitor does: the share page's "Play on Segue" link leads to the web
// player at #/s/{token}; without an account, Play plays the preview (5 s
// on this relay) and the worklet plays that many frames at the context's
// rate, then stops; after signing up in the same page, Play plays the
// whole track; once the owner revokes the link, Play says so.
func TestBrowserSharePreview(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		web.Mount(srv.Echo())
		social.NewForRelay(dd, srv, social.DefaultOptions().WithPreview(5*time.Second).WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
	}))
	ada := testbed.Device(t, r, "ada")
	sh, err := ada.Share(t.Context(), api.ShareTrack, string(r.Tracks[1]))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := demoalbum.Album()
	if err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(sh.URL)); err != nil {
		t.Fatal(err)
	}
	href := run[string](t, ctx, `Promise.resolve(document.getElementById("play").href)`)
	if want := r.URL + "/#/s/" + sh.Token; href != want {
		t.Fatalf("share page links to %q, want %q", href, want)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, chromedp.Navigate(href), chromedp.WaitVisible("#shared-play"), chromedp.Click("#shared-play")); err != nil {
		t.Fatal(err)
	}
	// play waits for the session, then until the item ended, and reports
	// the frames the worklet played since before the click.
	play := func(click bool, before float64) shareRun {
		t.Helper()
		return run[shareRun](t, ctx, fmt.Sprintf(`(async () => {
			const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
			const t0 = performance.now();
			while (!window.segueSession) { if (performance.now() - t0 > 20000) throw new Error("no session"); await sleep(20); }
			const s = window.segueSession;
			if (%t) document.getElementById("shared-play").click();
			let started = false;
			while (true) {
				const st = s.status();
				started = started || st.state === "playing";
				if (started && (st.state === "ended" || st.state === "idle")) break;
				if (st.error) throw new Error(st.error);
				if (performance.now() - t0 > 40000) throw new Error("did not end: " + JSON.stringify(st) + " " + document.getElementById("shared-msg").textContent);
				await sleep(20);
			}
			await sleep(1000); // the worklet plays what is buffered after the player ended
			return {msg: document.getElementById("shared-msg").textContent, title: document.getElementById("shared-title").textContent,
				played: (await s.outputStats()).played - %v, rate: s.audioContext.sampleRate, state: s.status().state};
		})()`, click, before))
	}
	got := play(false, 0)
	t.Logf("signed out: %+v", got)
	if want := 5 * got.Rate; math.Abs(got.Played-want) > got.Rate/100 {
		t.Errorf("preview: the worklet played %v frames, want %v (5 s at %v Hz)", got.Played, want, got.Rate)
	}
	if got.Title == "" || got.Msg == "" || got.Msg[:8] != "Preview:" {
		t.Errorf("preview page text: %+v", got)
	}

	before := run[float64](t, ctx, fmt.Sprintf(`(async () => {
		const s = window.segueSession;
		await s.signUp("listener", %q);
		await s.login("listener", %q);
		return (await s.outputStats()).played;
	})()`, testbed.Password, testbed.Password))
	got = play(true, before)
	t.Logf("signed in: %+v", got)
	want := float64(meta.Tracks[1].Samples) * got.Rate / demoalbum.Rate
	if math.Abs(got.Played-want) > got.Rate/100 {
		t.Errorf("signed in: the worklet played %v frames, want the whole track's %v", got.Played, want)
	}

	if err := ada.RevokeShare(t.Context(), sh.Token); err != nil {
		t.Fatal(err)
	}
	msg := run[string](t, ctx, `(async () => {
		document.getElementById("shared-play").click();
		const t0 = performance.now();
		let m = "";
		while (!/revoked/.test(m) && performance.now() - t0 < 10000) {
			await new Promise((r) => setTimeout(r, 20));
			m = document.getElementById("shared-msg").textContent;
		}
		return m;
	})()`)
	if msg != "This link does not exist or was revoked." {
		t.Errorf("revoked link: page says %q", msg)
	}
}
