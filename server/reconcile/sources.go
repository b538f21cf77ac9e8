package reconcile

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/store"
)

// AuditStreams reads counted streams from the audit log in st (every
// stream record) and completes each from its event in lg (tier, offline,
// source). It scans the whole audit log.
func AuditStreams(st store.Store, lg events.Log) StreamSource {
	return func(ctx context.Context, from, to time.Time, fn func(Stream) error) error {
		lo, hi := from.UnixMilli(), to.UnixMilli()
		return audit.Records(ctx, st, func(r audit.Record) error {
			if r.Kind != audit.KindStream || r.Started < lo || r.Started >= hi {
				return nil
			}
			es, err := lg.Read(ctx, r.Offset, 1)
			if err != nil {
				return err
			}
			if len(es) != 1 || es[0].Device != model.DeviceID(r.Device) || es[0].Event.Seq != r.Seq {
				return fmt.Errorf("%w: audit record %d names event %d, not in the log", events.ErrCorrupt, r.Index, r.Offset)
			}
			e := es[0].Event
			return fn(Stream{Device: model.DeviceID(r.Device), User: model.UserID(r.User), Track: model.TrackID(r.Track),
				Tier: e.Tier, Started: r.Started, Played: r.Played, Offline: e.Offline || e.Source == model.SourceDownload, Offset: r.Offset})
		})
	}
}

// catalogSource is the Catalog over a relay's catalog.
type catalogSource struct {
	cat *catalog.Catalog
	pub ed25519.PublicKey
}

// NewCatalog returns the Catalog over cat, whose manifests are verified
// with the catalog key pub.
func NewCatalog(cat *catalog.Catalog, pub ed25519.PublicKey) Catalog { return catalogSource{cat, pub} }

func (c catalogSource) Chunks(ctx context.Context, track model.TrackID, tier model.Tier) ([]Chunk, error) {
	env, err := c.cat.Manifest(ctx, track, tier)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s/%s", ErrUnknownStream, track, tier)
	}
	if err != nil {
		return nil, err
	}
	m, err := crypto.OpenManifest(c.pub, env)
	if err != nil {
		return nil, err
	}
	if m.SampleRate <= 0 {
		return nil, fmt.Errorf("manifest %s/%s: sample rate %d", track, tier, m.SampleRate)
	}
	rate := int64(m.SampleRate)
	out := make([]Chunk, len(m.Chunks))
	for i, ch := range m.Chunks {
		out[i] = Chunk{StartMs: ch.FirstSample * 1000 / rate, EndMs: (ch.FirstSample + ch.Samples) * 1000 / rate,
			Size: ch.Blob.Size, Blob: ch.Blob.SHA256}
	}
	return out, nil
}

func (c catalogSource) BlobStreams(ctx context.Context, h [32]byte) ([]catalog.StreamRef, error) {
	return c.cat.BlobStreams(ctx, h)
}
