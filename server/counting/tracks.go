package counting

import (
	"context"
	"errors"
	"fmt"

	"github.com/maypok86/otter/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
)

// maxCachedTracks bounds the track cache (entries; unknown track ids
// take an entry too, so a flood of made-up ids evicts, never grows
// memory).
const maxCachedTracks = 1 << 20

// trackInfo is what upload validation needs of a track: its duration
// (ms; -1: not in the catalog) and its album's release time (Unix ms; 0:
// no embargo), with the catalog generation they were read at.
type trackInfo struct {
	gen     uint64
	ms      int64
	release int64
}

// trackCache caches the catalog's track durations and release times for
// upload validation, so a batch does not read a track and album record
// per distinct track. An entry is used only while the catalog's
// Generation is the one read before it was filled: any publish (ingest)
// or release change (catalog.ScheduleRelease) invalidates every entry.
type trackCache struct {
	cat   *catalog.Catalog
	cache *otter.Cache[model.TrackID, trackInfo]
}

func newTrackCache(cat *catalog.Catalog) *trackCache {
	return &trackCache{cat: cat, cache: otter.Must(&otter.Options[model.TrackID, trackInfo]{MaximumSize: maxCachedTracks})}
}

// get returns track's duration and release time (ms -1 when the catalog
// has no such track), or an error when the catalog cannot be read.
func (d *trackCache) get(ctx context.Context, track model.TrackID) (trackInfo, error) {
	gen := d.cat.Generation()
	if e, ok := d.cache.GetIfPresent(track); ok && e.gen == gen {
		return e, nil
	}
	info := trackInfo{gen: gen, ms: -1}
	t, err := d.cat.Track(ctx, track)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
	case err != nil:
		return trackInfo{}, fmt.Errorf("read track %s: %w", track, err)
	default:
		info.ms = t.Duration().Milliseconds()
		a, err := d.cat.Album(ctx, t.AlbumID)
		switch {
		case errors.Is(err, catalog.ErrNotFound):
		case err != nil:
			return trackInfo{}, fmt.Errorf("read album %s: %w", t.AlbumID, err)
		default:
			info.release = a.ReleaseAt * 1000
		}
	}
	d.cache.Set(track, info)
	return info, nil
}
