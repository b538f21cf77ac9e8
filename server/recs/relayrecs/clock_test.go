package relayrecs_test

import (
	"testing"
	"time"

	"github.com/segue-fm/segue/server/recs/relayrecs"
)

// TestClockSetBack: a run under a clock that ran years ahead records
// periods that have not begun anywhere; once the clock is set right, the
// next run delivers the current periods again instead of skipping every
// listener until the clock catches up, and an admin run of the current
// week is not skipped either. A period recorded in an earlier time zone
// (Auckland's new week, then a move to Honolulu) is still not repeated.
func TestClockSetBack(t *testing.T) {
	f := newFixture(t, "alice", "kiri")
	ctx := t.Context()
	f.clk.set(time.Date(2031, 6, 4, 12, 0, 0, 0, time.UTC))
	if res, err := f.svc.RunDue(ctx); err != nil || res.Delivered != 6 {
		t.Fatalf("run with the clock ahead = %+v, %v", res, err)
	}
	f.clk.set(epoch)
	if res, err := f.svc.RunDue(ctx); err != nil || res.Delivered != 6 || res.Skipped != 0 {
		t.Fatalf("run with the clock set back = %+v, %v; want all 6 families delivered again", res, err)
	}
	for kind, want := range map[string]string{relayrecs.KindDiscoverWeekly: "2026-W49", relayrecs.DailyMixKind(1): "2026-12-02", relayrecs.KindReleaseRadar: "2026-11-27"} {
		if _, _, si := f.playlist(t, "alice", kind); si.Period != want {
			t.Errorf("%s period %q after the clock was set back, want %q", kind, si.Period, want)
		}
	}
	if res, err := f.svc.RunDue(ctx); err != nil || res.Delivered != 0 || res.Skipped != 6 {
		t.Fatalf("second run = %+v, %v; want everything skipped", res, err)
	}

	// The admin run skips a week recorded ahead of the clock no more.
	f.clk.set(time.Date(2031, 6, 4, 12, 0, 0, 0, time.UTC))
	if _, err := f.svc.RunWeek(ctx, "2031-W23"); err != nil {
		t.Fatal(err)
	}
	f.clk.set(epoch.AddDate(0, 0, 1))
	if res, err := f.svc.RunWeek(ctx, "2026-W49"); err != nil || res.Delivered != 2 {
		t.Fatalf("admin run after the clock was set back = %+v, %v; want 2 delivered", res, err)
	}

	// Sunday 11:00 UTC is Monday in Auckland: kiri gets week 50, then
	// moves to Honolulu, where it is still week 49: not delivered again.
	if err := f.svc.SetTimeZone(ctx, "kiri", "Pacific/Auckland"); err != nil {
		t.Fatal(err)
	}
	f.clk.set(time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC))
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetTimeZone(ctx, "kiri", "Pacific/Honolulu"); err != nil {
		t.Fatal(err)
	}
	f.clk.advance(time.Minute)
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, si := f.playlist(t, "kiri", relayrecs.KindDiscoverWeekly); si.Period != "2026-W50" {
		t.Fatalf("kiri after moving west: period %q, want 2026-W50 kept", si.Period)
	}
}
