package web_test

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestBrowserPauseWithFullBuffer pauses while the worklet's buffer is
// full, which is where real-time playback spends its time: the Go sink
// is then waiting for room in the middle of a block, and a held worklet
// makes none. The pause must reach the player (status "paused") at once
// and hold the output, and resume must restart it, every time, through
// the shared-memory ring and through the postMessage fallback.
func TestBrowserPauseWithFullBuffer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noShared bool
	}{{"shared ring", false}, {"postMessage", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := webRelay(t, &reference{})
			ctx := openPage(t, r)
			type cycle struct {
				Ms     float64 `json:"ms"`
				Held   bool    `json:"held"`
				Resume bool    `json:"resumed"`
			}
			got := run[[]cycle](t, ctx, fmt.Sprintf(`(async () => {
				const capacity = 8192;
				const s = await segue.open(location.origin, {tier: "low", bufferFrames: capacity, noSharedMemory: %t, persist: false});
				await s.signUp("pauser", %q);
				await s.login("pauser", %q);
				let st = s.status();
				s.on("status", (x) => { st = x; });
				const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
				const until = async (what, f, ms) => {
					const t0 = performance.now();
					while (!f()) {
						if (performance.now() - t0 > ms) throw new Error("timed out waiting for " + what + "; status " + JSON.stringify(st) + ", buffered " + s.buffered());
						await sleep(5);
					}
				};
				await s.playAlbum(%q, 0);
				await until("playing", () => st.state === "playing", 20000);
				const cycles = [];
				for (let i = 0; i < 6; i++) {
					await until("a full buffer", () => s.buffered() >= capacity - 256, 5000);
					const t0 = performance.now();
					await s.pause();
					await until("paused", () => st.state === "paused", 5000);
					const ms = performance.now() - t0;
					await sleep(100);
					const p1 = (await s.outputStats()).played;
					await sleep(200);
					const p2 = (await s.outputStats()).played;
					await s.resume();
					await until("playing", () => st.state === "playing", 5000);
					await sleep(200);
					const p3 = (await s.outputStats()).played;
					cycles.push({ms, held: p1 === p2, resumed: p3 > p2});
				}
				await s.close();
				return cycles;
			})()`, tc.noShared, testbed.Password, testbed.Password, r.Album))
			t.Logf("pause cycles: %+v", got)
			if len(got) != 6 {
				t.Fatalf("%d pause cycles ran, want 6", len(got))
			}
			for i, c := range got {
				if !c.Held || !c.Resume {
					t.Errorf("cycle %d: output held while paused %v, restarted after resume %v", i, c.Held, c.Resume)
				}
			}
		})
	}
}
