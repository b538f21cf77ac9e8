package core

import (
	"context"
	"fmt"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// Library edits the user's library document (saved tracks and albums,
// followed artists and playlists, settings such as the tier). It syncs
// only between the user's own devices.
type Library struct{ d *Docs }

// Library returns the library API of d.
func (d *Docs) Library() Library { return Library{d} }

func (l Library) edit(ctx context.Context, fn func(lib *docs.Library) error) error {
	ctx, done, err := l.d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, err := l.d.library(ctx)
	if err != nil {
		return fmt.Errorf("core: library: %w", err)
	}
	if err := h.Library(ctx, fn); err != nil {
		return fmt.Errorf("core: library: %w", err)
	}
	return nil
}

func (l Library) read(ctx context.Context, fn func(lib *docs.Library) error) error {
	ctx, done, err := l.d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, err := l.d.library(ctx)
	if err != nil {
		return fmt.Errorf("core: library: %w", err)
	}
	return h.ReadLibrary(fn)
}

// SaveTracks saves tracks (idempotent); ErrBadID, saving none, when an
// id is not a catalog id's shape (model.ValidID).
func (l Library) SaveTracks(ctx context.Context, ids ...model.TrackID) error {
	if err := checkIDs(ids); err != nil {
		return err
	}
	return l.edit(ctx, func(lib *docs.Library) error { return lib.SaveTracks(ids...) })
}

// UnsaveTracks removes saved tracks.
func (l Library) UnsaveTracks(ctx context.Context, ids ...model.TrackID) error {
	return l.edit(ctx, func(lib *docs.Library) error { return lib.UnsaveTracks(ids...) })
}

// SaveAlbums saves albums; ErrBadID as SaveTracks.
func (l Library) SaveAlbums(ctx context.Context, ids ...model.AlbumID) error {
	if err := checkIDs(ids); err != nil {
		return err
	}
	return l.edit(ctx, func(lib *docs.Library) error { return lib.SaveAlbums(ids...) })
}

// UnsaveAlbums removes saved albums.
func (l Library) UnsaveAlbums(ctx context.Context, ids ...model.AlbumID) error {
	return l.edit(ctx, func(lib *docs.Library) error { return lib.UnsaveAlbums(ids...) })
}

// FollowArtists follows artists; ErrBadID as SaveTracks.
func (l Library) FollowArtists(ctx context.Context, ids ...model.ArtistID) error {
	if err := checkIDs(ids); err != nil {
		return err
	}
	return l.edit(ctx, func(lib *docs.Library) error { return lib.FollowArtists(ids...) })
}

// UnfollowArtists unfollows artists.
func (l Library) UnfollowArtists(ctx context.Context, ids ...model.ArtistID) error {
	return l.edit(ctx, func(lib *docs.Library) error { return lib.UnfollowArtists(ids...) })
}

// SetTier stores the preferred audio tier (model.ErrInvalidTier for an
// invalid one).
func (l Library) SetTier(ctx context.Context, t model.Tier) error {
	return l.edit(ctx, func(lib *docs.Library) error { return lib.SetTier(t) })
}

// Tier returns the preferred tier, def when none is set.
func (l Library) Tier(ctx context.Context, def model.Tier) (model.Tier, error) {
	t := def
	err := l.read(ctx, func(lib *docs.Library) error {
		var err error
		t, err = lib.Tier(def)
		return err
	})
	return t, err
}

// LibraryView is a snapshot of the library, owned by the caller.
type LibraryView struct {
	Tracks, Albums, Artists []docs.Saved
	Playlists               []docs.DocumentID
}

// Get returns a snapshot of the library, owned by the caller.
func (l Library) Get(ctx context.Context) (LibraryView, error) {
	var v LibraryView
	err := l.read(ctx, func(lib *docs.Library) error {
		var err error
		if v.Tracks, err = lib.Tracks(); err != nil {
			return err
		}
		if v.Albums, err = lib.Albums(); err != nil {
			return err
		}
		if v.Artists, err = lib.Artists(); err != nil {
			return err
		}
		v.Playlists, err = lib.Playlists()
		return err
	})
	return v, err
}
