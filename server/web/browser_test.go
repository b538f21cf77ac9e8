package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"
	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/search"
	"github.com/segue-fm/segue/server/web"
)

// reference holds the native player's output that the page fetches from
// /test/native.f32 (little-endian float32, interleaved stereo) to compare
// with what its worklet played.
type reference struct {
	mu  sync.Mutex
	buf []float32
}

func (r *reference) set(b []float32) { r.mu.Lock(); r.buf = b; r.mu.Unlock() }

func (r *reference) serve(c echo.Context) error {
	r.mu.Lock()
	b := make([]byte, 4*len(r.buf))
	for i, v := range r.buf {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	r.mu.Unlock()
	return c.Blob(http.StatusOK, "application/octet-stream", b)
}

// webRelay starts a testbed relay with the web player mounted at / and
// the reference route.
func webRelay(t testing.TB, ref *reference) *testbed.Relay {
	return testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		if _, err := search.MountForDataDir(t.Context(), dd, srv); err != nil {
			t.Errorf("mount search: %v", err)
		}
		web.Mount(srv.Echo())
		srv.Echo().GET("/test/native.f32", ref.serve)
	}))
}

// captureSink keeps every frame the native player writes.
type captureSink struct {
	rate int
	mu   sync.Mutex
	buf  []float32
}

func (c *captureSink) Format() (int, int) { return c.rate, 2 }
func (c *captureSink) Write(ctx context.Context, f []float32) error {
	c.mu.Lock()
	c.buf = append(c.buf, f...)
	c.mu.Unlock()
	return ctx.Err()
}
func (c *captureSink) Close() error { return nil }

// nativeAlbum plays the demo album from track start at output frame frame
// on a native engine (core) and returns its output at rate.
func nativeAlbum(t *testing.T, r *testbed.Relay, rate int, tier model.Tier, start int, frame int64) []float32 {
	t.Helper()
	return nativePlay(t, r, rate, tier, model.UserID(fmt.Sprintf("native%d", start)), func(e *core.Engine) error {
		return e.PlayAlbumFrom(t.Context(), r.Album, start, frame)
	})
}

// openPage starts a headless Chromium (browsertest.New) and opens the
// web player's page on relay r in it.
func openPage(t *testing.T, r *testbed.Relay) context.Context {
	t.Helper()
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(r.URL+"/")); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// nativePlay plays what play starts on a native engine (core) of a new
// device of user until the player ends and returns its output at rate.
func nativePlay(t *testing.T, r *testbed.Relay, rate int, tier model.Tier, user model.UserID, play func(*core.Engine) error) []float32 {
	t.Helper()
	e := testbed.Device(t, r, user)
	sink := &captureSink{rate: rate}
	p, err := e.OpenPlayer(sink, player.DefaultOptions().WithTier(tier))
	if err != nil {
		t.Fatal(err)
	}
	sub, cancel := p.Subscribe()
	defer cancel()
	if err := play(e); err != nil {
		t.Fatal(err)
	}
	started := false
	for timeout := time.After(60 * time.Second); ; {
		select {
		case st := <-sub:
			if st.Err != nil && !errors.Is(st.Err, player.ErrCrossfadeShortened) {
				t.Fatalf("native player: %v", st.Err)
			}
			started = started || st.State == player.StatePlaying
			if started && (st.State == player.StateEnded || st.State == player.StateIdle) {
				if err := e.ClosePlayer(); err != nil {
					t.Fatal(err)
				}
				return sink.buf
			}
		case <-timeout:
			t.Fatal("native playback did not end")
		}
	}
}

// run evaluates an async script in the page and decodes its result.
func run[T any](t testing.TB, ctx context.Context, script string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	return v
}

// pageSteps returns a step function for a test driving page: each
// action of a step runs within timeout; on failure t stops, naming the
// step, the error and what the page's status says (diag, a JS expression
// giving a string).
func pageSteps(t *testing.T, page context.Context, timeout time.Duration, diag string) func(name string, actions ...chromedp.Action[chromedp.Void]) {
	return func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for _, a := range actions {
			sctx, cancel := context.WithTimeout(page, timeout)
			_, err := chromedp.Run(sctx, a)
			cancel()
			if err != nil {
				msg, _ := chromedp.Run(page, chromedp.Evaluate[string](diag))
				t.Fatalf("%s: %v (page says %q)", name, err, msg)
			}
		}
	}
}

// accountMsgs is the diag of pageSteps that most page tests use.
const accountMsgs = `document.getElementById("account-msg").textContent + " | " + document.getElementById("pl-msg").textContent`

