package core_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/sync/docs"
)

// TestNilDocs: the calls taking a *Docs refuse a nil one with ErrNoDocs
// instead of panicking (PlayPlaylist, FollowSearchIndex) or keeping it
// for the downloads manager to panic on later (ResolvePlaylists,
// FollowPlaylists). No relay is needed: nothing reaches the network.
func TestNilDocs(t *testing.T) {
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins("http://127.0.0.1:1"))
	ctx := t.Context()
	if _, err := e.OpenPlayer(player.NewDiscardSink(44100, 2), player.DefaultOptions().WithLogger(quiet())); err != nil {
		t.Fatal(err)
	}
	if _, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet())); err != nil {
		t.Fatal(err)
	}
	tests := map[string]func() error{
		"PlayPlaylist":      func() error { return e.PlayPlaylist(ctx, nil, docs.DocumentID{}, 0) },
		"PlayPlaylistFrom":  func() error { return e.PlayPlaylistFrom(ctx, nil, docs.DocumentID{}, 0, 10) },
		"FollowPlaylists":   func() error { return e.FollowPlaylists(ctx, nil) },
		"ResolvePlaylists":  func() error { return e.ResolvePlaylists(ctx, nil) },
		"FollowSearchIndex": func() error { _, err := e.FollowSearchIndex(ctx, nil); return err },
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			if err := call(); !errors.Is(err, core.ErrNoDocs) {
				t.Errorf("got %v, want ErrNoDocs", err)
			}
		})
	}
}
