package web_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/search"
	"github.com/segue-fm/segue/server/web"
)

// goOffline switches the tab offline with DevTools network emulation
// (Network.emulateNetworkConditions, which this Chromium accepts; its
// rule-based successor answers "invalid parameters"): the page's
// requests fail, and Network.overrideNetworkState makes navigator.onLine
// false. The service worker's own
// fetches are not covered by the tab's emulation, so the test also stops
// the relay.
func goOffline(ctx context.Context, t *chromedp.Target) error {
	if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
		return fmt.Errorf("enable network: %w", err)
	}
	if _, err := cdp.Call(ctx, t, emulateNetworkConditions, emulateParams{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		return fmt.Errorf("emulate network conditions: %w", err)
	}
	if _, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: true, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		return fmt.Errorf("override network state: %w", err)
	}
	return nil
}

// emulateParams are the parameters of the DevTools command
// Network.emulateNetworkConditions (no longer in cdproto).
type emulateParams struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`
	DownloadThroughput float64 `json:"downloadThroughput"`
	UploadThroughput   float64 `json:"uploadThroughput"`
}

// emulateNetworkConditions is that command.
var emulateNetworkConditions = cdp.Command[emulateParams, cdp.Empty]{Method: "Network.emulateNetworkConditions"}

// TestBrowserOfflineDownload is the offline story as a listener lives it:
// sign up in the page, open the demo album (which readies its first
// tracks: session.prefetch) and press "Download for offline"; the Downloads section shows the progress to the end. Then the
// tab goes offline (DevTools emulation, service worker included) and the
// relay stops; the page reloads (from the service worker's cache), is
// still signed in, lists the download, and plays it: the last 1.5 s of
// track 2 into track 3, identical to the native player's output (every
// frame the worklet played) with no underrun, and the Downloads
// section's Play button starts the album.
// IndexedDB holds no Ogg page, no content key and no token in clear.
func TestBrowserOfflineDownload(t *testing.T) {
	r, data := offlineRelay(t)
	ctx := browsertest.New(t)
	step := offlineStep(t, ctx)
	signUpLowTier(step, r, "offline")
	step("search", chromedp.SendKeys("#q", "segue demo"))
	step("submit search", chromedp.Click("#find button[type=submit]"))
	step("results", chromedp.WaitVisible("#results li button"))
	step("open the album", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
			const b = [...document.querySelectorAll("#results li button")].find((b) => b.textContent.endsWith("(album)"));
			if (b) b.click();
			return !!b;
		})()`))
		if err == nil && !ok {
			err = fmt.Errorf("no album in the search results")
		}
		return err
	}))
	step("album view", chromedp.WaitVisible("#album-dl"))
	// Opening the album readies its first tracks (session.prefetch); the
	// download then holds tracks first opened as streamed.
	step("the album's first tracks prefetched", chromedp.Poll[chromedp.Void](`performance.getEntriesByName("segue:prefetched").length > 0`))
	t0 := time.Now()
	step("download", chromedp.Click("#album-dl"))
	step("downloaded", chromedp.WaitVisible(`#dl-list li[data-done="true"]`))
	t.Logf("album downloaded in %v (page: %s)", time.Since(t0).Round(time.Millisecond),
		run[string](t, ctx, `Promise.resolve(document.getElementById("dl-progress").textContent + " " + document.getElementById("dl-licence").textContent)`))
	waitPageCached(t, ctx)

	rate := run[int](t, ctx, `Promise.resolve(window.segueSession.audioContext.sampleRate)`)
	trackLen := int64(682706) * int64(rate) / demoalbum.Rate
	start := trackLen - int64(rate)*3/2
	want := nativeAlbum(t, r, rate, model.TierLow, 1, start)

	needles := contentKeys(t, data, r.Tracks) // read before the relay stops

	reloadOffline(t, step, r, `#dl-list li[data-done="true"]`)

	playOffline(t, ctx, fmt.Sprintf(`s.playAlbum(%q, 1, %d)`, r.Album, start), 2, `#dl-list li[data-kind="album"] button`, rate, want)

	assertNothingInClear(t, ctx, needles)
}

