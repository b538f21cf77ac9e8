package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
)

// TestBrowserDownloadWithFullLocalStorage fills the origin's localStorage
// to its quota and presses "Download for offline" on a playlist: the
// download is made (the relay resolves the playlist's track) and the page
// says the name is not kept. Before, the page's note of the item's name
// threw QuotaExceededError before the download was asked for, so nothing
// could be downloaded and the page showed the exception.
func TestBrowserDownloadWithFullLocalStorage(t *testing.T) {
	r, _ := offlineRelay(t)
	page := browsertest.New(t)
	step := pageSteps(t, page, 30*time.Second, accountMsgs+` + " | " + document.getElementById("dl-msg").textContent`)
	step("sign up", append(signInActions(r.URL, "fullstorage", true, "#playlists"), chromedp.WaitVisible("#pl-list li"))...)
	id := run[string](t, page, fmt.Sprintf(`(async () => {
		const tracks = (await segueSession.album(%q)).tracks.map((t) => t.id);
		const id = seguePlaylistStore.create("Full");
		await seguePlaylistStore.add(id, tracks[0]);
		return id;
	})()`, r.Album))
	filled := run[int](t, page, `(async () => {
		let n = 0;
		for (let size = 1 << 20; size >= 16; size >>= 1) {
			const s = "x".repeat(size);
			for (;;) {
				try { localStorage.setItem("fill" + n, s); n++; } catch { break; }
			}
		}
		return n;
	})()`)
	t.Logf("%d localStorage items fill the quota", filled)
	step("open the playlist and download it",
		chromedp.WaitVisible(fmt.Sprintf(`#pl-list li[data-id=%q] button`, id)),
		chromedp.Click(fmt.Sprintf(`#pl-list li[data-id=%q] button`, id)),
		chromedp.WaitVisible("#pl-dl"),
		chromedp.Click("#pl-dl"))
	type item struct {
		Resolved bool   `json:"resolved"`
		Tracks   int    `json:"tracks"`
		Error    string `json:"error"`
		Msg      string `json:"msg"`
	}
	var got item
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got = run[item](t, page, fmt.Sprintf(`segueSession.downloads().then((st) => {
			const it = st.items.find((i) => i.ref.kind === "playlist" && i.ref.id === %q);
			return {resolved: !!(it && it.resolved), tracks: it ? it.tracks : 0, error: it ? it.error : "", msg: document.getElementById("dl-msg").textContent};
		})`, id))
		if got.Resolved || time.Now().After(deadline) {
			break
		}
	}
	if !got.Resolved || got.Tracks != 1 || got.Error != "" {
		t.Errorf("playlist download with localStorage full: %+v, want resolved with 1 track", got)
	}
	if !strings.Contains(got.Msg, "storage for the page is full") {
		t.Errorf("the page says %q, want that the name is not kept", got.Msg)
	}
}
