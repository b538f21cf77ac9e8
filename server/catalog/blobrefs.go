package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/segue-fm/segue/core/model"
)

// StreamRef names one (track, tier) stream.
type StreamRef struct {
	Track model.TrackID
	Tier  model.Tier
}

// BlobStreams returns the streams whose manifests reference the blob h
// (the aud/ref/ index GC keeps), in key order; none for an unknown blob.
// Reconciliation uses it to map a blob served by hash to its track.
func (c *Catalog) BlobStreams(ctx context.Context, h [32]byte) ([]StreamRef, error) {
	pfx := refPrefix(h)
	var out []StreamRef
	err := c.s.Iterate(ctx, pfx, false, func(k, _ []byte) error {
		id, tier, ok := strings.Cut(string(k[len(pfx):]), "/")
		if !ok {
			return fmt.Errorf("catalog: bad blob reference key %q", k)
		}
		out = append(out, StreamRef{Track: model.TrackID(id), Tier: model.Tier(tier)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: blob streams: %w", err)
	}
	return out, nil
}
