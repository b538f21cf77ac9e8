package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

// ErrNotPlaylist is returned for a document id that is not a playlist
// this device holds.
var ErrNotPlaylist = errors.New("core: not a playlist on this device")

// ErrBadID reports a track, album or artist id that no catalog id can be
// (model.ValidID: 1–128 bytes, no '/' or NUL), given to a playlist or
// library edit or to a call on one id (TrackInfo, OpenTrack, Album,
// Artist, SimilarTracks and the plays built on them), which then sends
// nothing.
var ErrBadID = errors.New("core: not a catalog id (want 1-128 bytes without '/' or NUL)")

// checkIDs returns ErrBadID, naming the first bad id (quoted, its first
// 64 bytes) and its position, when one of ids is not a valid catalog id.
func checkIDs[T ~string](ids []T) error {
	for i, id := range ids {
		if !model.ValidID(string(id)) {
			return fmt.Errorf("%w: id %d of %d, %q (%d bytes)", ErrBadID, i+1, len(ids), safetext.Cut(string(id), 64), len(id))
		}
	}
	return nil
}

// checkID returns ErrBadID, naming id (quoted, its first 64 bytes), when
// id is not a valid catalog id.
func checkID[T ~string](id T) error {
	if !model.ValidID(string(id)) {
		return fmt.Errorf("%w: %q (%d bytes)", ErrBadID, safetext.Cut(string(id), 64), len(id))
	}
	return nil
}

// Errors of the playlist edits the device itself can tell the relay
// would refuse (the rule is peer.PlaylistAccess over the content).
var (
	// ErrNotOwner: only the owner changes a playlist's collaborators or
	// whether it is public.
	ErrNotOwner = errors.New("core: only the playlist's owner may change that")
	// ErrNotWriter: the user is neither the owner nor a collaborator.
	ErrNotWriter = errors.New("core: not a collaborator of this playlist")
)

// Playlists edits the user's playlists. Each method is one Automerge
// commit, durable when it returns, synced when sync runs.
type Playlists struct{ d *Docs }

// Playlists returns the playlist API of d.
func (d *Docs) Playlists() Playlists { return Playlists{d} }

// PlaylistView is a snapshot of one playlist: metadata and the entries
// in order. It is owned by the caller.
type PlaylistView struct {
	ID      docs.DocumentID
	Info    docs.Info
	Entries []docs.Entry
}

// Create makes a playlist owned by the user, adds it to the user's
// library and returns its id.
func (p Playlists) Create(ctx context.Context, name string) (docs.DocumentID, error) {
	ctx, done, err := p.d.calls.enter(ctx)
	if err != nil {
		return docs.DocumentID{}, err
	}
	defer done()
	h, err := p.d.repo.CreatePlaylist(ctx, p.d.user, name)
	if err != nil {
		return docs.DocumentID{}, fmt.Errorf("core: create playlist: %w", err)
	}
	if err := p.d.Library().edit(ctx, func(l *docs.Library) error { return l.FollowPlaylists(h.ID()) }); err != nil {
		return h.ID(), err
	}
	return h.ID(), nil
}

func (p Playlists) handle(ctx context.Context, id docs.DocumentID) (*repo.Handle, error) {
	h, err := p.d.repo.Get(ctx, id)
	if errors.Is(err, repo.ErrNotFound) || err == nil && h.Empty() {
		return nil, fmt.Errorf("%w: %s", ErrNotPlaylist, id)
	}
	return h, err
}

