package download_test

import (
	"context"
	"errors"
	"testing"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// TestRebootDoesNotRollBack: an offline device that is switched off past
// its license's expiry and back on, nothing restored and its wall clock
// right, does not play the expired download. The clock record's
// monotonic anchor was kept across the reboot, so a reading of the new
// boot at or past it (the new boot's epoch starts again at zero, and an
// anchor set right after an open is near zero too) counted as progress
// since the old anchor: trusted time resumed where it stood at shutdown,
// losing the time the device was off, on every such reboot.
func TestRebootDoesNotRollBack(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	id := p.tracks[0]
	opts := download.DefaultOptions().WithRenewAhead(0)
	for _, tc := range []struct {
		name   string
		bootID string
	}{
		{"same boot", "boot1"},
		{"after a reboot", "boot2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.up.Store(true)
			d := b.openDevice(t, t.TempDir(), "boot1", opts)
			downloadOne(t, ctx, d, id)
			d.dl.TrustedNow(ctx)
			b.up.Store(false)
			// Switched off past expiry (30 days) and grace (48 h).
			b.damage(t, d, tc.bootID, opts, func(context.Context) error { b.clock.Advance(33 * day); return nil })
			if _, err := d.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrLicenseExpired) {
				t.Fatalf("33 days on: %v, want ErrLicenseExpired", err)
			}
			if now, real := d.dl.TrustedNow(ctx), b.clock.Real(); now.Before(real.Add(-day)) {
				t.Fatalf("trusted time %v, true time %v", now, real)
			}
		})
	}
}
