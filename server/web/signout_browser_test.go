package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestBrowserSignOut: a listener with a download, a playlist and the
// private session box signs out of the browser. Offline the button says
// it did not, and nothing is cleared. Online the relay refuses the
// device's token after, the page reloads signed out with no download,
// licence, playlist replica or localStorage of the account left, the
// origin's other tab reloads signed out too, and another account signs
// in as a new device with nothing of the first. Before sign-out, a login
// as another account is refused before anything is sent. Before, the
// page had no sign-out: the next person on the browser got "device
// registered to another account" from the relay, and once the device
// was removed from the account elsewhere, signed in on the previous
// account's downloads and licences.
func TestBrowserSignOut(t *testing.T) {
	r, _ := offlineRelay(t)
	ctx := browsertest.New(t)
	step := offlineStep(t, ctx)
	signUpLowTier(step, r, "leaver")
	type state struct {
		Device    string `json:"device"`
		Token     string `json:"token"`
		LoggedIn  bool   `json:"loggedIn"`
		Downloads int    `json:"downloads"`
		Licences  int    `json:"licences"`
		Other     string `json:"other"`
	}
	a := run[state](t, ctx, fmt.Sprintf(`(async () => {
		const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
		const s = window.segueSession;
		await s.download("album", %q, "low");
		let d;
		for (const t0 = performance.now(); ; await sleep(50)) {
			d = await s.downloads();
			if (d.tracks > 0 && d.tracksDone === d.tracks && d.licenses.length) break;
			if (performance.now() - t0 > 60000) throw new Error("download did not finish: " + JSON.stringify(d));
		}
		while (!window.seguePlaylistStore) await sleep(20);
		window.seguePlaylistStore.create("kept by leaver");
		document.getElementById("private").click();
		await s.signUp("next", %q);
		const other = await s.login("next", %q).then(() => "signed in", (e) => String(e.message || e));
		return {device: s.deviceId, token: await s.token(), loggedIn: s.loggedIn, downloads: d.items.length, licences: d.licenses.length, other};
	})()`, r.Album, testbed.Password, testbed.Password))
	if a.Downloads != 1 || a.Licences == 0 || !strings.Contains(a.Other, "sign out first") {
		t.Fatalf("before sign-out: %+v; want one download, a licence and the other account refused", a)
	}
	tab2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	step("second tab", chromedp.Func(func(context.Context, *chromedp.Target) error {
		if _, err := chromedp.Run(tab2, chromedp.Navigate(r.URL+"/")); err != nil {
			return err
		}
		_, err := chromedp.Run(tab2, chromedp.WaitVisible("#library"))
		return err
	}))

	step("offline", chromedp.Func(goOffline))
	step("sign out offline", chromedp.Click("#signout"))
	step("not signed out", chromedp.Poll[chromedp.Void](`document.getElementById("signout-msg").textContent.startsWith("Not signed out")`))
	step("online", chromedp.Func(goOnline))
	kept := run[state](t, ctx, `(async () => {
		const s = window.segueSession, d = await s.downloads();
		return {device: s.deviceId, token: await s.token(), downloads: d.items.length, licences: d.licenses.length};
	})()`)
	if kept.Token != a.Token || kept.Downloads != 1 || kept.Licences == 0 {
		t.Fatalf("after a sign-out the relay did not hear: %+v; want the token, download and licence kept", kept)
	}

	step("sign out", chromedp.Click("#signout"))
	signedOut := `!!window.segueSession && !window.segueSession.loggedIn && !document.getElementById("account").hidden && document.getElementById("library").hidden`
	step("reloaded signed out", acrossReload(signedOut))
	step("other tab signed out", chromedp.Func(func(context.Context, *chromedp.Target) error {
		sctx, cancel := context.WithTimeout(tab2, 30*time.Second)
		defer cancel()
		_, err := chromedp.Run(sctx, acrossReload(signedOut))
		return err
	}))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.URL+"/v1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the signed-out device's token: %s, want 401", resp.Status)
	}
	type left struct {
		Device  string   `json:"device"`
		Pending int      `json:"pending"`
		Replica int      `json:"replica"`
		Storage []string `json:"storage"`
	}
	got := run[left](t, ctx, `(async () => {
		const s = window.segueSession;
		// A write the other tab made before it reloaded is cleared when
		// it starts signed out.
		const count = async () => {
			const db = await new Promise((ok, fail) => { const q = indexedDB.open("segue-playlists-leaver"); q.onsuccess = () => ok(q.result); q.onerror = () => fail(q.error); });
			let n = 0;
			for (const name of db.objectStoreNames) n += await new Promise((ok) => { const q = db.transaction(name).objectStore(name).count(); q.onsuccess = () => ok(q.result); });
			db.close();
			return n;
		};
		let replica = await count();
		for (const t0 = performance.now(); replica && performance.now() - t0 < 10000; replica = await count()) await new Promise((r) => setTimeout(r, 50));
		return {device: s.deviceId, pending: await s.pendingPlays(), replica, storage: Object.keys(localStorage)};
	})()`)
	if got.Device == a.Device || got.Pending != 0 || got.Replica != 0 ||
		len(got.Storage) != 1 || got.Storage[0] != "segue.signedout" {
		t.Fatalf("after sign-out: %+v; want a new device and nothing of the account (was device %s)", got, a.Device)
	}
	for _, as := range signInActions(r.URL, "next", false, "#library") {
		step("next account signs in", as)
	}
	next := run[state](t, ctx, `(async () => {
		const s = window.segueSession, d = await s.downloads();
		const me = await s.get("/v1/me");
		return {device: me.device.user + "/" + me.device.device_id, downloads: d.items.length, licences: d.licenses.length};
	})()`)
	if next.Device != "next/"+got.Device || next.Downloads != 0 || next.Licences != 0 {
		t.Fatalf("the next account: %+v; want device next/%s with no download or licence", next, got.Device)
	}
}

// acrossReload waits until the JavaScript expression cond is true in the
// tab, evaluating it again when the page reloads meanwhile.
func acrossReload(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for {
			if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond)); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// goOnline undoes goOffline.
func goOnline(ctx context.Context, t *chromedp.Target) error {
	if _, err := cdp.Call(ctx, t, emulateNetworkConditions, emulateParams{DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		return fmt.Errorf("emulate network conditions: %w", err)
	}
	if _, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		return fmt.Errorf("override network state: %w", err)
	}
	return nil
}
