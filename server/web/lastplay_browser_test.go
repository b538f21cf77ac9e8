package web_test

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestBrowserLastPlayWins: a listener starts a play that waits for the
// network — a queue of 2,000 tracks whose metadata takes 20 batch
// requests — and, before it starts, plays an album the page has open
// (in memory, no request). The later play is what plays: the earlier
// one's promise rejects once its answers arrive, and the player stays
// on the album's track. Before, the earlier play replaced the later one
// when its requests came back, so the listener heard what they had
// clicked away from. Likewise a stop made while a play waits: the play
// rejects and the player stays stopped.
func TestBrowserLastPlayWins(t *testing.T) {
	r := webRelay(t, &reference{})
	ctx := openPage(t, r)
	type result struct {
		First  string `json:"first"`
		Second string `json:"second"`
		Track  string `json:"track"`
		Want   string `json:"want"`
		Kind   string `json:"kind"`
		Third  string `json:"third"`
		After  string `json:"afterStop"`
	}
	got := run[result](t, ctx, fmt.Sprintf(`(async () => {
		const album = %q;
		const s = await segue.open(location.origin, {tier: "low", persist: false});
		await s.signUp("lastplay", %q);
		await s.login("lastplay", %q);
		const tracks = (await s.album(album)).tracks.map((x) => x.id);
		let st = s.status();
		s.on("status", (x) => { st = x; });
		const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
		const ids = [tracks[0]];
		for (let i = 1; i < 2000; i++) ids.push("unknown" + i);
		const answer = (p) => p.then(() => "resolved", (e) => "rejected: " + String(e.message || e));
		const first = answer(s.playTracks(ids, 0, "playlist", "slow"));
		const second = answer(s.playAlbum(album, 2));
		const result = {first: await first, second: await second};
		const t0 = performance.now();
		while (st.track !== tracks[2] || st.state !== "playing") {
			if (performance.now() - t0 > 20000) break;
			await sleep(10);
		}
		await sleep(500); // anything the first play would still start
		const track = st.track, kind = st.state;
		// A stop replaces a play still waiting too.
		const third = answer(s.playTracks(ids, 0, "playlist", "slow"));
		await s.stop();
		result.third = await third;
		await sleep(500);
		await s.close();
		return {...result, track, want: tracks[2], kind, afterStop: st.state};
	})()`, r.Album, testbed.Password, testbed.Password))
	t.Logf("browser: %+v", got)
	if got.Second != "resolved" {
		t.Errorf("the later play: %s, want resolved", got.Second)
	}
	if got.First == "resolved" {
		t.Errorf("the earlier play resolved after a later play started, want it rejected as replaced")
	}
	if got.Track != got.Want || got.Kind != "playing" {
		t.Errorf("the player is %s on track %s, want playing the later play's track %s", got.Kind, got.Track, got.Want)
	}
	if got.Third == "resolved" || got.After != "idle" {
		t.Errorf("a play waiting when stop was called: %s, then the player is %s; want it rejected and the player idle", got.Third, got.After)
	}
}