// signInActions opens the page at url and signs in as user (with
// testbed.Password), creating the account first when signUp, then waits
// until the element shown signed in is visible.
func signInActions(url, user string, signUp bool, shown string) []chromedp.Action[chromedp.Void] {
	as := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url + "/"),
		chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", user),
		chromedp.SendKeys("#pass", testbed.Password),
	}
	if signUp {
		as = append(as, chromedp.Click("#signup"))
	}
	return append(as, chromedp.Click("#login button[type=submit]"), chromedp.WaitVisible(shown))
}

// playOneSecondScript returns JS for an async page script holding a
// signed-in session s: it defines sleep, st (s's latest status), played
// (the play events seen) and t0 (when the play began), plays album from
// its first track and waits until s plays at 1 s or more into it,
// throwing "not playing: <status>" after 20 s.
func playOneSecondScript(album model.AlbumID) string {
	return fmt.Sprintf(`
	const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
	let st = s.status(), played = 0;
	s.on("status", (x) => { st = x; });
	s.on("play", () => { played++; });
	await s.playAlbum(%q, 0);
	const t0 = performance.now();
	while (st.state !== "playing" || st.position < 1) {
		if (performance.now() - t0 > 20000) throw new Error("not playing: " + JSON.stringify(st));
		await sleep(20);
	}
`, album)
}

// compareScript returns JS that fetches the reference and compares it
// with the Float32Array named data: length, max |difference|, first
// sample over 1e-6.
const compareScript = `
	const ref = new Float32Array(await (await fetch("/test/native.f32")).arrayBuffer());
	let maxDiff = 0, firstDiff = -1;
	const n = Math.min(data.length, ref.length);
	for (let i = 0; i < n; i++) {
		const d = Math.abs(data[i] - ref[i]);
		if (d > maxDiff) maxDiff = d;
		if (d > 1e-6 && firstDiff < 0) firstDiff = i;
	}
`

type comparison struct {
	Frames      int     `json:"frames"`
	NativeFrame int     `json:"nativeFrames"`
	MaxDiff     float64 `json:"maxDiff"`
	FirstDiff   int     `json:"firstDiff"`
	Underruns   int     `json:"underruns"`
	Shared      bool    `json:"shared"`
	Isolated    bool    `json:"isolated"`
	RenderMs    float64 `json:"renderMs"`
}

// TestBrowserAlbumMatchesNative signs up in the page served by a real
// relay, plays the whole demo album through the wasm engine and the
// AudioWorklet (SharedArrayBuffer ring) rendered in an
// OfflineAudioContext (paced by suspend, so faster than real time), and
// compares every frame the worklet played with the native player's
// output for the same album, tier and gain: same length, no silence
// inserted between frames, max difference ≤ 1e-6.
func TestBrowserAlbumMatchesNative(t *testing.T) {
	got := offlineAlbum(t, 0, false)
	if !got.Isolated || !got.Shared {
		t.Errorf("page not cross-origin isolated with a SharedArrayBuffer ring: %+v", got)
	}
	if got.Frames != demoalbum.TotalSamples {
		t.Errorf("album is %d frames, want %d", got.Frames, demoalbum.TotalSamples)
	}
}

// TestBrowserPostMessageFallback is the same comparison for the last
// track through the postMessage output a page without cross-origin
// isolation uses.
func TestBrowserPostMessageFallback(t *testing.T) {
	if got := offlineAlbum(t, 3, true); got.Shared {
		t.Errorf("output used shared memory with noSharedMemory set")
	}
}

