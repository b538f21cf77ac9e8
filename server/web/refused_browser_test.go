package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestBrowserRefusedCallKeepsPlayback plays the album in a running
// AudioContext with the output's buffer well filled, then makes a batch
// of play, seek and skip calls that must be refused — arguments of the
// wrong type or range, ids that are no ids, an album the relay does not
// know, a share token that is none. Each rejects, and the playback is
// exactly as before: what the worklet played from the start equals the
// native player's output of the album (no buffered audio dropped, no
// underrun), and the track and state are unchanged. Before, segue.js
// flushed the output before the bridge looked at the arguments, so each
// refused call dropped up to the buffer's 32768 frames (≈ 0.74 s).
func TestBrowserRefusedCallKeepsPlayback(t *testing.T) {
	ref := &reference{}
	r := webRelay(t, ref)
	const rate = 44100
	ref.set(nativeAlbum(t, r, rate, model.TierLow, 0, 0))
	ctx := openPage(t, r)
	calls := []struct{ call, want string }{
		{`s.seek(NaN)`, "seek: seconds is not a finite number"},
		{`s.seek(-1)`, "seek: seconds -1 is negative"},
		{`s.seek("5")`, "seek: seconds is not a finite number"},
		{`s.seek()`, "seek: seconds is not a finite number"},
		{`s.playAlbum("no-such-album", 0)`, "not found"},
		{`s.playAlbum("a/b", 0)`, `playAlbum: "a/b" is not an id`},
		{`s.playAlbum("", 0)`, `playAlbum: "" is not an id`},
		{`s.playAlbum(album, -1)`, "playAlbum: start -1 is not a whole number"},
		{`s.playAlbum(album, 99)`, "playAlbum: start 99 is past"},
		{`s.playAlbum(album, 0, NaN)`, "playAlbum: frame is not a finite number"},
		{`s.playTracks([])`, "playTracks: no track ids"},
		{`s.playTracks(["a/b"])`, "playTracks: no entry is a track id"},
		{`s.playTracks([first], 1)`, "playTracks: start 1 is past the 1 tracks"},
		{`s.playTracks([1])`, "playTracks: entry 0 is not a string"},
		{`s.playShare("not a token")`, "share token"},
	}
	var list strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&list, "[%q, () => %s],\n", c.call, c.call)
	}
	type state struct {
		State    string  `json:"state"`
		Index    int     `json:"index"`
		Position float64 `json:"position"`
	}
	type result struct {
		comparison
		Errors   []string `json:"errors"`
		Buffered int      `json:"buffered"`
		Before   state    `json:"before"`
		After    state    `json:"after"`
	}
	got := run[result](t, ctx, fmt.Sprintf(`(async () => {
		const album = %q;
		const ac = new AudioContext({sampleRate: %d, latencyHint: "playback"});
		const s = await segue.open(location.origin, {audioContext: ac, tier: "low", capture: true, persist: false});
		await s.signUp("refused", %q);
		await s.login("refused", %q);
		const first = (await s.album(album)).tracks[0].id;
		let st = s.status();
		s.on("status", (x) => { st = x; });
		const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
		const until = async (what, f) => {
			const t0 = performance.now();
			while (!f()) {
				if (performance.now() - t0 > 20000) throw new Error("timed out waiting for " + what + "; status " + JSON.stringify(st));
				await sleep(5);
			}
		};
		await s.captured();
		await s.playAlbum(album, 0);
		await until("playing", () => st.state === "playing");
		await until("a full buffer", () => s.buffered() >= 24576);
		const buffered = s.buffered();
		const before = {state: st.state, index: st.index, position: st.position};
		const errors = [];
		for (const [name, f] of [%s]) {
			errors.push(await f().then(() => name + " resolved", (e) => String(e.message || e)));
		}
		// Played on past what was buffered at the calls.
		const played = (await s.outputStats()).played;
		while ((await s.outputStats()).played < played + 2 * 32768) await sleep(20);
		const after = {state: st.state, index: st.index, position: st.position};
		const cap = await s.captured();
		const data = cap.data;
		%s
		await s.close();
		return {frames: data.length / 2, nativeFrames: ref.length / 2, maxDiff, firstDiff, underruns: cap.underruns,
			errors, buffered, before, after};
	})()`, r.Album, rate, testbed.Password, testbed.Password, list.String(), compareScript))
	t.Logf("browser: %d frames played, %d underrun frames, max diff %g (first at sample %d), %d buffered at the calls; before %+v, after %+v",
		got.Frames, got.Underruns, got.MaxDiff, got.FirstDiff, got.Buffered, got.Before, got.After)
	if len(got.Errors) != len(calls) {
		t.Fatalf("%d answers for %d calls", len(got.Errors), len(calls))
	}
	for i, c := range calls {
		if !strings.Contains(got.Errors[i], c.want) {
			t.Errorf("%s: %q, want a rejection with %q", c.call, got.Errors[i], c.want)
		}
	}
	if got.MaxDiff > 1e-6 || got.Underruns != 0 || got.Frames > got.NativeFrame {
		t.Errorf("around the refused calls the worklet played %d frames (native %d) with %d underrun frames, max diff %g (first at sample %d, frame %d): audio dropped",
			got.Frames, got.NativeFrame, got.Underruns, got.MaxDiff, got.FirstDiff, got.FirstDiff/2)
	}
	if got.After.State != "playing" || got.After.Index != got.Before.Index || got.After.Position < got.Before.Position {
		t.Errorf("after the refused calls the player is at %+v, want as before (%+v) and playing", got.After, got.Before)
	}
}
