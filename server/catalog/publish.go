package catalog

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// Release is what Publish makes visible at once: an album, its artists,
// and tracks with their streams.
//
// Every track must belong to Album (same AlbumID) and every artist id a
// track or the album names must be in Artists or already in the catalog.
// When the album already exists, the release's tracks are merged into it
// (a single-track ingest adds to its album rather than replacing it).
type Release struct {
	Album   model.Album
	Artists []model.Artist
	Tracks  []TrackRelease
}

// TrackRelease is one track of a Release with one Stream per tier.
type TrackRelease struct {
	Track   model.Track
	Streams []Stream
}

// Stream is one (track, tier): its signed manifest envelope and the
// content key its blobs are encrypted with. Every blob the manifest lists
// must already be stored (PutBlob).
type Stream struct {
	Tier     model.Tier
	Envelope []byte
	Key      crypto.ContentKey
}

// envelope is the outer CBOR map of a signed manifest (docs/ARCHITECTURE.md
// §3); only the payload is needed to find the blobs a manifest references.
type envelope struct {
	Payload []byte `cbor:"1,keyasint"`
}

// manifestOf decodes, without verifying the signature, the manifest inside
// a signed envelope the catalog itself stored or is about to store.
func manifestOf(env []byte) (*model.Manifest, error) {
	var e envelope
	if err := decMode.Unmarshal(env, &e); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	var m model.Manifest
	if err := decMode.Unmarshal(e.Payload, &m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// blobsOf returns the hashes of every blob m references.
func blobsOf(m *model.Manifest) [][32]byte {
	hs := make([][32]byte, 0, len(m.Chunks)+1)
	hs = append(hs, m.Header.SHA256)
	for _, ch := range m.Chunks {
		hs = append(hs, ch.Blob.SHA256)
	}
	return hs
}

// check validates the release's internal consistency.
func (r *Release) check() error {
	if !model.ValidID(string(r.Album.ID)) {
		return fmt.Errorf("%w: album id %q", ErrBadRelease, r.Album.ID)
	}
	if len(r.Tracks) == 0 {
		return fmt.Errorf("%w: no tracks", ErrBadRelease)
	}
	for _, a := range r.Artists {
		if !model.ValidID(string(a.ID)) || a.Name == "" {
			return fmt.Errorf("%w: artist %q (%q)", ErrBadRelease, a.ID, a.Name)
		}
	}
	seen := map[model.TrackID]bool{}
	for _, tr := range r.Tracks {
		t := tr.Track
		switch {
		case !model.ValidID(string(t.ID)):
			return fmt.Errorf("%w: track id %q", ErrBadRelease, t.ID)
		case seen[t.ID]:
			return fmt.Errorf("%w: track %s twice", ErrBadRelease, t.ID)
		case t.AlbumID != r.Album.ID:
			return fmt.Errorf("%w: track %s is on album %q, release is %q", ErrBadRelease, t.ID, t.AlbumID, r.Album.ID)
		case len(tr.Streams) == 0:
			return fmt.Errorf("%w: track %s has no streams", ErrBadRelease, t.ID)
		}
		seen[t.ID] = true
		for _, a := range t.ArtistIDs {
			if !model.ValidID(string(a)) {
				return fmt.Errorf("%w: track %s artist id %q", ErrBadRelease, t.ID, a)
			}
		}
	}
	return nil
}

// prepared is one stream of a Release, ready for Publish's transaction.
type prepared struct {
	tier   model.Tier
	env    []byte
	sealed []byte
	blobs  [][32]byte
}

// Publish makes a release visible in one atomic store.Update: tracks, the
// album (merged with an existing one), artists, the artist→album index,
// manifests, sealed content keys, blob references and the master index.
// Either all of it becomes visible or, on any error, none of it.
//
// It fails with ErrBadRelease for an inconsistent release or a manifest
// that does not match its track and tier, and with ErrMissingBlob when a
// referenced blob is not stored. Re-publishing a track replaces its
// streams; tiers the new release lacks are removed.
func (c *Catalog) Publish(ctx context.Context, r Release) error {
	if err := r.check(); err != nil {
		return err
	}
	streams := make([][]prepared, len(r.Tracks))
	for i, tr := range r.Tracks {
		tiers := map[model.Tier]bool{}
		for _, s := range tr.Streams {
			id := tr.Track.ID
			if !s.Tier.Valid() || tiers[s.Tier] {
				return fmt.Errorf("%w: track %s tier %q invalid or repeated", ErrBadRelease, id, s.Tier)
			}
			tiers[s.Tier] = true
			m, err := manifestOf(s.Envelope)
			if err != nil {
				return fmt.Errorf("%w: track %s tier %s: %v", ErrBadRelease, id, s.Tier, err)
			}
			if m.TrackID != id || m.Tier != s.Tier {
				return fmt.Errorf("%w: manifest for %s/%s filed under %s/%s", ErrBadRelease, m.TrackID, m.Tier, id, s.Tier)
			}
			sealed, err := c.sealKey(contentKeyKey(id, s.Tier), s.Key)
			if err != nil {
				return err
			}
			streams[i] = append(streams[i], prepared{s.Tier, s.Envelope, sealed, blobsOf(m)})
		}
	}
	err := c.s.Update(ctx, func(tx store.Txn) error {
		if err := c.checkExternalBlobs(ctx, tx, r, streams); err != nil {
			return err
		}
		if err := putArtists(tx, r); err != nil {
			return err
		}
		for i, tr := range r.Tracks {
			id := tr.Track.ID
			if err := dropStreams(tx, id); err != nil {
				return err
			}
			for _, p := range streams[i] {
				for _, h := range p.blobs {
					if err := c.checkBlobTx(tx, h); err != nil {
						return fmt.Errorf("%w (track %s tier %s)", err, id, p.tier)
					}
					if err := tx.Set(refKey(h, id, p.tier), nil); err != nil {
						return err
					}
				}
				if err := tx.Set(manifestKey(id, p.tier), p.env); err != nil {
					return err
				}
				if err := tx.Set(contentKeyKey(id, p.tier), p.sealed); err != nil {
					return err
				}
			}
			if err := putCBOR(tx, trackKey(id), tr.Track); err != nil {
				return err
			}
			if tr.Track.MasterSHA256 != ([32]byte{}) {
				if err := tx.Set(masterKey(tr.Track.MasterSHA256), []byte(id)); err != nil {
					return err
				}
			}
		}
		return putAlbum(tx, r)
	})
	c.gen.Add(1) // even on error: a failed commit may still have applied
	if err != nil {
		return fmt.Errorf("publish album %s: %w", r.Album.ID, err)
	}
	return nil
}

// checkExternalBlobs checks, inside Publish's transaction tx, that every
// blob of streams is in the external blob store and not being collected
// (GCWith): it reads each blob's tombstone, refusing a marked blob, then
// asks the blob store, and deletes the tombstone key so that a GC marking
// concurrently conflicts with this transaction. A catalog over its own
// store checks in checkBlobTx.
func (c *Catalog) checkExternalBlobs(ctx context.Context, tx store.Txn, r Release, streams [][]prepared) error {
	if c.blobs == nil {
		return nil
	}
	seen := map[[32]byte]bool{}
	for i, tr := range r.Tracks {
		for _, p := range streams[i] {
			for _, h := range p.blobs {
				if seen[h] {
					continue
				}
				seen[h] = true
				switch _, err := tx.Get(gcKey(h)); {
				case err == nil:
					return fmt.Errorf("%w: %x is being collected (track %s tier %s); ingest again after GC", ErrMissingBlob, h, tr.Track.ID, p.tier)
				case !errors.Is(err, store.ErrNotFound):
					return err
				}
				if ok, err := c.blobs.Has(ctx, h); err != nil {
					return fmt.Errorf("check blob %x: %w", h, err)
				} else if !ok {
					return fmt.Errorf("%w: %x (track %s tier %s)", ErrMissingBlob, h, tr.Track.ID, p.tier)
				}
				if err := tx.Delete(gcKey(h)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkBlobTx checks, inside Publish's transaction, that blob h is stored
// in the catalog's own store (an external one is checked by
// checkExternalBlobs).
func (c *Catalog) checkBlobTx(tx store.Txn, h [32]byte) error {
	if c.blobs != nil {
		return nil
	}
	if _, err := tx.Get(blobKey(h)); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %x", ErrMissingBlob, h)
	} else if err != nil {
		return fmt.Errorf("check blob %x: %w", h, err)
	}
	return nil
}

func putCBOR(tx store.Txn, key []byte, v any) error {
	b, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return tx.Set(key, b)
}

// putArtists writes the release's artists and checks that every artist id
// it references exists.
func putArtists(tx store.Txn, r Release) error {
	have := map[model.ArtistID]bool{}
	for _, a := range r.Artists {
		if err := putCBOR(tx, artistKey(a.ID), a); err != nil {
			return err
		}
		have[a.ID] = true
	}
	refs := slices.Clone(r.Album.ArtistIDs)
	for _, tr := range r.Tracks {
		refs = append(refs, tr.Track.ArtistIDs...)
	}
	for _, a := range refs {
		if have[a] {
			continue
		}
		if _, err := tx.Get(artistKey(a)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: unknown artist %s", ErrBadRelease, a)
		} else if err != nil {
			return err
		}
		have[a] = true
	}
	return nil
}

// dropStreams removes the manifests, keys and blob references of every
// tier of track id, so a re-publish replaces them.
func dropStreams(tx store.Txn, id model.TrackID) error {
	for _, t := range model.Tiers {
		env, err := tx.Get(manifestKey(id, t))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if m, err := manifestOf(env); err == nil {
			for _, h := range blobsOf(m) {
				if err := tx.Delete(refKey(h, id, t)); err != nil {
					return err
				}
			}
		}
		if err := tx.Delete(manifestKey(id, t)); err != nil {
			return err
		}
		if err := tx.Delete(contentKeyKey(id, t)); err != nil {
			return err
		}
	}
	return nil
}

// putAlbum merges the release's album with the stored one, orders its
// tracks by disc and track number, and indexes it under its artists.
func putAlbum(tx store.Txn, r Release) error {
	a := r.Album
	ids := map[model.TrackID]bool{}
	for _, id := range a.TrackIDs {
		ids[id] = true
	}
	for _, tr := range r.Tracks {
		ids[tr.Track.ID] = true
	}
	if old, err := tx.Get(albumKey(a.ID)); err == nil {
		var prev model.Album
		if err := decMode.Unmarshal(old, &prev); err != nil {
			return fmt.Errorf("%w: album %s: %v", ErrCorrupt, a.ID, err)
		}
		for _, id := range prev.TrackIDs {
			ids[id] = true
		}
		if a.ReleaseAt == 0 {
			a.ReleaseAt = prev.ReleaseAt // a re-publish never lifts an embargo by omission
		}
		for _, ar := range prev.ArtistIDs {
			if !slices.Contains(a.ArtistIDs, ar) {
				if err := tx.Delete(artistAlbumKey(ar, a.ID)); err != nil {
					return err
				}
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	type pos struct {
		id          model.TrackID
		disc, track int
	}
	order := make([]pos, 0, len(ids))
	for id := range ids {
		var t model.Track
		b, err := tx.Get(trackKey(id))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: album %s lists unknown track %s", ErrBadRelease, a.ID, id)
		}
		if err != nil {
			return err
		}
		if err := decMode.Unmarshal(b, &t); err != nil {
			return fmt.Errorf("%w: track %s: %v", ErrCorrupt, id, err)
		}
		order = append(order, pos{id, t.DiscNumber, t.TrackNumber})
	}
	slices.SortFunc(order, func(x, y pos) int {
		return cmp.Or(cmp.Compare(x.disc, y.disc), cmp.Compare(x.track, y.track), cmp.Compare(x.id, y.id))
	})
	a.TrackIDs = make([]model.TrackID, len(order))
	for i, p := range order {
		a.TrackIDs[i] = p.id
	}
	if err := putCBOR(tx, albumKey(a.ID), a); err != nil {
		return err
	}
	if err := indexRelease(tx, a); err != nil {
		return err
	}
	for _, ar := range a.ArtistIDs {
		if err := tx.Set(artistAlbumKey(ar, a.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

// gcOwn is GCWith for blobs in the catalog's own store: pages of page
// blobs, each checked and deleted in one transaction.
func (c *Catalog) gcOwn(ctx context.Context, page int) (removed int, err error) {
	var candidates [][32]byte
	err = c.s.Iterate(ctx, []byte("blob/"), false, func(k, _ []byte) error {
		var h [32]byte
		if n, err := hex.Decode(h[:], k[len("blob/"):]); err != nil || n != len(h) || len(k) != len("blob/")+64 {
			return nil // not a blob key of this schema
		}
		candidates = append(candidates, h)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("gc: list blobs: %w", err)
	}
	for start := 0; start < len(candidates); start += page {
		batch := candidates[start:min(start+page, len(candidates))]
		n := 0
		err := c.s.Update(ctx, func(tx store.Txn) error {
			n = 0
			for _, h := range batch {
				referenced, err := isReferenced(tx, h)
				if err != nil {
					return err
				}
				if referenced {
					continue
				}
				if err := tx.Delete(blobKey(h)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("gc: delete blobs: %w", err)
		}
		removed += n
	}
	return removed, nil
}
