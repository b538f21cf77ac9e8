package counting_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/counting"
)

// TestUserTrackStreams: counted streams read back per user and track
// over a month range (what recommendations train on); plays under the
// threshold are not there; a malformed month is ErrBadMonth.
func TestUserTrackStreams(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second))
	dave, erin := newDevice(t, f, "dave"), newDevice(t, f, "erin")
	t0, t1 := f.r.Tracks[0], f.r.Tracks[1]
	for _, u := range []struct {
		d   *device
		evs []api.PlayRecord
	}{
		{dave, []api.PlayRecord{play(1, t0, 1500), play(2, t0, 1500), play(3, t1, 500)}},
		{erin, []api.PlayRecord{play(1, t1, 2000)}},
	} {
		if _, a := u.d.upload(t, u.evs); len(a.Results) != len(u.evs) {
			t.Fatalf("upload: %+v", a)
		}
	}
	for {
		n, err := f.svc.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	month := counting.Month(play(1, t0, 0).StartedAt)
	got, err := counting.UserTrackStreams(context.Background(), f.dd.Store, month, month)
	if err != nil {
		t.Fatal(err)
	}
	want := map[model.UserID]map[model.TrackID]uint64{"dave": {t0: 2}, "erin": {t1: 1}}
	if len(got) != len(want) || got["dave"][t0] != 2 || got["dave"][t1] != 0 || got["erin"][t1] != 1 {
		t.Fatalf("streams %v, want %v", got, want)
	}
	if empty, err := counting.UserTrackStreams(context.Background(), f.dd.Store, "1999-01", "1999-12"); err != nil || len(empty) != 0 {
		t.Fatalf("another range: %v, %v", empty, err)
	}
	for _, r := range [][2]string{{"2026-13", month}, {month, "2026"}, {"", ""}} {
		if _, err := counting.UserTrackStreams(context.Background(), f.dd.Store, r[0], r[1]); !errors.Is(err, counting.ErrBadMonth) {
			t.Errorf("range %v: %v, want ErrBadMonth", r, err)
		}
	}
}