// edit applies fn to playlist id as one commit, when the user may make
// it: a writer (owner or collaborator), the owner when manage. Edits the
// relay would refuse are refused here at once, not set aside at the
// next sync.
func (p Playlists) edit(ctx context.Context, id docs.DocumentID, manage bool, fn func(pl *docs.Playlist) error) error {
	ctx, done, err := p.d.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, err := p.handle(ctx, id)
	if err != nil {
		return err
	}
	err = h.Read(func(d *automerge.Doc) error {
		if _, ok := docs.ServiceOf(d); ok {
			return docs.ErrReadOnly
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("core: playlist %s: %w", id, err)
	}
	err = h.Playlist(ctx, func(pl *docs.Playlist) error {
		owner, _, _, err := pl.Access()
		if err != nil {
			return err
		}
		if manage && owner != p.d.user {
			return fmt.Errorf("%w (owner %q)", ErrNotOwner, owner)
		}
		if ok, err := pl.CanWrite(p.d.user); err != nil || !ok {
			return cmp.Or(err, fmt.Errorf("%w (owner %q)", ErrNotWriter, owner))
		}
		return fn(pl)
	})
	if err != nil {
		return fmt.Errorf("core: playlist %s: %w", id, err)
	}
	return nil
}

// Get returns a snapshot of playlist id.
func (p Playlists) Get(ctx context.Context, id docs.DocumentID) (PlaylistView, error) {
	ctx, done, err := p.d.calls.enter(ctx)
	if err != nil {
		return PlaylistView{}, err
	}
	defer done()
	h, err := p.handle(ctx, id)
	if err != nil {
		return PlaylistView{}, err
	}
	v := PlaylistView{ID: id}
	err = h.ReadPlaylist(func(pl *docs.Playlist) error {
		var err error
		if v.Info, err = pl.Info(); err != nil {
			return err
		}
		v.Entries, err = pl.Entries()
		return err
	})
	if err != nil {
		return PlaylistView{}, fmt.Errorf("core: playlist %s: %w", id, err)
	}
	return v, nil
}

// List returns the playlists held on this device (own, collaborative
// and followed), in id order, owned by the caller.
func (p Playlists) List(ctx context.Context) ([]PlaylistView, error) {
	ctx, done, err := p.d.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	ids, err := p.d.repo.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []PlaylistView
	for _, id := range ids {
		v, err := p.Get(ctx, id)
		if errors.Is(err, docs.ErrWrongType) || errors.Is(err, ErrNotPlaylist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Rename sets the playlist's name.
func (p Playlists) Rename(ctx context.Context, id docs.DocumentID, name string) error {
	return p.edit(ctx, id, false, func(pl *docs.Playlist) error { return pl.Rename(name) })
}

// Describe sets the playlist's description.
func (p Playlists) Describe(ctx context.Context, id docs.DocumentID, description string) error {
	return p.edit(ctx, id, false, func(pl *docs.Playlist) error { return pl.Describe(description) })
}

// Add inserts tracks at pos (docs.AtEnd(), docs.AtIndex(i), …), added by
// the user, and returns the new entry ids. Every track id must have a
// catalog id's shape (model.ValidID), else ErrBadID and nothing is added;
// whether the catalog knows it is not checked (playlists are edited
// offline). The returned slice is owned by the caller.
func (p Playlists) Add(ctx context.Context, id docs.DocumentID, pos docs.Position, tracks ...model.TrackID) ([]docs.EntryID, error) {
	if err := checkIDs(tracks); err != nil {
		return nil, err
	}
	var out []docs.EntryID
	err := p.edit(ctx, id, false, func(pl *docs.Playlist) error {
		var err error
		out, err = pl.Add(pos, p.d.user, tracks...)
		return err
	})
	return out, err
}

// Remove deletes entries.
func (p Playlists) Remove(ctx context.Context, id docs.DocumentID, entries ...docs.EntryID) error {
	return p.edit(ctx, id, false, func(pl *docs.Playlist) error { return pl.Remove(entries...) })
}

// Move moves one entry to pos.
func (p Playlists) Move(ctx context.Context, id docs.DocumentID, entry docs.EntryID, pos docs.Position) error {
	return p.edit(ctx, id, false, func(pl *docs.Playlist) error { return pl.Move(entry, pos) })
}

// SetCollaborators makes users exactly the playlist's collaborators
// (they may then read and edit it, through the relay or on the LAN). A
// user added that is no account name (model.ValidUserID) is
// docs.ErrInvalidArgument, nothing changed; whether the account exists
// is not checked (playlists are edited offline).
func (p Playlists) SetCollaborators(ctx context.Context, id docs.DocumentID, users ...model.UserID) error {
	return p.edit(ctx, id, true, func(pl *docs.Playlist) error { return pl.SetCollaborators(users...) })
}

// SetPublic makes the playlist public (anyone may read and follow it)
// or private.
func (p Playlists) SetPublic(ctx context.Context, id docs.DocumentID, public bool) error {
	return p.edit(ctx, id, true, func(pl *docs.Playlist) error { return pl.SetPublic(public) })
}

// Follow records playlist id (shared by URL, public or collaborative) in
// the user's library and asks the relay for it when sync runs; it
// arrives asynchronously (Subscribe).
func (p Playlists) Follow(ctx context.Context, id docs.DocumentID) error {
	if err := p.d.Library().edit(ctx, func(l *docs.Library) error { return l.FollowPlaylists(id) }); err != nil {
		return err
	}
	p.d.mu.Lock()
	c := p.d.client
	p.d.mu.Unlock()
	if c != nil {
		c.Want(id)
	}
	return nil
}

// Unfollow removes playlist id from the user's library.
func (p Playlists) Unfollow(ctx context.Context, id docs.DocumentID) error {
	return p.d.Library().edit(ctx, func(l *docs.Library) error { return l.UnfollowPlaylists(id) })
}
