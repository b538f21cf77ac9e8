package catalog

import (
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// TestContentKeyAt: a track's content key and its release check follow
// its album's embargo at the caller's clock, on both sides of the
// release instant; an album without one is released at any time, and
// lifting an embargo releases at once.
func TestContentKeyAt(t *testing.T) {
	ctx := t.Context()
	c := New(store.NewMemory(), AtRestKey{4})
	f := newFixture(4)
	held, _ := f.release(t, c, "Held", 1)
	free, _ := f.release(t, c, "Free", 1)
	release := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	held.Album.ReleaseAt = release.Unix()
	for _, r := range []Release{held, free} {
		if err := c.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	heldTrack, freeTrack := held.Tracks[0].Track.ID, free.Tracks[0].Track.ID
	cases := []struct {
		name  string
		track model.TrackID
		now   time.Time
		want  error // nil: released
	}{
		{"embargoed, a year before", heldTrack, release.AddDate(-1, 0, 0), ErrEmbargoed},
		{"embargoed, a second before", heldTrack, release.Add(-time.Second), ErrEmbargoed},
		{"embargoed, at the release", heldTrack, release, nil},
		{"embargoed, after the release", heldTrack, release.Add(time.Hour), nil},
		{"no embargo", freeTrack, release.AddDate(-1, 0, 0), nil},
		{"unknown track", "trnope", release, ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.CheckReleased(ctx, tc.track, tc.now); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CheckReleased: %v, want %v", err, tc.want)
			}
			k, err := c.ContentKeyAt(ctx, tc.track, model.TierLow, tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("ContentKeyAt: %v, want %v", err, tc.want)
			}
			want, _ := c.contentKey(ctx, tc.track, model.TierLow)
			if err == nil && k != want {
				t.Fatal("ContentKeyAt returned another key")
			}
			if err != nil && k != (crypto.ContentKey{}) {
				t.Fatal("a refused key is not zero")
			}
		})
	}
	if err := c.ScheduleRelease(ctx, held.Album.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContentKeyAt(ctx, heldTrack, model.TierLow, release.AddDate(-1, 0, 0)); err != nil {
		t.Fatalf("after the embargo is lifted: %v", err)
	}
}
