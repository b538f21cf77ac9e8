package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/internal/browsertest"
)

// TestBrowserLicenceExpiry: a listener downloads the demo album at tier
// low, then the page's test clock hook (?test-clock, forward only) moves
// the engine's licence clock: within the licence the album plays; past
// its expiry, within the 48 h grace, it still plays; past expiry + grace
// it does not, and the status carries the native engine's error
// (download.ErrLicenseExpired, after the player's 30 s of retries, as
// native). The hook refuses to move the clock back.
func TestBrowserLicenceExpiry(t *testing.T) {
	r, _ := offlineRelay(t)
	ctx := browsertest.New(t)
	step := offlineStep(t, ctx)
	signUpLowTier(step, r, "expiry")
	step("reopen with the clock hook", chromedp.Navigate(r.URL+"/?test-clock"))
	step("library", chromedp.WaitVisible("#library"))
	type phase struct {
		Name       string  `json:"name"`
		TrustedNow float64 `json:"trustedNow"`
		Played     bool    `json:"played"`
		Frame      float64 `json:"frame"`
		Error      string  `json:"error"`
	}
	type result struct {
		Expires float64 `json:"expires"`
		Until   float64 `json:"until"`
		Back    string  `json:"back"`
		Phases  []phase `json:"phases"`
	}
	got := run[result](t, ctx, fmt.Sprintf(`(async () => {
		const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
		while (!window.segueSession) await sleep(10);
		const s = window.segueSession;
		let st = s.status(), error = "";
		s.on("status", (x) => { st = x; if (x.error) error = x.error; });
		await s.setTier("low"); // the downloaded tier: keys come from the licence, never the relay
		await s.download("album", %q, "low");
		let d;
		for (const t0 = performance.now(); ; await sleep(50)) {
			d = await s.downloads();
			if (d.tracks > 0 && d.tracksDone === d.tracks && d.licenses.length) break;
			if (performance.now() - t0 > 60000) throw new Error("download did not finish: " + JSON.stringify(d));
		}
		const lic = d.licenses[0];
		// play plays the album until the output has audio or the status
		// reports an error (the player retries a refused key as a stall,
		// 30 s, as on native), 60 s at most.
		const play = async (name) => {
			error = "";
			const now = (await s.downloads()).trustedNow;
			await s.playAlbum(%q, 0);
			const t0 = performance.now();
			while (!(st.state === "playing" && st.frame > 0 && s.buffered() > 0) && !error && performance.now() - t0 < 60000) await sleep(20);
			const out = {name, trustedNow: now, played: st.state === "playing" && st.frame > 0 && st.tier === "low", frame: st.frame, error};
			await s.stop();
			return out;
		};
		const phases = [await play("licensed")];
		await s.advanceClock((lic.expires - phases[0].trustedNow) / 1000 + 3600);
		phases.push(await play("expired, in grace"));
		await s.advanceClock(48 * 3600);
		phases.push(await play("past grace"));
		const back = await s.advanceClock(-3600).then(() => "", (e) => String(e.message || e));
		return {expires: lic.expires, until: lic.until, back, phases};
	})()`, r.Album, r.Album))
	for _, p := range got.Phases {
		t.Logf("%s: trusted now %s (expiry %s, until %s): played %v (frame %.0f), error %q", p.Name,
			time.UnixMilli(int64(p.TrustedNow)).UTC().Format(time.RFC3339), time.UnixMilli(int64(got.Expires)).UTC().Format(time.RFC3339),
			time.UnixMilli(int64(got.Until)).UTC().Format(time.RFC3339), p.Played, p.Frame, p.Error)
	}
	if len(got.Phases) != 3 {
		t.Fatalf("phases %+v", got.Phases)
	}
	if got.Until-got.Expires != float64((48 * time.Hour).Milliseconds()) {
		t.Errorf("licence grace %v, want 48 h", time.Duration(got.Until-got.Expires)*time.Millisecond)
	}
	lic, grace, past := got.Phases[0], got.Phases[1], got.Phases[2]
	if !lic.Played || lic.TrustedNow >= got.Expires {
		t.Errorf("within the licence: %+v, want played before expiry", lic)
	}
	if !grace.Played || grace.TrustedNow <= got.Expires || grace.TrustedNow >= got.Until {
		t.Errorf("past expiry, within grace: %+v, want played between expiry and expiry + 48 h", grace)
	}
	if past.Played || past.TrustedNow <= got.Until || !strings.Contains(past.Error, download.ErrLicenseExpired.Error()) {
		t.Errorf("past expiry + grace: %+v, want no audio and the error %q", past, download.ErrLicenseExpired)
	}
	if !strings.Contains(got.Back, "forward only") {
		t.Errorf("advanceClock(-3600) = %q, want the forward-only refusal", got.Back)
	}
}
