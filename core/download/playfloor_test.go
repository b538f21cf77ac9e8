package download_test

import (
	"context"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// TestQueuedPlayFloorsClock: a device's queued offline plays, stamped
// with trusted time (core: TrustedTime), are a floor for the trusted
// clock when the downloads open, so copying back every dl/ record of a
// backup (dl/clock and dl/clockmark together) and winding the wall clock
// back to the backup's time rolls trusted time back no further than the
// newest such play. Before, it went back to the backup's time.
func TestQueuedPlayFloorsClock(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	id := p.tracks[0]
	opts := download.DefaultOptions().WithRenewAhead(0)
	d := b.openDevice(t, t.TempDir(), "boot1", opts)
	downloadOne(t, ctx, d, id)
	backup := d.dl.TrustedNow(ctx)
	var old [2][]byte
	for i, k := range []string{"dl/clock", "dl/clockmark"} {
		v, err := d.e.Store().Get(ctx, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		old[i] = v
	}
	b.up.Store(false)
	b.clock.Advance(20 * day)
	played := 3 * time.Minute
	if err := d.e.History().Append(ctx, model.PlayEvent{
		EventID: "e1", TrackID: id, Tier: model.TierLow, Started: b.clock.Now(), Played: played,
		End: model.EndCompleted, Offline: true,
	}); err != nil {
		t.Fatal(err)
	}
	list, err := d.e.History().List(ctx, 0)
	if err != nil || len(list) != 1 || !list[0].Event.TrustedTime {
		t.Fatalf("queued play: %+v, %v; want one in trusted time", list, err)
	}
	floor := list[0].Event.Started.Add(played)
	b.damage(t, d, "boot2", opts, func(ctx context.Context) error {
		b.clock.SetWall(backup)
		for i, k := range []string{"dl/clock", "dl/clockmark"} {
			if err := d.e.Store().Set(ctx, []byte(k), old[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if now := d.dl.TrustedNow(ctx); now.Before(floor.Truncate(time.Millisecond)) {
		t.Fatalf("trusted time %v after the restore, before the queued play's end %v", now, floor)
	}
}
