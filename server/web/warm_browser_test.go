package web_test

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// warmResult is what TestBrowserWarmUp's page reports.
type warmResult struct {
	comparison
	// The first session's warm-up.
	DryFrames int      `json:"dryFrames"`
	Buffered  int      `json:"buffered"`
	Statuses  int      `json:"statuses"`
	Plays     int      `json:"plays"`
	State     string   `json:"state"`
	Requests  []string `json:"requests"`
	Marks     []string `json:"marks"`
	// The second session's: writes refused while the play was called.
	HeldCalls int `json:"heldCalls"`
}

// TestBrowserWarmUp: the engine's warm-up in a real page. The test sees
// the dry output a session's warm-up writes to by wrapping the bridge's
// open. First, a whole warm-up plays into that dry output and leaves no
// trace: nothing in the worklet's ring, no status or play event, no
// request, no mark. Then, in a second session whose dry output refuses
// frames (a full ring, as a busy worklet's) so that its warm-up is held in
// the middle of its play's first block, the listener signs in, prefetches
// and plays the album's last track: the worklet's output (an
// OfflineAudioContext) equals the native player's, every frame, with no
// underrun.
func TestBrowserWarmUp(t *testing.T) {
	ref := &reference{}
	r := webRelay(t, ref)
	const rate, start = 44100, 3
	ref.set(nativeAlbum(t, r, rate, model.TierLow, start, 0))
	ctx := openPage(t, r)
	got := run[warmResult](t, ctx, fmt.Sprintf(`(async () => {
		const rate = %d;
		const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
		const until = async (what, f, ms) => {
			const t0 = performance.now();
			while (!f()) {
				if (performance.now() - t0 > ms) throw new Error("timed out waiting for " + what);
				await sleep(5);
			}
		};
		// The page's own session opens first (its warm-up is not observed).
		await until("the page's session", () => window.segueSession, 60000);
		const dry = {frames: 0, calls: 0, hold: false};
		const open = segueBridge.open;
		segueBridge.open = (relay, out, o) => {
			const push = o.warmOutput.push;
			o.warmOutput.push = (off, n) => {
				dry.calls++;
				if (dry.hold) return 0;
				const k = push(off, n);
				dry.frames += k;
				return k;
			};
			return open(relay, out, o);
		};
		const loadMarks = new Set(["segue:wasm-compiled", "segue:engine-started", "segue:worklet", "segue:bridge-open"]);

		const t0 = performance.now();
		const a = await segue.open(location.origin, {audioContext: new OfflineAudioContext({numberOfChannels: 2, length: rate, sampleRate: rate}), tier: "low", persist: false});
		let statuses = 0, plays = 0;
		a.on("status", () => statuses++);
		a.on("play", () => plays++);
		await until("the warm-up's play", () => dry.frames > 0, 30000);
		for (let seen = -1; seen !== dry.frames; ) { seen = dry.frames; await sleep(300); }
		const requests = performance.getEntriesByType("resource").filter((e) => e.startTime >= t0).map((e) => new URL(e.name).pathname);
		const marks = performance.getEntriesByType("mark").filter((m) => m.startTime >= t0 && m.name.startsWith("segue:") && !loadMarks.has(m.name)).map((m) => m.name);
		const first = {dryFrames: dry.frames, buffered: a.buffered(), statuses, plays, state: a.status().state, requests, marks};
		await a.close();

		dry.calls = 0;
		dry.hold = true;
		const oc = new OfflineAudioContext({numberOfChannels: 2, length: %d + rate, sampleRate: rate});
		const s = await segue.open(location.origin, {audioContext: oc, capture: true, tier: "low", persist: false});
		await until("the held warm-up's play", () => dry.calls > 0, 30000);
		await s.signUp("warmer", %q);
		await s.login("warmer", %q);
		const album = await s.album(%q);
		await s.prefetch(album.tracks.slice(%d).map((t) => t.id));
		let ended = false;
		s.on("status", (st) => { if (st.state === "ended") ended = true; if (st.error) console.error(st.error); });
		const pause = () => new Promise((r) => setTimeout(r, 1));
		%s
		oc.suspend(step).then(() => paced(step));
		await s.playAlbum(%q, %d);
		const heldCalls = dry.calls;
		dry.hold = false;
		await fill();
		await oc.startRendering();
		const cap = await s.captured();
		const data = cap.data;
		%s
		await s.close();
		return {...first, heldCalls, frames: data.length / 2, nativeFrames: ref.length / 2, maxDiff, firstDiff, underruns: cap.underruns,
			shared: s.sharedMemory, isolated: crossOriginIsolated};
	})()`, rate, len(ref.buf)/2, testbed.Password, testbed.Password, r.Album, start, pacedScript, r.Album, start, compareScript))
	t.Logf("page: %+v", got)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"the warm-up played into its dry output", got.DryFrames > 0},
		{"the worklet's ring is empty", got.Buffered == 0},
		{"no status", got.Statuses == 0 && got.State == "idle"},
		{"no play event", got.Plays == 0},
		{"no request", len(got.Requests) == 0},
		{"no mark", len(got.Marks) == 0},
		{"the play came while the warm-up was held in its play", got.HeldCalls > 0},
		{"the play after it equals native's", got.Frames == got.NativeFrame && got.Underruns == 0 && got.MaxDiff <= 1e-6},
	} {
		if !tc.ok {
			t.Errorf("%s: false", tc.name)
		}
	}
}
