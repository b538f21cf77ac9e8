package search

import (
	"context"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/metadata"
	"github.com/segue-fm/segue/store"
)

// importHook indexes imported metadata (metadata.Hook): each record's
// entry is written in the import's transactions and applied in memory
// once the import has committed.
type importHook struct {
	ix   *Index
	meta *metadata.Importer
}

// NewImporter returns a metadata importer over ix's store that indexes
// what it imports in ix.
func NewImporter(ix *Index, opts metadata.Options) *metadata.Importer {
	h := &importHook{ix: ix}
	h.meta = metadata.New(ix.Store(), h, opts)
	return h.meta
}

// NewStoreImporter returns a metadata importer that writes the search
// entries of what it imports to st without an index in memory (the
// relay's index loads them when it opens st): for `segue catalog import`
// into a data directory.
func NewStoreImporter(st store.Store, opts metadata.Options) *metadata.Importer {
	h := &importHook{}
	h.meta = metadata.New(st, h, opts)
	return h.meta
}

// entryOf is the search entry of an imported record. A track's artists
// are its main then featured artists; audio is the attached catalog
// track ("" when none).
func entryOf(rec metadata.Record, names metadata.Names, audio string) Entry {
	switch rec.Kind {
	case metadata.KindArtist:
		a := rec.Artist
		return Entry{Kind: KindArtist, ID: a.ID, Title: a.Name, Popularity: a.Popularity}
	case metadata.KindAlbum:
		a := rec.Album
		e := Entry{Kind: KindAlbum, ID: a.ID, Title: a.Title, Popularity: a.Popularity}
		for _, id := range a.ArtistIDs {
			e.Artists = append(e.Artists, names.ArtistName(id))
		}
		return e
	default:
		t := rec.Track
		e := Entry{Kind: KindTrack, ID: t.ID, Title: t.Title, Album: names.AlbumTitle(t.AlbumID), Popularity: t.Popularity, Audio: audio}
		for _, id := range t.ArtistIDs {
			e.Artists = append(e.Artists, names.ArtistName(id))
		}
		for _, id := range t.FeaturedArtistIDs {
			e.Artists = append(e.Artists, names.ArtistName(id))
		}
		return e
	}
}

func (h *importHook) entries(ctx context.Context, chunk []metadata.Record, names metadata.Names) ([]Entry, error) {
	out := make([]Entry, 0, len(chunk))
	for _, rec := range chunk {
		audio := ""
		if rec.Kind == metadata.KindTrack {
			var err error
			if audio, err = h.meta.Audio(ctx, rec.Track.ID); err != nil {
				return nil, err
			}
		}
		out = append(out, entryOf(rec, names, audio))
	}
	return out, nil
}

// Writes implements metadata.Hook.
func (h *importHook) Writes(ctx context.Context, chunk []metadata.Record, names metadata.Names) ([]metadata.KV, error) {
	entries, err := h.entries(ctx, chunk, names)
	if err != nil {
		return nil, err
	}
	out := make([]metadata.KV, 0, len(entries))
	for _, e := range entries {
		kv, err := entryWrite(e)
		if err != nil {
			return nil, err
		}
		out = append(out, kv)
	}
	return out, nil
}

// Committed implements metadata.Hook.
func (h *importHook) Committed(ctx context.Context, chunk []metadata.Record, names metadata.Names) error {
	if h.ix == nil {
		return nil
	}
	entries, err := h.entries(ctx, chunk, names)
	if err != nil {
		return err
	}
	return h.ix.Apply(entries)
}

// AttachAudio attaches the audio of catalog track t to the imported track
// with t's ISRC, or with id when id is not empty: the imported track's
// entry gets Audio = t.ID and t's own entry is dropped, so a search finds
// one playable track. It reports whether an imported track was found.
func AttachAudio(ctx context.Context, ix *Index, meta *metadata.Importer, id string, t model.Track) (bool, error) {
	if id == "" {
		if t.ISRC == "" {
			return false, nil
		}
		var err error
		id, err = meta.TrackByISRC(ctx, t.ISRC)
		if errors.Is(err, metadata.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	e, ok := ix.Lookup(KindTrack, id)
	if !ok {
		return false, fmt.Errorf("search: attach audio: imported track %q is not indexed", id)
	}
	e.Audio = string(t.ID)
	kv, err := entryWrite(e)
	if err != nil {
		return false, err
	}
	own := Entry{Kind: KindTrack, ID: string(t.ID)}
	if err := meta.Attach(ctx, id, string(t.ID), kv, metadata.KV{Key: own.StoreKey()}); err != nil {
		return false, err
	}
	if err := ix.Forget(own.Key()); err != nil {
		return false, err
	}
	return true, ix.Apply([]Entry{e})
}

// entryWrite returns the store write that persists e.
func entryWrite(e Entry) (metadata.KV, error) {
	v, err := e.Encode()
	if err != nil {
		return metadata.KV{}, err
	}
	return metadata.KV{Key: e.StoreKey(), Value: v}, nil
}
