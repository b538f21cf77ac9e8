package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestBrowserAPIRefusesBadArguments calls the session's play, seek and
// volume calls with what a page script may pass by mistake — a string, no
// argument, NaN, ±Infinity, a fractional or negative index, numbers as
// track ids — while an album plays: each call rejects with an error
// naming the argument, and the playback is as it was (before, a volume
// of "0.5" or none muted the player, seek("5") and seek(NaN) went to the
// track's start, and playTracks([1, 2]) replaced the queue with tracks
// named "<number: 1>").
func TestBrowserAPIRefusesBadArguments(t *testing.T) {
	r := webRelay(t, &reference{})
	ctx := openPage(t, r)
	calls := []struct{ call, want string }{
		{`s.setVolume("0.5")`, "setVolume: gain is not a finite number"},
		{`s.setVolume()`, "setVolume: gain is not a finite number"},
		{`s.setVolume(NaN)`, "setVolume: gain is not a finite number"},
		{`s.setVolume(Infinity)`, "setVolume: gain is not a finite number"},
		{`s.seek("5")`, "seek: seconds is not a finite number"},
		{`s.seek(NaN)`, "seek: seconds is not a finite number"},
		{`s.seek(-Infinity)`, "seek: seconds is not a finite number"},
		{`s.seek(null)`, "seek: seconds is not a finite number"},
		{fmt.Sprintf(`s.playAlbum(%q, 1.5)`, r.Album), "playAlbum: start 1.5 is not a whole number"},
		{fmt.Sprintf(`s.playAlbum(%q, -1)`, r.Album), "playAlbum: start -1 is not a whole number"},
		{fmt.Sprintf(`s.playAlbum(%q, NaN)`, r.Album), "playAlbum: start is not a finite number"},
		{fmt.Sprintf(`s.playAlbum(%q, 0, 1e300)`, r.Album), "playAlbum: frame 1e+300 is not a whole number"},
		{fmt.Sprintf(`s.playAlbum(%q, 0, "9")`, r.Album), "playAlbum: frame is not a finite number"},
		{`s.playTracks([1, 2])`, "playTracks: entry 0 is not a string"},
		{`s.playTracks("abc")`, "playTracks: the track ids are not an array"},
		{`s.playTracks({length: 3})`, "playTracks: the track ids are not an array"},
		{`s.playTracks(["x"], 0, "tracks", "", -5)`, "playTracks: frame -5 is not a whole number"},
		{`s.playTracks(new Array(100001).fill("x"))`, "playTracks: 100001 ids, at most 100000"},
	}
	var list strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&list, "[%q, () => %s],\n", c.call, c.call)
	}
	type result struct {
		Errors []string `json:"errors"`
		Before struct {
			Volume   float64 `json:"volume"`
			Index    int     `json:"index"`
			Position float64 `json:"position"`
		} `json:"before"`
		After struct {
			Volume   float64 `json:"volume"`
			Index    int     `json:"index"`
			Position float64 `json:"position"`
			State    string  `json:"state"`
		} `json:"after"`
	}
	got := run[result](t, ctx, fmt.Sprintf(`(async () => {
		const s = await segue.open(location.origin, {tier: "low", persist: false});
		await s.signUp("badargs", %q);
		await s.login("badargs", %q);
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
		await s.playAlbum(%q, 0);
		await until("playing", () => st.state === "playing");
		await s.setVolume(0.7);
		await s.seek(5);
		await until("the seek", () => st.volume === 0.7 && st.position >= 5 && st.state === "playing");
		const before = {volume: st.volume, index: st.index, position: st.position};
		const errors = [];
		for (const [name, f] of [%s]) {
			errors.push(await f().then(() => name + " resolved", (e) => String(e.message || e)));
		}
		await sleep(200); // statuses of anything the calls set going
		// A loaded machine may underrun meanwhile: buffering ends in
		// playing again, while a call that paused or stopped the player
		// times out here.
		await until("playing after the calls", () => st.state === "playing");
		const after = {volume: st.volume, index: st.index, position: st.position, state: st.state};
		await s.close();
		return {errors, before, after};
	})()`, testbed.Password, testbed.Password, r.Album, list.String()))
	if len(got.Errors) != len(calls) {
		t.Fatalf("%d answers for %d calls", len(got.Errors), len(calls))
	}
	for i, c := range calls {
		if !strings.Contains(got.Errors[i], c.want) {
			t.Errorf("%s: %q, want a rejection with %q", c.call, got.Errors[i], c.want)
		}
	}
	if got.After.Volume != got.Before.Volume || got.After.Index != got.Before.Index || got.After.Position < got.Before.Position || got.After.State != "playing" {
		t.Errorf("after the refused calls the player is at %+v, want as before (%+v) and playing", got.After, got.Before)
	}
}
