package counting

import (
	"context"
	"errors"
	"fmt"

	"github.com/maypok86/otter/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
)

// maxCachedTracks bounds the track-duration cache (entries; unknown
// track ids take an entry too, so a flood of made-up ids evicts, never
// grows memory).
const maxCachedTracks = 1 << 20

// durEntry is a cached track duration (ms; -1: not in the catalog) and
// the catalog generation it was read at.
type durEntry struct {
	gen uint64
	ms  int64
}

// durations caches the catalog's track durations for upload validation,
// so a batch does not read a track record per distinct track. An entry is
// used only while the catalog's Generation is the one read before it was
// filled: any publish (ingest) invalidates every entry.
type durations struct {
	cat   *catalog.Catalog
	cache *otter.Cache[model.TrackID, durEntry]
}

func newDurations(cat *catalog.Catalog) *durations {
	return &durations{cat: cat, cache: otter.Must(&otter.Options[model.TrackID, durEntry]{MaximumSize: maxCachedTracks})}
}

// get returns track's duration in ms, -1 when the catalog has no such
// track, or an error when the catalog cannot be read.
func (d *durations) get(ctx context.Context, track model.TrackID) (int64, error) {
	gen := d.cat.Generation()
	if e, ok := d.cache.GetIfPresent(track); ok && e.gen == gen {
		return e.ms, nil
	}
	ms := int64(-1)
	t, err := d.cat.Track(ctx, track)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
	case err != nil:
		return 0, fmt.Errorf("read track %s: %w", track, err)
	default:
		ms = t.Duration().Milliseconds()
	}
	d.cache.Set(track, durEntry{gen: gen, ms: ms})
	return ms, nil
}
