package web_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
)

// TestBrowserDamagedPin: the pinned catalog key in the page's IndexedDB
// is overwritten with 5 bytes (a devtools-style write); after a reload
// the page opens signed in, and readying a track (its manifest's
// signature checked against the key pinned again from the relay) works.
// Before, every load said "engine: device: pinned catalog key is 5
// bytes" with the library hidden and signing in impossible, until the
// site's data were cleared by hand.
func TestBrowserDamagedPin(t *testing.T) {
	r, _ := offlineRelay(t)
	ctx := browsertest.New(t)
	step := offlineStep(t, ctx)
	signUpLowTier(step, r, "pinned")
	run[bool](t, ctx, `(async () => {
		const db = await new Promise((ok, fail) => { const q = indexedDB.open("segue-store"); q.onsuccess = () => ok(q.result); q.onerror = () => fail(q.error); });
		await new Promise((ok, fail) => {
			const tx = db.transaction("kv", "readwrite");
			tx.objectStore("kv").put(new Uint8Array([1, 2, 3, 4, 5]), new TextEncoder().encode("cfg/catalog-key"));
			tx.oncomplete = ok;
			tx.onerror = () => fail(tx.error);
		});
		db.close();
		return true;
	})()`)
	step("reload", chromedp.Reload())
	step("signed in", chromedp.WaitVisible("#library"))
	got := run[string](t, ctx, fmt.Sprintf(`window.segueSession.prefetch([%q], "low").then(() => "ok", (e) => String(e.message || e))`, r.Tracks[0]))
	if got != "ok" {
		t.Fatalf("prefetch after the damaged pin: %s", got)
	}
}
