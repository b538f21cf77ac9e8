package download_test

import (
	"context"
	"errors"
	"testing"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
)

// TestRestoredClockNotRolledBack: a backup of dl/clock copied back into
// an otherwise current store (after a reboot, so the monotonic clock
// starts again, with the wall clock wound back to the backup's time)
// does not roll trusted time back: the dl/clockmark record written with
// every persisted clock is a floor, so an expired offline license stays
// expired. Before, trusted time restarted at the backup's and the
// license played again. A mark that is not 8 bytes is ignored (what the
// clock record and the wall clock say stands).
func TestRestoredClockNotRolledBack(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	id := p.tracks[0]
	opts := download.DefaultOptions().WithRenewAhead(0)
	for _, tc := range []struct {
		name    string
		mark    []byte // written over dl/clockmark with the old clock; nil: kept
		expired bool
	}{
		{"clock restored", nil, true},
		{"clock restored, mark junk", []byte{1, 2, 3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.up.Store(true)
			b.clock.SetWall(b.clock.Real())
			d := b.openDevice(t, t.TempDir(), "boot1", opts)
			downloadOne(t, ctx, d, id)
			backup := d.dl.TrustedNow(ctx)
			old, err := d.e.Store().Get(ctx, []byte("dl/clock"))
			if err != nil {
				t.Fatal(err)
			}
			b.up.Store(false)
			b.clock.Advance(33 * day) // past expiry (30 days) and grace (48 h)
			if _, err := d.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrLicenseExpired) {
				t.Fatalf("before the restore: %v", err)
			}
			b.damage(t, d, "boot2", opts, func(ctx context.Context) error {
				if tc.mark != nil {
					if err := d.e.Store().Set(ctx, []byte("dl/clockmark"), tc.mark); err != nil {
						return err
					}
				}
				b.clock.SetWall(backup)
				return d.e.Store().Set(ctx, []byte("dl/clock"), old)
			})
			if err := d.dl.Renew(ctx); !errors.Is(err, fetch.ErrOffline) {
				t.Fatalf("renew offline: %v", err)
			}
			_, err = d.dl.ContentKey(ctx, id, model.TierLow)
			if got := errors.Is(err, download.ErrLicenseExpired); got != tc.expired {
				t.Fatalf("after the restore: %v, want expired %v", err, tc.expired)
			}
		})
	}
}
