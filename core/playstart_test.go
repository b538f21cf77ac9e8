package core_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/sync/docs"
)

// TestPlayStartOutOfRange: a start index outside the tracks of the
// album, list or playlist is ErrBadStart, before the player hears of the
// play (as the web engine refuses it). The player used to clamp it, so
// PlayAlbum(id, 99) of a 4-track album played its last track and an
// app's off-by-one went unnoticed.
func TestPlayStartOutOfRange(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	tbed.Register(t, e, testUser, "test device")
	ctx := t.Context()
	if _, err := e.OpenPlayer(player.NewDiscardSink(44100, 2), player.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := d.Playlists().Create(ctx, "two")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Add(ctx, pl, docs.AtEnd(), r.Tracks[0], r.Tracks[1]); err != nil {
		t.Fatal(err)
	}
	album := r.Album
	n := len(r.Tracks)
	list := model.PlayContext{Kind: "list", ID: "l"}
	for _, tc := range []struct {
		name string
		play func() error
		bad  bool
	}{
		{"album -1", func() error { return e.PlayAlbum(ctx, album, -1) }, true},
		{"album past the end", func() error { return e.PlayAlbum(ctx, album, n) }, true},
		{"album far past", func() error { return e.PlayAlbumFrom(ctx, album, 99, 0) }, true},
		{"tracks -1", func() error { return e.PlayTracks(ctx, list, r.Tracks, -1) }, true},
		{"tracks past the end", func() error { return e.PlayTracksFrom(ctx, list, r.Tracks, n, 0) }, true},
		{"playlist past the end", func() error { return e.PlayPlaylist(ctx, d, pl, 2) }, true},
		{"playlist -1", func() error { return e.PlayPlaylistFrom(ctx, d, pl, -1, 0) }, true},
		{"album last", func() error { return e.PlayAlbum(ctx, album, n-1) }, false},
		{"tracks first", func() error { return e.PlayTracks(ctx, list, r.Tracks, 0) }, false},
		{"playlist last", func() error { return e.PlayPlaylist(ctx, d, pl, 1) }, false},
	} {
		err := tc.play()
		if tc.bad && !errors.Is(err, core.ErrBadStart) {
			t.Errorf("%s: %v, want ErrBadStart", tc.name, err)
		}
		if !tc.bad && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
