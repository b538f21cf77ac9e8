package relayrecs_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/recs/relayrecs"
)

// TestUnfollowRespected: over a real relay and a real device, a listener
// who unfollows her Discover Weekly does not get it back at the next
// week's delivery (the relay's copy of her library, her device's library
// and GET /v1/recommendations all say unfollowed), though its content is
// still refreshed; following the same document id again (core
// Playlists.Follow) opts her back in: her device receives the current
// week at once and later deliveries keep it followed.
func TestUnfollowRespected(t *testing.T) {
	clk := &clock{t: epoch}
	var r *testbed.Relay
	r, svc := startRelay(t, func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		return demoPlays(r)(ctx, from, to)
	}, clk)
	ctx := t.Context()
	alice := testbed.Device(t, r, "alice")
	if res, err := svc.RunDue(ctx); err != nil || res.Failed != 0 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	dw := func() relayrecs.Playlist {
		ps, err := svc.Playlists(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Kind == relayrecs.KindDiscoverWeekly {
				return p
			}
		}
		t.Fatal("alice has no Discover Weekly")
		return relayrecs.Playlist{}
	}
	id := dw().Doc
	d, err := alice.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	inLibrary := func(d *core.Docs) bool {
		v, err := d.Library().Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(v.Playlists, id)
	}
	week := func(d *core.Docs) string {
		v, err := d.Playlists().Get(ctx, id)
		if err != nil {
			return ""
		}
		return v.Info.Description
	}
	apiFollowed := func() bool {
		recs, err := alice.Recommendations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range recs.Playlists {
			if p.Doc == id.String() {
				return p.Followed
			}
		}
		t.Fatal("GET /v1/recommendations lost alice's Discover Weekly")
		return false
	}
	waitUntil(t, "alice's device follows and holds week 49", func() bool {
		return inLibrary(d) && strings.Contains(week(d), "2026-W49")
	})
	if !dw().Followed || !apiFollowed() {
		t.Fatal("a delivered Discover Weekly is not reported followed")
	}

	if err := d.Playlists().Unfollow(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the relay sees the unfollow", func() bool { return !dw().Followed })
	clk.set(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) // Monday: week 50
	if res, err := svc.RunDue(ctx); err != nil || res.Failed != 0 || res.Delivered == 0 {
		t.Fatalf("week 50 run: %+v, %v", res, err)
	}
	if p := dw(); p.Followed || p.Period != "2026-W50" {
		t.Fatalf("after week 50's delivery: %+v; want period 2026-W50, still unfollowed", p)
	}
	if apiFollowed() {
		t.Fatal("GET /v1/recommendations reports the unfollowed playlist followed")
	}
	// The device's library syncs with the relay's copy; give a re-follow
	// time to arrive (it would come within the sync of the delivery).
	time.Sleep(500 * time.Millisecond)
	if inLibrary(d) {
		t.Fatal("the week 50 delivery put Discover Weekly back in alice's library")
	}

	// Opting back in: follow the same id again.
	if err := d.Playlists().Follow(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the device holds week 50 after following again", func() bool { return strings.Contains(week(d), "2026-W50") })
	waitUntil(t, "the relay sees the follow", func() bool { return dw().Followed })
	clk.set(time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC)) // week 51
	if _, err := svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if p := dw(); !p.Followed || p.Period != "2026-W51" {
		t.Fatalf("after week 51's delivery: %+v; want followed, 2026-W51", p)
	}
	waitUntil(t, "the device holds week 51", func() bool { return inLibrary(d) && strings.Contains(week(d), "2026-W51") })
}