// playOffline runs the JavaScript play (with s the session) that starts
// 1.5 s before the end of a track, waits until the player is 1.5 s into
// the next one (context index next) and 1 s more, and requires every
// frame the worklet played to equal want (the native player's output),
// with no underrun; then the Downloads section's Play button (selector
// button) must play the item from its first track. The page must be
// offline throughout.
func playOffline(t *testing.T, ctx context.Context, play string, next int, button string, rate int, want []float32) {
	t.Helper()
	type played struct {
		Data      string   `json:"data"`
		Underruns int      `json:"underruns"`
		Gaps      [][3]int `json:"gaps"`
		Online    bool     `json:"online"`
		Reachable bool     `json:"reachable"`
		Error     string   `json:"error"`
		PlayState string   `json:"playState"`
		TierWarn  bool     `json:"tierWarning"`
	}
	got := run[played](t, ctx, fmt.Sprintf(`(async () => {
		const s = window.segueSession, rate = s.audioContext.sampleRate;
		const reachable = await fetch("/v1/catalog/key").then(() => true, () => false);
		let st = s.status(), error = "", tierWarning = false;
		s.on("status", (x) => { st = x; if (x.error) error = x.error; if (x.tierWarning) tierWarning = true; });
		const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
		const until = async (what, f, ms) => {
			const t0 = performance.now();
			while (!f()) {
				if (performance.now() - t0 > ms) throw new Error("timed out waiting for " + what + "; status " + JSON.stringify(st));
				await sleep(10);
			}
		};
		await s.setTier("low");
		await s.captured();
		await %s;
		await until("the next track", () => st.index === %d && st.frame >= 1.5 * rate, 30000);
		await sleep(1000);
		const cap = await s.captured();
		await s.stop();
		const b = new Uint8Array(cap.data.buffer, cap.data.byteOffset, cap.data.byteLength);
		let bin = "";
		for (let i = 0; i < b.length; i += 0x8000) bin += String.fromCharCode(...b.subarray(i, i + 0x8000));
		st = s.status();
		document.querySelector(%q).click();
		await until("the Play button", () => st.state === "playing" && st.index === 0, 15000);
		const playState = st.state;
		await s.stop();
		return {data: btoa(bin), underruns: cap.underruns, gaps: cap.gaps, online: navigator.onLine, reachable, error, playState, tierWarning};
	})()`, play, next, button))
	if got.Online || got.Reachable {
		t.Fatalf("the page was not offline (navigator.onLine %v, relay reachable %v)", got.Online, got.Reachable)
	}
	raw, err := base64.StdEncoding.DecodeString(got.Data)
	if err != nil {
		t.Fatal(err)
	}
	frames := len(raw) / 8
	maxDiff, first := 0.0, -1
	for i := 0; i < len(raw)/4 && i < len(want); i++ {
		d := math.Abs(float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))) - float64(want[i]))
		if d > maxDiff {
			maxDiff = d
		}
		if d > 1e-6 && first < 0 {
			first = i
		}
	}
	t.Logf("offline: %d frames played (native %d), %d underrun frames, max diff %g, error %q, Play button: %s",
		frames, len(want)/2, got.Underruns, maxDiff, got.Error, got.PlayState)
	if frames < rate*5/2 || frames > len(want)/2 || maxDiff > 1e-6 {
		t.Fatalf("offline across the track change the worklet played %d frames (native %d), max diff %g (first at %d)",
			frames, len(want)/2, maxDiff, first)
	}
	// Playing from IndexedDB must keep up in real time: an underrun is a
	// gap the listener hears, whatever the samples around it.
	if got.Underruns != 0 {
		t.Fatalf("offline playback underran: %d frames of silence inserted ([frames played before, silent frames, context frame]: %v; the track changes at frame %d)", got.Underruns, got.Gaps, rate*3/2)
	}
	if got.PlayState != "playing" {
		t.Fatalf("the Downloads section's Play button: state %q", got.PlayState)
	}
	// Reads from IndexedDB say nothing about the network: no warning that
	// the connection may not sustain the tier.
	if got.TierWarn {
		t.Fatalf("offline playback of a download warned that the connection may not sustain the tier (error %q)", got.Error)
	}
}

// offlineRelay starts a testbed relay with offline licences, search and
// the web player, and returns it with its data directory.
func offlineRelay(t *testing.T) (*testbed.Relay, *catalog.DataDir) {
	var data *catalog.DataDir
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true).WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		data = dd
		if _, err := search.MountForDataDir(t.Context(), dd, srv); err != nil {
			t.Errorf("mount search: %v", err)
		}
		web.Mount(srv.Echo())
	}))
	return r, data
}

// offlineStep returns a function running one named browser action (60 s
// at most) that fails the test with the page's messages.
func offlineStep(t *testing.T, ctx context.Context) func(string, chromedp.Action[chromedp.Void]) {
	return func(name string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if _, err := chromedp.Run(sctx, a); err != nil {
			msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`["account-msg", "results-msg", "pl-msg", "dl-msg", "dl-progress", "dl-list"].map((id) => document.getElementById(id).textContent).join(" | ")`))
			t.Fatalf("%s: %v (page says %q)", name, err, msg)
		}
	}
}

