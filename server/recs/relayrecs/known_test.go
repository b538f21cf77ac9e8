package relayrecs_test

import (
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
)

// TestDiscoverWeeklyLeavesOutKnown: a track the listener saved, and the
// tracks of an album she saved, are not "tracks you have not played
// yet": next week's Discover Weekly leaves them out though she never
// played them, and still has its 30 tracks.
func TestDiscoverWeeklyLeavesOutKnown(t *testing.T) {
	f := newFixture(t, "alice")
	ctx := t.Context()
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	_, w49, _ := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly)
	albumOf := map[model.TrackID]model.AlbumID{}
	for _, tr := range f.cat.tracks {
		albumOf[tr.ID] = tr.AlbumID
	}
	savedTrack, savedAlbum := w49[0], albumOf[w49[1]]
	libID, _, err := relaysync.LibraryOf(ctx, f.st, "alice")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := f.docs.OpenLibrary(ctx, libID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	err = lib.Library(ctx, func(l *docs.Library) error {
		if err := l.SaveTracks(savedTrack); err != nil {
			return err
		}
		return l.SaveAlbums(savedAlbum)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.clk.set(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	_, w50, si := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly)
	if si.Period != "2026-W50" || len(w50) != 30 {
		t.Fatalf("week 50: %q with %d tracks, want 2026-W50 with 30", si.Period, len(w50))
	}
	for _, id := range w50 {
		if id == savedTrack || albumOf[id] == savedAlbum {
			t.Errorf("Discover Weekly holds %s, saved by the listener (track %s, album %s)", id, savedTrack, savedAlbum)
		}
	}
	if !slices.Contains(w49, savedTrack) {
		t.Fatal("the saved track was not in week 49 (test setup)")
	}
}
