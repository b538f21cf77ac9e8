package web_test

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestBrowserPlayAfterFlush buffers the end of the demo album's last
// track — a play of its last buffer's worth (the buffer then full) or of
// half of it — in an OfflineAudioContext that has not started rendering,
// so the worklet applies no flush (with the ring: its control words); the
// player is then idle. Then it plays the album from that track,
// prefetched: with room in the buffer the play call writes its first block
// before the worklet's next quantum, after the flushed frames, and it must
// be kept; with the buffer full the play's writes wait until the worklet
// renders and applies the flush. Everything the worklet plays
// must equal the native player's output of the track: the same length,
// no silence inserted, max difference ≤ 1e-6 — through the shared-memory
// ring's control words and through the postMessage fallback.
func TestBrowserPlayAfterFlush(t *testing.T) {
	ref := &reference{}
	r := webRelay(t, ref)
	const rate, capacity = 44100, 32768
	ref.set(nativeAlbum(t, r, rate, model.TierLow, 3, 0))
	for i, tc := range []struct {
		name     string
		noShared bool
		buffered int // frames the first play leaves in the buffer
	}{
		{"shared ring, full", false, capacity},
		{"shared ring, half full", false, capacity / 2},
		{"postMessage, full", true, capacity},
		{"postMessage, half full", true, capacity / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := openPage(t, r)
			type result struct {
				comparison
				Written  int `json:"written"`
				Buffered int `json:"buffered"`
			}
			user := fmt.Sprintf("flusher%d", i)
			got := run[result](t, ctx, fmt.Sprintf(`(async () => {
				const rate = %d, capacity = %d, first = %d, nativeFrames = %d, album = %q;
				const oc = new OfflineAudioContext({numberOfChannels: 2, length: nativeFrames + rate, sampleRate: rate});
				const s = await segue.open(location.origin, {audioContext: oc, capture: true, tier: "low", bufferFrames: capacity, noSharedMemory: %t, persist: false});
				await s.signUp(%q, %q);
				await s.login(%q, %q);
				const a = await s.album(album);
				await s.prefetch([a.tracks[3].id]);
				let ended = false;
				s.on("status", (st) => { if (st.state === "ended") ended = true; if (st.error) console.error(st.error); });
				const pause = () => new Promise((r) => setTimeout(r, 1));
				// The track's last frames: written at once, the player ends.
				await s.playAlbum(album, 3, nativeFrames - first);
				for (const t0 = performance.now(); !ended; await pause()) {
					if (performance.now() - t0 > 20000) throw new Error("the first play did not end; buffered " + s.buffered());
				}
				await s.outputStats();
				const buffered = s.buffered();
				ended = false;
				const playing = s.playAlbum(album, 3);
				const written = s.buffered() - buffered;
				// Render 4096 frames at a time, each once the output holds
				// 8192 (a round trip to the worklet first and last: the
				// fallback's consumed count and posted frames are current);
				// first one render quantum, in which the worklet applies the
				// flushes.
				%s
				oc.suspend(128 / rate).then(() => paced(128 / rate));
				await oc.startRendering();
				await playing;
				const cap = await s.captured();
				const data = cap.data;
				%s
				return {frames: data.length / 2, nativeFrames: ref.length / 2, maxDiff, firstDiff, underruns: cap.underruns,
					shared: s.sharedMemory, isolated: crossOriginIsolated, written, buffered};
			})()`, rate, capacity, tc.buffered, len(ref.buf)/2, r.Album, tc.noShared, user, testbed.Password, user, testbed.Password, pacedScript, compareScript))
			t.Logf("browser: %+v", got)
			if got.Shared == tc.noShared {
				t.Errorf("shared memory %v with noSharedMemory %v", got.Shared, tc.noShared)
			}
			if got.Buffered != tc.buffered {
				t.Errorf("the first play left %d frames buffered, want %d", got.Buffered, tc.buffered)
			}
			if tc.buffered < capacity && got.Written <= 0 {
				t.Errorf("the second play's call wrote %d frames with room in the buffer, want its first block", got.Written)
			}
			if got.Frames != got.NativeFrame || got.Underruns != 0 || got.MaxDiff > 1e-6 {
				t.Fatalf("after the flush the worklet played %d frames (native %d), %d underrun frames, max diff %g (first at sample %d)",
					got.Frames, got.NativeFrame, got.Underruns, got.MaxDiff, got.FirstDiff)
			}
		})
	}
}

