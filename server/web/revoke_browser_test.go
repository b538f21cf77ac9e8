package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/web"
)

// TestBrowserRevokedMidTrack: while the page plays the album's last
// track, another device of the account removes it (DELETE
// /v1/devices/{id}); the relay then refuses the track's next chunk. The
// page hears "signedout" (its sign-in form) when that chunk is refused,
// before the track's error status. Before, only a refused key or
// catalog request told the page: the chunk's 401 failed the track
// silently, and with no track after it to ask a key for, the page never
// learnt that the device had been signed out.
func TestBrowserRevokedMidTrack(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true).WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
		web.Mount(srv.Echo())
	}))
	ctx := openPage(t, r)
	dev := run[string](t, ctx, fmt.Sprintf(`(async () => {
		const s = await segue.open(location.origin, {tier: "low", persist: false});
		window.revoked = {session: s, log: []};
		await s.signUp("removed", %q);
		await s.login("removed", %q);
		s.on("status", (x) => { if (x.error || x.state === "ended") window.revoked.log.push(x.error ? "error: " + x.error : x.state); });
		s.on("signedout", () => window.revoked.log.push("signedout"));
		await s.playAlbum(%q, 3);
		const t0 = performance.now();
		while (s.status().state !== "playing") {
			if (performance.now() - t0 > 20000) throw new Error("not playing: " + JSON.stringify(s.status()));
			await new Promise((r) => setTimeout(r, 10));
		}
		return s.deviceId;
	})()`, testbed.Password, testbed.Password, r.Album))
	if err := testbed.Device(t, r, "removed").Deregister(t.Context(), model.DeviceID(dev)); err != nil {
		t.Fatal(err)
	}
	log := run[[]string](t, ctx, `(async () => {
		const t0 = performance.now();
		while (!window.revoked.log.includes("ended") && performance.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 20));
		await new Promise((r) => setTimeout(r, 200));
		await window.revoked.session.close();
		return window.revoked.log;
	})()`)
	t.Logf("page: %q", log)
	failed, signedOut := -1, -1
	for i, l := range log {
		if failed < 0 && strings.HasPrefix(l, "error: ") && strings.Contains(l, "401") {
			failed = i
		}
		if signedOut < 0 && l == "signedout" {
			signedOut = i
		}
	}
	if failed < 0 {
		t.Fatalf("the track did not fail with the relay's 401 after the device was removed: %q", log)
	}
	if signedOut < 0 || signedOut > failed {
		t.Errorf("signedout at %d of the page's events, the track's failure at %d: want signedout first", signedOut, failed)
	}
}