// offlineAlbum renders the demo album from track start in an
// OfflineAudioContext at 44.1 kHz, tier low, and fails unless the
// worklet's output equals the native player's.
func offlineAlbum(t *testing.T, start int, noShared bool) comparison {
	ref := &reference{}
	r := webRelay(t, ref)
	const rate = 44100
	t0 := time.Now()
	ref.set(nativeAlbum(t, r, rate, model.TierLow, start, 0))
	nativeMs := float64(time.Since(t0).Microseconds()) / 1000
	ctx := openPage(t, r)
	got := run[comparison](t, ctx, fmt.Sprintf(`(async () => {
		const rate = %d, nativeFrames = %d;
		const oc = new OfflineAudioContext({numberOfChannels: 2, length: nativeFrames + rate, sampleRate: rate});
		const s = await segue.open(location.origin, {audioContext: oc, capture: true, tier: "low", noSharedMemory: %t});
		await s.signUp("webuser", %q);
		await s.login("webuser", %q);
		let ended = false;
		s.on("status", (st) => { if (st.state === "ended") ended = true; if (st.error) console.error(st.error); });
		// Render 4096 frames at a time, each once the output holds 8192
		// (the fallback's count of consumed frames may lag by 1024). A
		// round trip to the worklet (outputStats) before rendering on:
		// the fallback posts frames, and the worklet's port is FIFO, so
		// its answer means every posted frame has arrived, not only left.
		// After the end, pacing goes on while frames wait in the output:
		// on a loaded machine the engine ends with some still to post.
		const quantum = 4096, step = quantum / rate;
		const pause = () => new Promise((r) => setTimeout(r, 1));
		const paced = async (at) => {
			while (!ended && s.buffered() < 2 * quantum) await pause();
			await s.outputStats();
			const next = at + step;
			if ((!ended || s.buffered() > 0) && next < oc.length / rate) oc.suspend(next).then(() => paced(next));
			oc.resume();
		};
		oc.suspend(step).then(() => paced(step));
		await s.playAlbum(%q, %d);
		while (!ended && s.buffered() < 2 * quantum) await pause();
		await s.outputStats();
		const t0 = performance.now();
		await oc.startRendering();
		const renderMs = performance.now() - t0;
		const cap = await s.captured();
		const data = cap.data;
		%s
		return {frames: data.length / 2, nativeFrames: ref.length / 2, maxDiff, firstDiff, underruns: cap.underruns,
			shared: s.sharedMemory, isolated: crossOriginIsolated, renderMs};
	})()`, rate, len(ref.buf)/2, noShared, testbed.Password, testbed.Password, r.Album, start, compareScript))
	t.Logf("browser: %+v", got)
	t.Logf("render %d frames: native engine %.0f ms (sign-in to end), browser %.0f ms (OfflineAudioContext), ratio %.1f",
		got.Frames, nativeMs, got.RenderMs, got.RenderMs/nativeMs)
	if got.Frames != got.NativeFrame || got.Underruns != 0 || got.MaxDiff > 1e-6 {
		t.Fatalf("worklet played %d frames (native %d), %d underrun frames, max diff %g (first at sample %d)",
			got.Frames, got.NativeFrame, got.Underruns, got.MaxDiff, got.FirstDiff)
	}
	return got
}

type controls struct {
	comparison
	Paused1, Paused2, Resumed float64
	TierAfterNext             string `json:"tierAfterNext"`
	IndexAfterNext            int    `json:"indexAfterNext"`
	SeekFrame                 float64
	Rate                      float64 `json:"rate"`
}

