package web_test

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestBrowserCaptureBounded plays with the capture test hook bounded to
// 8192 frames, through the shared ring and the postMessage output, until
// the worklet played over 32768 frames: captured() returns the first
// 8192 frames played and counts the rest as dropped, and the next call
// starts a new bound. The page turns the hook on for any URL with
// ?test-capture, so before it kept every frame played (≈ 1.3 GB an hour)
// in the worklet.
func TestBrowserCaptureBounded(t *testing.T) {
	r := webRelay(t, &reference{})
	ctx := openPage(t, r)
	for _, noShared := range []bool{false, true} {
		type result struct {
			Frames, Dropped, Played, Again int
		}
		got := run[result](t, ctx, fmt.Sprintf(`(async () => {
			const s = await segue.open(location.origin, {tier: "low", capture: true, captureFrames: 8192, noSharedMemory: %t, persist: false});
			await s.signUp("capture%t", %q);
			await s.login("capture%t", %q);
			const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
			await s.playAlbum(%q, 0);
			const t0 = performance.now();
			while ((await s.outputStats()).played < 32768) {
				if (performance.now() - t0 > 20000) throw new Error("the worklet played too little");
				await sleep(20);
			}
			const cap = await s.captured();
			while ((await s.outputStats()).played < 16384) await sleep(20);
			const again = await s.captured();
			await s.close();
			return {Frames: cap.data.length / 2, Dropped: cap.dropped, Played: cap.played, Again: again.data.length / 2};
		})()`, noShared, noShared, testbed.Password, noShared, testbed.Password, r.Album))
		t.Logf("noSharedMemory %v: %+v", noShared, got)
		if got.Frames != 8192 || got.Dropped != got.Played-8192 || got.Again != 8192 {
			t.Errorf("noSharedMemory %v: captured %d frames, %d dropped of %d played, then %d; want 8192, played − 8192, then 8192",
				noShared, got.Frames, got.Dropped, got.Played, got.Again)
		}
	}
}
