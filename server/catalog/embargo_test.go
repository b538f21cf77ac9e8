package catalog

import (
	"bytes"
	"context"
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

// albumReads is a store that counts the reads of album records.
type albumReads struct {
	store.Store
	n int
}

func (s *albumReads) Get(ctx context.Context, key []byte) ([]byte, error) {
	if bytes.HasPrefix(key, []byte("cat/album/")) {
		s.n++
	}
	return s.Store.Get(ctx, key)
}

// TestKeyIssuer: an issuer decides every track as ContentKeyAt does at
// its instant — an embargoed album's tracks refused, a released one's
// keyed, an unknown track ErrNotFound — and reads each album once
// however many of its tracks it is asked for (a renewal of 10,000 offline
// licenses read an album per track); an issuer at a later instant sees
// the release.
func TestKeyIssuer(t *testing.T) {
	ctx := t.Context()
	st := &albumReads{Store: store.NewMemory()}
	c := New(st, AtRestKey{4})
	f := newFixture(4)
	held, _ := f.release(t, c, "Held", 1, 2, 3)
	free, _ := f.release(t, c, "Free", 1, 2, 3)
	release := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	held.Album.ReleaseAt = release.Unix()
	for _, r := range []Release{held, free} {
		if err := c.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range []struct {
		now      time.Time
		heldWant error
	}{
		{release.Add(-time.Second), ErrEmbargoed},
		{release, nil},
	} {
		type issued struct {
			track model.TrackID
			key   crypto.ContentKey
			err   error
			want  error
		}
		var got []issued
		st.n = 0
		k := c.KeysAt(at.now)
		for i := range 3 {
			for _, tc := range []struct {
				track model.TrackID
				want  error
			}{
				{held.Tracks[i].Track.ID, at.heldWant},
				{free.Tracks[i].Track.ID, nil},
				{"trnope", ErrNotFound},
			} {
				key, err := k.ContentKey(ctx, tc.track, model.TierLow)
				got = append(got, issued{tc.track, key, err, tc.want})
			}
		}
		if st.n != 2 {
			t.Errorf("at %v: %d album reads for 6 tracks of 2 albums, want 2", at.now, st.n)
		}
		for _, g := range got {
			if !errors.Is(g.err, g.want) || (g.want == nil) != (g.err == nil) {
				t.Fatalf("at %v: ContentKey(%s) = %v, want %v", at.now, g.track, g.err, g.want)
			}
			if want, _ := c.ContentKeyAt(ctx, g.track, model.TierLow, at.now); g.key != want {
				t.Fatalf("at %v: ContentKey(%s) differs from ContentKeyAt", at.now, g.track)
			}
		}
	}
}