// TestBrowserRealtimePlayer is the real-time path: a user signs up
// through the page's form, then the page plays (through a running
// AudioContext) the last 1.5 s of track 2 and into track 3; what the
// worklet played across the track change must equal the native
// player's output from the same start frame, with no underrun. Then
// pause holds the output, resume restarts it, a tier change applies to
// the next track, and seek lands on the asked position.
func TestBrowserRealtimePlayer(t *testing.T) {
	ref := &reference{}
	r := webRelay(t, ref)
	ctx := browsertest.New(t)
	steps := []struct {
		name string
		a    chromedp.Action[chromedp.Void]
	}{
		{"open the page", chromedp.Navigate(r.URL + "/?test-capture")},
		{"sign-in form", chromedp.WaitVisible("#user")},
		{"user name", chromedp.SendKeys("#user", "listener")},
		{"password", chromedp.SendKeys("#pass", testbed.Password)},
		{"create account", chromedp.Click("#signup")},
		{"sign in", chromedp.Click("#login button[type=submit]")},
		{"library", chromedp.WaitVisible("#library")},
		{"search", chromedp.SendKeys("#q", "harbour lights")},
		{"submit search", chromedp.Click("#find button[type=submit]")},
		{"results", chromedp.WaitVisible("#results li button")},
	}
	for _, st := range steps {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := chromedp.Run(sctx, st.a)
		cancel()
		if err != nil {
			msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("account-msg").textContent + " | " + document.getElementById("results").textContent`))
			t.Fatalf("%s: %v (page says %q)", st.name, err, msg)
		}
	}
	rate := run[int](t, ctx, `Promise.resolve(window.segueSession.audioContext.sampleRate)`)
	trackLen := int64(682706) * int64(rate) / demoalbum.Rate
	start := trackLen - int64(rate)*3/2
	ref.set(nativeAlbum(t, r, rate, model.TierLow, 1, start))

	got := run[controls](t, ctx, fmt.Sprintf(`(async () => {
		const s = window.segueSession, rate = s.audioContext.sampleRate;
		let st = s.status();
		s.on("status", (x) => { st = x; });
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
		await s.playAlbum(%q, 1, %d);
		await until("track 3", () => st.index === 2 && st.frame >= 1.5 * rate, 20000);
		await sleep(1000); // the status runs ahead of the worklet by what the buffer holds
		const cap = await s.captured();
		const data = cap.data;
		%s
		await s.pause();
		await until("paused", () => st.state === "paused", 3000);
		await sleep(800);
		const paused1 = (await s.outputStats()).played;
		await sleep(300);
		const paused2 = (await s.outputStats()).played;
		await s.resume();
		await until("playing", () => st.state === "playing", 3000);
		await sleep(300);
		const resumed = (await s.outputStats()).played;
		await s.setTier("normal");
		await s.next();
		await until("track 4", () => st.index === 3 && st.state === "playing", 5000);
		const tierAfterNext = st.tier, indexAfterNext = st.index;
		await s.seek(5);
		await until("seek", () => st.frame >= 5 * rate && st.frame < 6 * rate, 3000);
		return {frames: data.length / 2, nativeFrames: ref.length / 2, maxDiff, firstDiff, underruns: cap.underruns,
			shared: s.sharedMemory, isolated: crossOriginIsolated, Paused1: paused1, Paused2: paused2, Resumed: resumed,
			tierAfterNext, indexAfterNext, SeekFrame: st.frame, rate};
	})()`, r.Album, start, compareScript))
	t.Logf("browser: %+v", got)
	if got.Frames < rate*5/2 || got.Frames > got.NativeFrame || got.Underruns != 0 || got.MaxDiff > 1e-6 {
		t.Fatalf("across the track change the worklet played %d frames (native %d), %d underrun frames, max diff %g (first at %d)",
			got.Frames, got.NativeFrame, got.Underruns, got.MaxDiff, got.FirstDiff)
	}
	if got.Paused1 != got.Paused2 || got.Resumed <= got.Paused2 {
		t.Errorf("pause/resume: played %v then %v while paused, %v after resume", got.Paused1, got.Paused2, got.Resumed)
	}
	if got.TierAfterNext != "normal" || got.IndexAfterNext != 3 {
		t.Errorf("after setTier(normal) and next: track %d at tier %q", got.IndexAfterNext, got.TierAfterNext)
	}
	// At rest: nothing in IndexedDB is clear audio or a clear secret, and
	// the wrapping key cannot be exported.
	rest := run[struct {
		Records     int    `json:"records"`
		OggS        int    `json:"oggs"`
		Token       int    `json:"token"`
		Extractable bool   `json:"extractable"`
		KeyType     string `json:"keyType"`
	}](t, ctx, `(async () => {
		const token = new TextEncoder().encode(await window.segueSession.token());
		const all = async (name, store) => {
			const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
			return await new Promise((res, rej) => { const r = db.transaction(store).objectStore(store).getAll(); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
		};
		const bytes = (v) => v instanceof ArrayBuffer ? [new Uint8Array(v)] : ArrayBuffer.isView(v) ? [new Uint8Array(v.buffer, v.byteOffset, v.byteLength)]
			: v && typeof v === "object" && !(v instanceof CryptoKey) ? Object.values(v).flatMap(bytes) : [];
		const find = (hay, needle) => { outer: for (let i = 0; i + needle.length <= hay.length; i++) { for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer; return true; } return false; };
		const oggs = new TextEncoder().encode("OggS");
		let records = 0, nOgg = 0, nTok = 0, extractable = true, keyType = "";
		for (const [db, st] of [["segue-keys", "keys"]]) {
			for (const v of await all(db, st)) {
				records++;
				if (v instanceof CryptoKey) { extractable = v.extractable; keyType = v.algorithm.name; }
				for (const b of bytes(v)) { if (find(b, oggs)) nOgg++; if (find(b, token)) nTok++; }
			}
		}
		return {records, oggs: nOgg, token: nTok, extractable, keyType};
	})()`)
	t.Logf("IndexedDB at rest: %+v", rest)
	if rest.Records < 3 || rest.OggS != 0 || rest.Token != 0 || rest.Extractable || rest.KeyType != "AES-GCM" {
		t.Errorf("IndexedDB at rest: %+v; want the wrapping key, identity and token records, no OggS, no clear token, a non-extractable AES-GCM key", rest)
	}
	// A reload keeps the device: the page opens on the library, signed in.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := chromedp.Run(rctx, chromedp.Steps(chromedp.Reload(), chromedp.WaitVisible("#library")))
	cancel()
	if err != nil {
		t.Fatalf("after reload the page is not signed in: %v", err)
	}
	if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
		t.Errorf("screenshot: %v", err)
	} else if dir := os.Getenv("SEGUE_ARTIFACTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "web-player.png"), shot, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// firstWriteSink records when the first frames arrive.
type firstWriteSink struct {
	once  sync.Once
	first chan time.Time
}

func (s *firstWriteSink) Format() (int, int) { return 44100, 2 }
func (s *firstWriteSink) Write(ctx context.Context, f []float32) error {
	s.once.Do(func() { s.first <- time.Now() })
	return ctx.Err()
}
func (s *firstWriteSink) Close() error { return nil }

// profilePlay enables the DevTools profiler on the page of ctx and
// writes the profile its console.profileEnd("play") finishes to path.
// The channel it returns is closed when the profile is written (or
// failed, reported on b).
func profilePlay(b *testing.B, ctx context.Context, path string) <-chan struct{} {
	b.Helper()
	events := chromedp.Events(ctx, profiler.ConsoleProfileFinished)
	if _, err := chromedp.Call(ctx, profiler.Enable, cdp.Empty{}); err != nil {
		b.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 100}); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range events {
			if err == nil {
				var j []byte
				if j, err = json.Marshal(ev.Profile); err == nil {
					err = os.WriteFile(path, j, 0o644)
				}
			}
			if err != nil {
				b.Errorf("profile %s: %v", path, err)
			}
			return
		}
	}()
	return done
}

// BenchmarkWebPlayer measures, on one loopback relay, with fresh browser
// profiles and fresh native devices each iteration:
//
//   - page load to ready: navigation start to the page's own session
//     open (the "segue:session" event app.js dispatches once segue.open
//     resolved: page, wasm fetched and compiled, engine and worklet
//     running), on the Performance API's clock; again on a reload in the
//     same profile (signed in, module in the HTTP cache);
//   - time to first audio, cold (right after login: nothing of the album
//     fetched, the decoder's wasm functions never called), web and
//     native from the same state: web = the page's "segue:play" mark (the
//     play call) to its "segue:ring" mark (the first frames written into
//     the worklet's buffer, the moment they are); native =
//     core.Engine.PlayAlbum to the first Sink.Write. Both include the
//     album's metadata request, the manifest, content key, header and
//     chunk 0 requests, their checks, the decrypt, the decoder's setup
//     and first blocks and the player chain. Also logged: the web's
//     "polled" figure (play call to the first buffered() > 0 seen by a
//     setTimeout loop — the previous definition, late by however long the
//     engine ran before yielding the main thread) and "heard" (to the
//     first quantum the worklet played with audio, at the output's
//     timestamp, after its priming);
//   - time to first audio, prefetched: in another fresh profile the page
//     readies the album's first three tracks as when the listener opens
//     the album (session.prefetch), then plays; native from the same state
//     (core.Engine.Prefetch of those tracks: manifest, header, chunk 0
//     and key cached, the decoded head), then PlayAlbum.
//     Also logged: native after core.Engine.OpenTrack of those tracks
//     (everything but the decoded head: the native state before heads);
//   - the same, "paused": in a fourth fresh profile (and on a fresh
//     native device) the play comes listenerPause after the prefetch, as
//     a listener's click does, not at once;
//   - the cold play's floor: in a third fresh profile, the same page
//     times with performance.now() plain fetch() calls of exactly the
//     requests a cold play sends, in its order (the album; then the
//     stream key, the first track's manifest, header and chunk 0 at
//     once), every body read to its end and nothing processed: what the
//     browser itself needs before any first audio. Also logged: the same
//     requests from Go's HTTP client (the native side's floor).
//
// The page's own milestone marks ("segue:…", ms after "segue:play") are
// logged per run. With SEGUE_WEB_CPUPROFILE=<dir>, each play (call to
// "segue:heard") is also recorded by the DevTools CPU profiler (100 µs
// sampling) into <dir>/{cold,prefetched,paused}-<run>.cpuprofile (open in the
// DevTools Performance panel; Go's wasm functions are named when the
// module is built without -s).
//
//	go test -run '^$' -bench BenchmarkWebPlayer -benchtime 1x -count 3 ./server/web
func BenchmarkWebPlayer(b *testing.B) {
	r := webRelay(b, &reference{})
	type timing struct {
		Ready    float64            `json:"ready"`
		Polled   float64            `json:"polled"`
		Marks    map[string]float64 `json:"marks"`
		Requests []string           `json:"requests"` // path start→end (ms after the play call)
		Rate     float64            `json:"rate"`     // the AudioContext's sample rate
	}
	var ready, again, web, webPolled, heard, native, webWarm, heardWarm, nativeWarm, nativeOpened, floor, netFloor float64
	var webPaused, nativePaused float64
	// listenerPause is the time between the prefetch's end and the play in
	// the "paused" prefetched runs, as a listener's click on the album the
	// page just readied comes: a play right after the prefetch meets V8's
	// background tier-up compiles of the code the prefetch ran, which take
	// the cores from the page's thread (docs/BENCHMARKS.md, pre12).
	const listenerPause = 300 * time.Millisecond
	waitReady := `(async () => {
		while (!window.segueSession || !performance.getEntriesByName("bench:ready").length) {
			if (performance.now() > 60000) throw new Error("the page opened no session");
			await new Promise((r) => setTimeout(r, 5));
		}
		return performance.getEntriesByName("bench:ready")[0].startTime;
	})()`
	// play signs a fresh user up, optionally prefetches the album's
	// first three tracks (and waits pause after it), plays it and returns
	// the marks after the play call, relative to it.
	play := func(ctx context.Context, user string, prefetch bool, pause time.Duration) timing {
		return run[timing](b, ctx, fmt.Sprintf(`(async () => {
			const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
			const ready = await %s;
			const s = window.segueSession;
			await s.signUp(%q, %q);
			await s.login(%q, %q);
			if (%t) {
				const a = await s.album(%q);
				await s.prefetch(a.tracks.slice(0, 3).map((t) => t.id));
				if (%d > 0) await sleep(%d);
			}
			if (window.__segueProfile) console.profile("play");
			const t0 = performance.now();
			await s.playAlbum(%q, 0);
			while (s.buffered() === 0) await sleep(0);
			const polled = performance.now() - t0;
			const last = (n) => { const e = performance.getEntriesByName(n); return e.length ? e[e.length - 1].startTime : -1; };
			const start = performance.now();
			while (last("segue:heard") < last("segue:play")) {
				if (performance.now() - start > 30000) throw new Error("no segue:heard mark");
				await sleep(5);
			}
			if (window.__segueProfile) console.profileEnd("play");
			const p = last("segue:play"), marks = {};
			for (const m of performance.getEntriesByType("mark")) if (m.name.startsWith("segue:") && m.startTime >= p) marks[m.name] ??= Math.round((m.startTime - p) * 1000) / 1000;
			const res = [];
			for (const e of performance.getEntriesByType("resource")) if (e.startTime >= p) res.push(new URL(e.name).pathname.slice(0, 24) + " " + Math.round(e.startTime - p) + "→" + Math.round(e.responseEnd - p));
			return {ready, polled, marks, requests: res, rate: s.audioContext.sampleRate};
		})()`, waitReady, user, testbed.Password, user, testbed.Password, prefetch, r.Album, pause.Milliseconds(), pause.Milliseconds(), r.Album))
	}
	// nativeFirst measures a native play of the album by a fresh device:
	// cold, or after readying its first three tracks with
	// core.Engine.Prefetch (as the page does: manifest, header, chunk 0,
	// key and the decoded head; then waiting pause), or with OpenTrack
	// alone (the native "prefetched" state before heads: everything but
	// the head).
	const (
		cold = iota
		prefetched
		opened
	)
	nativeFirst := func(user string, state int, pause time.Duration) float64 {
		e := testbed.Device(b, r, model.UserID(user))
		sink := &firstWriteSink{first: make(chan time.Time, 1)}
		if _, err := e.OpenPlayer(sink, player.DefaultOptions().WithTier(model.TierHigh)); err != nil {
			b.Fatal(err)
		}
		first := r.Tracks[:min(3, len(r.Tracks))]
		switch state {
		case prefetched:
			if err := e.Prefetch(b.Context(), model.TierHigh, first); err != nil {
				b.Fatal(err)
			}
			time.Sleep(pause)
		case opened:
			for _, id := range first {
				if _, err := e.OpenTrack(b.Context(), id, model.TierHigh); err != nil {
					b.Fatal(err)
				}
			}
		}
		t0 := time.Now()
		if err := e.PlayAlbum(b.Context(), r.Album, 0); err != nil {
			b.Fatal(err)
		}
		ms := float64((<-sink.first).Sub(t0).Microseconds()) / 1000
		if err := e.ClosePlayer(); err != nil {
			b.Fatal(err)
		}
		return ms
	}
	// browserFloor signs a fresh user up on the page and times, with
	// plain fetch() and performance.now(), exactly the requests a cold
	// play sends in its order (album; then the stream key, the first
	// track's manifest, header and chunk 0 at once), each body read to
	// its end and nothing else done: what a browser needs at least for a
	// cold play's first audio on this machine.
	type floorTiming struct {
		MS       float64  `json:"ms"`
		Requests []string `json:"requests"` // path start→end (ms after t0)
	}
	browserFloor := func(ctx context.Context, user string) floorTiming {
		return run[floorTiming](b, ctx, fmt.Sprintf(`(async () => {
			await %s;
			const s = window.segueSession;
			await s.signUp(%q, %q);
			await s.login(%q, %q);
			const auth = "Bearer " + await s.token();
			const body = async (path, init) => {
				const r = await fetch(path, {credentials: "same-origin", ...init});
				if (!r.ok) throw new Error(path + ": status " + r.status);
				return r.arrayBuffer();
			};
			const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(%d)))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
			const t0 = performance.now();
			const album = JSON.parse(new TextDecoder().decode(await body("/v1/albums/" + encodeURIComponent(%q), {headers: {Accept: "application/json", Authorization: auth}})));
			const track = "/v1/audio/" + encodeURIComponent(album.tracks[0].id) + "/" + %q;
			await Promise.all([
				body("/v1/keys/stream?nonce=" + nonce, {method: "POST", headers: {"Content-Type": "application/json", Accept: "application/json", Authorization: auth},
					body: JSON.stringify({track: album.tracks[0].id, tier: %q})}),
				body(track + "/manifest", {headers: {Authorization: auth}}),
				body(track + "/header", {headers: {Authorization: auth}}),
				body(track + "/chunks/0", {headers: {Authorization: auth}}),
			]);
			const ms = performance.now() - t0, res = [];
			for (const e of performance.getEntriesByType("resource")) if (e.startTime >= t0) res.push(new URL(e.name).pathname.slice(0, 24) + " " + Math.round(e.startTime - t0) + "→" + Math.round(e.responseEnd - t0));
			return {ms, requests: res};
		})()`, waitReady, user, testbed.Password, user, testbed.Password, api.NonceSize, r.Album, model.TierHigh, model.TierHigh))
	}
	// nativeFloor is browserFloor from Go's own HTTP client (one
	// keep-alive connection opened first, as the engine's login leaves
	// one).
	nativeFloor := func(user string) float64 {
		e := testbed.Device(b, r, model.UserID(user))
		c := &http.Client{}
		defer c.CloseIdleConnections()
		body := func(method, path, accept, body string) error {
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, err := http.NewRequestWithContext(b.Context(), method, r.URL+path, rd)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+e.Token())
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
			}
			return nil
		}
		if err := body(http.MethodGet, "/v1/catalog/key", "application/json", ""); err != nil {
			b.Fatal(err)
		}
		nonce := make([]byte, api.NonceSize)
		if _, err := rand.Read(nonce); err != nil {
			b.Fatal(err)
		}
		key, err := json.Marshal(api.StreamKeyRequest{Track: r.Tracks[0], Tier: model.TierHigh})
		if err != nil {
			b.Fatal(err)
		}
		track := "/v1/audio/" + url.PathEscape(string(r.Tracks[0])) + "/" + string(model.TierHigh)
		t0 := time.Now()
		if err := body(http.MethodGet, "/v1/albums/"+url.PathEscape(string(r.Album)), "application/json", ""); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		wg.Go(func() {
			errs[0] = body(http.MethodPost, "/v1/keys/stream?nonce="+base64.RawURLEncoding.EncodeToString(nonce), "application/json", string(key))
		})
		for i, p := range []string{"/manifest", "/header", "/chunks/0"} {
			wg.Go(func() { errs[i+1] = body(http.MethodGet, track+p, "", "") })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		return float64(time.Since(t0).Microseconds()) / 1000
	}
	profiles := os.Getenv("SEGUE_WEB_CPUPROFILE")
	var profiled []<-chan struct{}
	newPage := func(name string) context.Context {
		ctx := browsertest.New(b)
		src := `document.addEventListener("segue:session", () => performance.mark("bench:ready"), {once: true});`
		if profiles != "" {
			src += `window.__segueProfile = true;`
			profiled = append(profiled, profilePlay(b, ctx, filepath.Join(profiles, name+".cpuprofile")))
		}
		// Installed before the page's scripts run, so the event is not
		// missed however early the session opens.
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
			b.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(r.URL+"/")); err != nil {
			b.Fatal(err)
		}
		return ctx
	}
	for i := 0; i < b.N; i++ {
		user := fmt.Sprintf("bench%d-%d", i, time.Now().UnixNano())
		ctx := newPage(fmt.Sprintf("cold-%d", i))
		got := play(ctx, user, false, 0)
		ready += got.Ready
		web += got.Marks["segue:ring"]
		webPolled += got.Polled
		heard += got.Marks["segue:heard"]
		if err := chromedp.Do(ctx, chromedp.Navigate(r.URL+"/")); err != nil {
			b.Fatal(err)
		}
		repeat := run[float64](b, ctx, waitReady)
		again += repeat
		n := nativeFirst(user+"n", cold, 0)
		native += n
		b.Logf("run %d cold: ready %.0f ms, first audio web %.1f ms (polled %.0f ms, heard %.0f ms), native %.1f ms, marks %v, requests %q; ready on reload %.0f ms",
			i, got.Ready, got.Marks["segue:ring"], got.Polled, got.Marks["segue:heard"], n, got.Marks, got.Requests, repeat)
		f := browserFloor(newPage(fmt.Sprintf("floor-%d", i)), user+"f")
		floor += f.MS
		nf := nativeFloor(user + "nf")
		netFloor += nf
		b.Logf("run %d cold floor: browser fetch() of the cold play's requests %.1f ms (requests %q), Go's HTTP client %.1f ms; browser floor / native first audio %.2f",
			i, f.MS, f.Requests, nf, f.MS/n)

		warmPage := newPage(fmt.Sprintf("prefetched-%d", i))
		warm := play(warmPage, user+"w", true, 0)
		webWarm += warm.Marks["segue:ring"]
		heardWarm += warm.Marks["segue:heard"]
		n = nativeFirst(user+"wn", prefetched, 0)
		nativeWarm += n
		o := nativeFirst(user+"on", opened, 0)
		nativeOpened += o
		b.Logf("run %d prefetched: first audio web %.1f ms (polled %.0f ms, heard %.0f ms), native %.1f ms (opened only %.1f ms), marks %v, requests %q, context %.0f Hz",
			i, warm.Marks["segue:ring"], warm.Polled, warm.Marks["segue:heard"], n, o, warm.Marks, warm.Requests, warm.Rate)

		// Stopped, so that its decoding does not run beside the next play
		// (the cold page stopped when it reloaded).
		run[bool](b, warmPage, `window.segueSession.stop().then(() => true)`)
		paused := play(newPage(fmt.Sprintf("paused-%d", i)), user+"p", true, listenerPause)
		webPaused += paused.Marks["segue:ring"]
		np := nativeFirst(user+"pn", prefetched, listenerPause)
		nativePaused += np
		b.Logf("run %d prefetched, played %v after: first audio web %.1f ms (heard %.0f ms), native %.1f ms, marks %v",
			i, listenerPause, paused.Marks["segue:ring"], paused.Marks["segue:heard"], np, paused.Marks)
	}
	for _, done := range profiled {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Error("a play's CPU profile did not arrive")
		}
	}
	n := float64(b.N)
	b.ReportMetric(ready/n, "ms-page-ready")
	b.ReportMetric(again/n, "ms-page-ready-reload")
	b.ReportMetric(web/n, "ms-first-audio-web")
	b.ReportMetric(webPolled/n, "ms-first-audio-web-polled")
	b.ReportMetric(heard/n, "ms-heard-web")
	b.ReportMetric(native/n, "ms-first-audio-native")
	b.ReportMetric(web/native, "web/native")
	b.ReportMetric(floor/n, "ms-floor-browser")
	b.ReportMetric(netFloor/n, "ms-floor-native")
	b.ReportMetric(floor/native, "floor/native")
	b.ReportMetric(webWarm/n, "ms-first-audio-web-prefetched")
	b.ReportMetric(heardWarm/n, "ms-heard-web-prefetched")
	b.ReportMetric(nativeWarm/n, "ms-first-audio-native-prefetched")
	b.ReportMetric(nativeOpened/n, "ms-first-audio-native-opened")
	b.ReportMetric(webWarm/nativeWarm, "web/native-prefetched")
	b.ReportMetric(webPaused/n, "ms-first-audio-web-prefetched-paused")
	b.ReportMetric(nativePaused/n, "ms-first-audio-native-prefetched-paused")
	b.ReportMetric(webPaused/nativePaused, "web/native-prefetched-paused")
}
