package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestPlayWithoutPlayer: every play call of an engine without a player
// (before OpenPlayer, after ClosePlayer) is ErrNoPlayer at once, sending
// nothing. They fetched the tracks' metadata first, so with the relay
// unreachable the app saw a network failure instead, and online a play
// of a long list cost its metadata requests for nothing.
func TestPlayWithoutPlayer(t *testing.T) {
	tb := newTestbed(t)
	url, asked := countingRelay(t, tb)
	ctx := context.Background()
	e := tb.openEngine(t, core.DefaultOptions().WithLogger(quiet()), url)
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	list, err := d.Playlists().Create(ctx, "mix")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Add(ctx, list, docs.AtEnd(), tb.tracks...); err != nil {
		t.Fatal(err)
	}
	album, err := e.TrackInfo(ctx, tb.tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"PlayTrack":    func() error { return e.PlayTrack(ctx, tb.tracks[0]) },
		"PlayAlbum":    func() error { return e.PlayAlbum(ctx, album.AlbumID, 0) },
		"PlayTracks":   func() error { return e.PlayTracks(ctx, model.PlayContext{Kind: "mix"}, tb.tracks, 0) },
		"PlayPlaylist": func() error { return e.PlayPlaylist(ctx, d, list, 0) },
	} {
		asked.Store(0)
		if err := call(); !errors.Is(err, core.ErrNoPlayer) {
			t.Errorf("%s = %v, want ErrNoPlayer", name, err)
		}
		if n := asked.Load(); n != 0 {
			t.Errorf("%s sent %d requests, want none", name, n)
		}
	}
}