// pacedScript defines paced(at), which renders the page's
// OfflineAudioContext oc (at rate) 4096 frames at a time from time at to
// its end, each step once the output holds 8192 frames or the player has
// ended (ended), with a round trip to the worklet before and after
// waiting (the fallback's consumed count and posted frames are then
// current). The steps go on after the end, so that frames the page posts
// around the "ended" status reach the worklet before the render passes
// them (rendering the rest in one go once ended lost the last 1,430
// frames of a postMessage play in one CI run).
const pacedScript = `
	const quantum = 4096, step = quantum / rate;
	const fill = async () => {
		await s.outputStats();
		while (!ended && s.buffered() < 2 * quantum) await pause();
		await s.outputStats();
	};
	const paced = async (at) => {
		await fill();
		const next = at + step;
		if (next < oc.length / rate) oc.suspend(next).then(() => paced(next));
		oc.resume();
	};
`

// TestBrowserSeekDropsBlockInFlight: while the output buffer is full the
// engine pushes a block in pieces as the worklet frees room; a seek then
// flushes the buffer in the middle of a block. The rest of that block is
// audio from before the seek and must not play after it: everything the
// worklet plays from the seek on equals the native player's output of
// the album's last track from the seek's frame (same length, no silence,
// max difference ≤ 1e-6), through the ring's control words and through
// the postMessage fallback.
func TestBrowserSeekDropsBlockInFlight(t *testing.T) {
	ref := &reference{}
	r := webRelay(t, ref)
	const rate, capacity, seekSeconds = 44100, 32768, 5
	ref.set(nativeAlbum(t, r, rate, model.TierLow, 3, seekSeconds*rate))
	for i, tc := range []struct {
		name     string
		noShared bool
	}{
		{"shared ring", false},
		{"postMessage", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := openPage(t, r)
			type result struct {
				comparison
				Partial int `json:"partial"`
				// [frames played before it, silent frames, render frame]
				// per underrun.
				Gaps [][3]int `json:"gaps"`
			}
			user := fmt.Sprintf("seeker%d", i)
			got := run[result](t, ctx, fmt.Sprintf(`(async () => {
				const rate = %d, capacity = %d, seekSeconds = %d, nativeFrames = %d, album = %q;
				const oc = new OfflineAudioContext({numberOfChannels: 2, length: nativeFrames + 2 * rate, sampleRate: rate});
				const s = await segue.open(location.origin, {audioContext: oc, capture: true, tier: "low", bufferFrames: capacity, noSharedMemory: %t, persist: false});
				await s.signUp(%q, %q);
				await s.login(%q, %q);
				let ended = false;
				s.on("status", (st) => { if (st.state === "ended") ended = true; if (st.error) console.error(st.error); });
				const pause = () => new Promise((r) => setTimeout(r, 1));
				const until = async (what, ok) => {
					for (const t0 = performance.now(); !ok(); await pause()) {
						if (performance.now() - t0 > 20000) throw new Error(what + "; buffered " + s.buffered());
					}
				};
				await s.playAlbum(album, 3);
				await until("the buffer did not fill", () => s.buffered() >= capacity);
				// Three render quanta free 384 frames: the engine's next
				// block (1,024 frames) is pushed in part and its rest waits.
				let rendering;
				await new Promise((resolve) => { oc.suspend(384 / rate).then(resolve); rendering = oc.startRendering(); });
				await s.outputStats();
				await until("the engine did not refill the buffer", () => s.buffered() >= capacity);
				const partial = (await s.captured()).data.length / 2;
				await s.seek(seekSeconds);
				%s
				// One render quantum first: the worklet applies the ring's
				// flush at a quantum's start, and until then buffered()
				// counts the old frames, so paced's first step would not
				// wait for the new ones (the worklet then primed on a
				// block or two and ran dry within the step: 512 underrun
				// frames in one CI run).
				oc.suspend(512 / rate).then(() => paced(512 / rate));
				oc.resume();
				await rendering;
				const cap = await s.captured();
				const data = cap.data;
				%s
				return {frames: data.length / 2, nativeFrames: ref.length / 2, maxDiff, firstDiff, underruns: cap.underruns,
					shared: s.sharedMemory, isolated: crossOriginIsolated, partial, gaps: cap.gaps};
			})()`, rate, capacity, seekSeconds, len(ref.buf)/2, r.Album, tc.noShared, user, testbed.Password, user, testbed.Password, pacedScript, compareScript))
			t.Logf("browser: %+v", got)
			if got.Shared == tc.noShared {
				t.Errorf("shared memory %v with noSharedMemory %v", got.Shared, tc.noShared)
			}
			if got.Partial != 384 {
				t.Errorf("the worklet played %d frames before the seek, want 384", got.Partial)
			}
			if got.Frames != got.NativeFrame || got.Underruns != 0 || got.MaxDiff > 1e-6 {
				t.Fatalf("after the seek the worklet played %d frames (native %d), %d underrun frames %v, max diff %g (first at sample %d)",
					got.Frames, got.NativeFrame, got.Underruns, got.Gaps, got.MaxDiff, got.FirstDiff)
			}
		})
	}
}