// signUpLowTier opens the page (capture hook on), creates the account
// user and sets the low tier.
func signUpLowTier(step func(string, chromedp.Action[chromedp.Void]), r *testbed.Relay, user string) {
	step("open the page", chromedp.Navigate(r.URL+"/?test-capture"))
	step("sign-in form", chromedp.WaitVisible("#user"))
	step("user name", chromedp.SendKeys("#user", user))
	step("password", chromedp.SendKeys("#pass", testbed.Password))
	step("create account", chromedp.Click("#signup"))
	step("sign in", chromedp.Click("#login button[type=submit]"))
	step("library", chromedp.WaitVisible("#library"))
	step("low tier", chromedp.SetValue("#tier", "low"))
	step("tier applied", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.segueSession.setTier("low")`, chromedp.EvalAwaitPromise))
		return err
	}))
}

// waitPageCached waits until the service worker has cached the page and
// the engine (10 s at most).
func waitPageCached(t *testing.T, ctx context.Context) {
	t.Helper()
	cached := run[int](t, ctx, `(async () => {
		await navigator.serviceWorker.ready;
		for (let i = 0; i < 200; i++) {
			const keys = (await (await caches.open("segue-page-v1")).keys()).map((r) => new URL(r.url).pathname);
			if (keys.includes("/") && keys.some((k) => k.endsWith(".wasm"))) return keys.length;
			await new Promise((r) => setTimeout(r, 50));
		}
		return 0;
	})()`)
	if cached == 0 {
		t.Fatal("the service worker did not cache the page and the engine")
	}
}

// contentKeys returns the low-tier content keys of tracks, base64.
func contentKeys(t *testing.T, data *catalog.DataDir, tracks []model.TrackID) []string {
	t.Helper()
	var keys []string
	for _, id := range tracks {
		k, err := data.Catalog.ContentKeyAt(t.Context(), id, model.TierLow, time.Now()) // the demo album has no embargo
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, base64.StdEncoding.EncodeToString(k[:]))
	}
	return keys
}

// reloadOffline takes the tab offline, stops the relay and reloads: the
// page must come up signed in (from the service worker), say it is
// offline and show the element listed (a finished download).
func reloadOffline(t *testing.T, step func(string, chromedp.Action[chromedp.Void]), r *testbed.Relay, listed string) {
	t.Helper()
	step("offline", chromedp.Func(goOffline))
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	step("reload offline", chromedp.Reload())
	step("signed in offline", chromedp.WaitVisible("#library"))
	step("still offline", chromedp.Func(goOffline))
	step("offline indicator", chromedp.WaitVisible("#net.offline"))
	step("downloads listed", chromedp.WaitVisible(listed))
}

// assertNothingInClear searches every IndexedDB record of the page
// (segue-store, segue-keys) for an Ogg page, the content keys (base64)
// and the token, and requires downloaded blobs to be there.
func assertNothingInClear(t *testing.T, ctx context.Context, needles []string) {
	t.Helper()
	rest := run[struct {
		Records int `json:"records"`
		Blobs   int `json:"blobs"`
		Hits    int `json:"hits"`
	}](t, ctx, fmt.Sprintf(`(async () => {
		const needles = %s.map((b) => Uint8Array.from(atob(b), (c) => c.charCodeAt(0)));
		needles.push(new TextEncoder().encode("OggS"), new TextEncoder().encode(await window.segueSession.token()));
		const all = async (name, store) => {
			const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
			const tx = db.transaction(store);
			const get = (f) => new Promise((res, rej) => { const r = f(tx.objectStore(store)); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
			return [await get((s) => s.getAllKeys()), await get((s) => s.getAll())];
		};
		const bytes = (v) => v instanceof ArrayBuffer ? [new Uint8Array(v)] : ArrayBuffer.isView(v) ? [new Uint8Array(v.buffer, v.byteOffset, v.byteLength)]
			: v && typeof v === "object" && !(v instanceof CryptoKey) ? Object.values(v).flatMap(bytes) : typeof v === "string" ? [new TextEncoder().encode(v)] : [];
		const find = (hay, needle) => { outer: for (let i = 0; i + needle.length <= hay.length; i++) { for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer; return true; } return false; };
		let records = 0, blobs = 0, hits = 0;
		for (const [db, st] of [["segue-store", "kv"], ["segue-keys", "keys"]]) {
			const [keys, values] = await all(db, st);
			values.forEach((v, i) => {
				records++;
				const k = bytes(keys[i])[0];
				if (k && new TextDecoder().decode(k).startsWith("dl/blob/")) blobs++;
				for (const b of bytes(v)) for (const n of needles) if (find(b, n)) hits++;
			});
		}
		return {records, blobs, hits};
	})()`, mustJSON(t, needles)))
	t.Logf("IndexedDB at rest: %+v", rest)
	if rest.Blobs == 0 || rest.Hits != 0 {
		t.Fatalf("IndexedDB at rest: %d records, %d downloaded blobs, %d holding an Ogg page, a content key or the token in clear", rest.Records, rest.Blobs, rest.Hits)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
