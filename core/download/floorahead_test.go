package download_test

import (
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// TestFloorAheadCorrectedOnline: a floor the device keeps for its
// trusted clock (a queued offline play stamped while its clock ran a year
// ahead, RaiseClock; the same path as dl/clockmark and the refusal time
// at open) raises trusted time, so the license looks expired offline, but
// the relay's next signed time corrects it: a renewal makes the download
// play again. Before, the floor was taken as a signed server time, so
// every real one older than it was ignored as a replay and the device
// could not play its downloads, online or not, until real time caught
// up with the floor (a year here), however often it renewed.
func TestFloorAheadCorrectedOnline(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	id := p.tracks[0]
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions().WithRenewAhead(0))
	downloadOne(t, ctx, d, id)
	d.dl.RaiseClock(ctx, b.clock.Now().Add(365*day))
	if _, err := d.dl.ContentKey(ctx, id, model.TierLow); err == nil {
		t.Fatal("a year ahead: the 30-day license still plays")
	}
	b.clock.Advance(time.Hour)
	if err := d.dl.Renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if _, err := d.dl.ContentKey(ctx, id, model.TierLow); err != nil {
		t.Fatalf("after the relay's time: %v", err)
	}
	if now, real := d.dl.TrustedNow(ctx), b.clock.Now(); now.After(real.Add(day)) {
		t.Fatalf("trusted time %v, the relay's %v", now, real)
	}
}
