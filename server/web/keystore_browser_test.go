package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestBrowserDamagedKeyStore damages the page's key store (IndexedDB
// segue-keys) the two ways a browser can leave it — a record that does
// not decrypt, and the wrapping key gone with the records kept — and
// reloads: the page opens at the sign-in form with no error, and signing
// in works; a lost token keeps the device (same id), a lost wrapping key
// makes this browser a new device. Before, the engine failed to open
// ("engine: load token: key store: load token: ", WebCrypto's
// OperationError has no message) on every load and every sign-in, until
// the site's data was cleared by hand.
func TestBrowserDamagedKeyStore(t *testing.T) {
	r := webRelay(t, &reference{})
	page := browsertest.New(t)
	step := pageSteps(t, page, 30*time.Second, accountMsgs)
	const user = "damaged"
	step("sign up", signInActions(r.URL, user, true, "#playlists")...)
	deviceID := func() string {
		return run[string](t, page, `(async () => { while (!window.segueSession) await new Promise((r) => setTimeout(r, 20)); return segueSession.deviceId; })()`)
	}
	first := deviceID()
	edit := func(change string) string {
		return fmt.Sprintf(`(async () => {
			const db = await new Promise((ok, fail) => { const q = indexedDB.open("segue-keys", 1); q.onsuccess = () => ok(q.result); q.onerror = () => fail(q.error); });
			await new Promise((ok, fail) => { const tx = db.transaction("keys", "readwrite"); const s = tx.objectStore("keys"); %s; tx.oncomplete = ok; tx.onerror = () => fail(tx.error); });
			db.close();
			return true;
		})()`, change)
	}
	for _, c := range []struct {
		name, change string
		sameDevice   bool
	}{
		{"token record garbled", `s.put({iv: new Uint8Array(12), ct: new Uint8Array(40)}, "secret/token")`, true},
		{"wrapping key deleted", `s.delete("wrapping-key")`, false},
	} {
		run[bool](t, page, edit(c.change))
		step(c.name+": reload", chromedp.Reload(), chromedp.WaitVisible("#user"))
		if msg := run[string](t, page, `(async () => { while (!window.segueSession && !document.getElementById("account-msg").textContent) await new Promise((r) => setTimeout(r, 20)); return document.getElementById("account-msg").textContent; })()`); msg != "" {
			t.Errorf("%s: the page says %q after a reload, want the sign-in form without an error", c.name, msg)
		}
		step(c.name+": sign in again",
			chromedp.SendKeys("#user", user),
			chromedp.SendKeys("#pass", testbed.Password),
			chromedp.Click("#login button[type=submit]"),
			chromedp.WaitVisible("#playlists"))
		if id := deviceID(); (id == first) != c.sameDevice {
			t.Errorf("%s: device %s after signing in again, was %s; want the same device: %v", c.name, id, first, c.sameDevice)
		}
	}
}
