// Package reconcile is the end-of-day check of counted streams against
// what the relay actually gave devices (server/access records): a counted
// online stream must be backed by chunks of that track served to that
// device covering at least the counting threshold (30 s) of audio; a
// counted offline stream (played offline or from a download) by an
// offline license of that device for that track. It also lists the
// opposite: a device was served chunks covering the threshold of a track
// during the day, but no stream of that track by that device was counted
// (plays not uploaded yet, a client not reporting, or prefetch of a track
// skipped early).
//
// Run is the pure comparison over three sources (counted streams, access
// records, the catalog's chunk layout); AuditStreams and NewCatalog read
// them from a relay data directory (segue reconcile).
package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/catalog"
)

// ErrUnknownStream is returned by Catalog.Chunks for a (track, tier) the
// catalog does not have.
var ErrUnknownStream = errors.New("reconcile: unknown stream")

// Stream is one counted stream.
type Stream struct {
	Device  model.DeviceID `json:"device"`
	User    model.UserID   `json:"user"`
	Track   model.TrackID  `json:"track"`
	Tier    model.Tier     `json:"tier"`
	Started int64          `json:"started"` // Unix ms
	Played  int64          `json:"played_ms"`
	// Offline: played offline or from a download; backed by a license.
	Offline bool   `json:"offline"`
	Offset  uint64 `json:"offset"` // event-log offset
}

// Chunk is one chunk's place on its track's time line and its blob.
type Chunk struct {
	StartMs, EndMs int64
	Size           int64
	Blob           [32]byte
}

// Catalog answers what access records name.
type Catalog interface {
	// Chunks returns the chunks of (track, tier) in index order, or
	// ErrUnknownStream.
	Chunks(ctx context.Context, track model.TrackID, tier model.Tier) ([]Chunk, error)
	// BlobStreams returns the streams whose manifests hold blob h.
	BlobStreams(ctx context.Context, h [32]byte) ([]catalog.StreamRef, error)
}

// StreamSource calls fn with every counted stream that started in
// [from, to).
type StreamSource func(ctx context.Context, from, to time.Time, fn func(Stream) error) error

// Options configures Run. Start from DefaultOptions.
type Options struct {
	threshold time.Duration
	// thresholdAt, when set, gives the threshold a counted stream was
	// counted with, by its log offset (WithThresholdAt).
	thresholdAt func(offset uint64) (time.Duration, bool)
	lookback    time.Duration
	grace       time.Duration
	slack       time.Duration
}

// DefaultOptions: a 30 s threshold (the counting rule), access records
// looked back 32 days (a device may play from its cache or a license
// issued up to the 30-day validity plus 48 h grace earlier), a 48 h grace
// after a license's expiry, and 1 h of slack for clocks and for plays
// straddling midnight.
func DefaultOptions() Options {
	return Options{threshold: 30 * time.Second, lookback: 32 * 24 * time.Hour, grace: 48 * time.Hour, slack: time.Hour}
}

// WithThreshold sets the audio a stream's served chunks must cover (use
// the counting threshold; default 30 s). Non-positive keeps the current.
func (o Options) WithThreshold(d time.Duration) Options {
	if d > 0 {
		o.threshold = d
	}
	return o
}

// WithThresholdAt makes each counted stream's served chunks cover the
// threshold at gives for its log offset (counting.Thresholds.At: the one
// it was counted with), where at has one; the others, and the uncounted
// check, use WithThreshold's.
func (o Options) WithThresholdAt(at func(offset uint64) (time.Duration, bool)) Options {
	o.thresholdAt = at
	return o
}

// WithLookback sets how far before the day access records back its
// streams (default 32 days). Negative keeps the current one.
func (o Options) WithLookback(d time.Duration) Options {
	if d >= 0 {
		o.lookback = d
	}
	return o
}

// WithGrace sets how long after its expiry a license still backs offline
// plays (default 48 h, the license server's). Negative keeps the current.
func (o Options) WithGrace(d time.Duration) Options {
	if d >= 0 {
		o.grace = d
	}
	return o
}

// Unbacked is a counted stream without the access records behind it.
type Unbacked struct {
	Stream
	// CoveredMs is the audio the device's served chunks cover (online).
	CoveredMs int64  `json:"covered_ms"`
	Reason    string `json:"reason"`
}

// Uncounted is a (device, track) served enough audio during the day with
// no counted stream.
type Uncounted struct {
	Device    model.DeviceID `json:"device"`
	Track     model.TrackID  `json:"track"`
	CoveredMs int64          `json:"covered_ms"`
	First     int64          `json:"first"` // Unix ms of the first record that day
}

// Report is the day's reconciliation.
type Report struct {
	Day string `json:"day"`
	// ThresholdMs is the audio, in ms, a counted online stream's served
	// chunks had to cover (Options.WithThreshold).
	ThresholdMs int64       `json:"threshold_ms"`
	Streams     int         `json:"streams"` // counted streams that started that day
	Online      int         `json:"online"`
	Offline     int         `json:"offline"`
	Backed      int         `json:"backed"`
	Unbacked    []Unbacked  `json:"unbacked"`
	Uncounted   []Uncounted `json:"uncounted"`
	// UnresolvedBlobs counts served blobs that no manifest references
	// (deleted or re-published tracks); they back nothing. A header
	// served by hash (as to an edge) is referenced, and backs nothing
	// either.
	UnresolvedBlobs int `json:"unresolved_blobs"`
}

type devTrack struct {
	dev   model.DeviceID
	track model.TrackID
}

type chunkAt struct {
	tier model.Tier
	idx  uint32
}

type license struct{ at, expires int64 }

// Run reconciles the UTC day of day (its date; the time is ignored).
func Run(ctx context.Context, day time.Time, streams StreamSource, acc access.Reader, cat Catalog, opts Options) (Report, error) {
	y, m, d := day.UTC().Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 1)
	rep := Report{Day: start.Format(time.DateOnly), ThresholdMs: opts.threshold.Milliseconds(), Unbacked: []Unbacked{}, Uncounted: []Uncounted{}}

	var checked []Stream
	counted := map[devTrack]bool{}
	devices := map[model.DeviceID]bool{}
	err := streams(ctx, start.Add(-opts.slack), end.Add(opts.slack), func(s Stream) error {
		counted[devTrack{s.Device, s.Track}] = true
		if s.Started >= start.UnixMilli() && s.Started < end.UnixMilli() {
			checked = append(checked, s)
			devices[s.Device] = true
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reconcile: read streams: %w", err)
	}

	r := resolver{cat: cat, chunks: map[catalog.StreamRef][]Chunk{}, blobs: map[[32]byte]servedBlob{}}
	served := map[devTrack]map[chunkAt]uint64{} // lookback window, devices with streams
	today := map[devTrack]map[chunkAt]uint64{}  // the day, every device
	firstToday := map[devTrack]int64{}
	licenses := map[devTrack][]license{}
	add := func(m map[devTrack]map[chunkAt]uint64, k devTrack, c chunkAt, n uint64) {
		if m[k] == nil {
			m[k] = map[chunkAt]uint64{}
		}
		m[k][c] += n
	}
	err = acc.Scan(ctx, start.Add(-opts.lookback), end.Add(opts.slack), func(a access.Record) error {
		inDay := a.Time >= start.UnixMilli() && a.Time < end.UnixMilli()
		if a.Kind == access.KindLicense {
			if devices[a.Device] {
				k := devTrack{a.Device, a.Track}
				licenses[k] = append(licenses[k], license{a.Time, a.Expires})
			}
			return nil
		}
		if !devices[a.Device] && !inDay {
			return nil
		}
		var locs []blobAt
		switch a.Kind {
		case access.KindChunk:
			for i := a.First; ; i++ {
				n := a.Bytes
				if a.Last > a.First {
					n = 1 << 62 // a multi-chunk record serves whole chunks
				}
				locs = append(locs, blobAt{catalog.StreamRef{Track: a.Track, Tier: a.Tier}, i, n})
				if i == a.Last {
					break
				}
			}
		case access.KindBlob:
			b, err := r.blob(ctx, a.Blob)
			if err != nil {
				return err
			}
			if !b.referenced {
				rep.UnresolvedBlobs++
			}
			for _, l := range b.at {
				l.bytes = a.Bytes
				locs = append(locs, l)
			}
		default:
			return nil
		}
		for _, l := range locs {
			k := devTrack{a.Device, l.ref.Track}
			c := chunkAt{l.ref.Tier, l.idx}
			if devices[a.Device] {
				add(served, k, c, l.bytes)
			}
			if inDay {
				add(today, k, c, l.bytes)
				if f, ok := firstToday[k]; !ok || a.Time < f {
					firstToday[k] = a.Time
				}
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reconcile: read access records: %w", err)
	}

	need := opts.threshold.Milliseconds()
	for _, s := range checked {
		rep.Streams++
		k := devTrack{s.Device, s.Track}
		if s.Offline {
			rep.Offline++
			ok := slices.ContainsFunc(licenses[k], func(l license) bool {
				return l.at <= s.Started+opts.slack.Milliseconds() && s.Started <= l.expires+opts.grace.Milliseconds()
			})
			if ok {
				rep.Backed++
			} else {
				rep.Unbacked = append(rep.Unbacked, Unbacked{Stream: s, Reason: "no offline license of this device for the track at that time"})
			}
			continue
		}
		rep.Online++
		cov, err := r.coverage(ctx, s.Track, served[k])
		if err != nil {
			return rep, err
		}
		threshold := opts.threshold
		if opts.thresholdAt != nil {
			if d, ok := opts.thresholdAt(s.Offset); ok {
				threshold = d
			}
		}
		if cov >= threshold.Milliseconds() {
			rep.Backed++
			continue
		}
		rep.Unbacked = append(rep.Unbacked, Unbacked{Stream: s, CoveredMs: cov,
			Reason: fmt.Sprintf("chunks served to the device cover %.1f s of the track, %s needed", float64(cov)/1000, threshold)})
	}
	for k, chunks := range today {
		if counted[k] {
			continue
		}
		cov, err := r.coverage(ctx, k.track, chunks)
		if err != nil {
			return rep, err
		}
		if cov >= need {
			rep.Uncounted = append(rep.Uncounted, Uncounted{Device: k.dev, Track: k.track, CoveredMs: cov, First: firstToday[k]})
		}
	}
	slices.SortFunc(rep.Unbacked, func(a, b Unbacked) int {
		return cmp.Or(cmp.Compare(a.Started, b.Started), cmp.Compare(a.Device, b.Device), cmp.Compare(a.Offset, b.Offset))
	})
	slices.SortFunc(rep.Uncounted, func(a, b Uncounted) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Track, b.Track))
	})
	return rep, nil
}

// blobAt is a served blob's place: chunk idx of a stream, bytes sent.
type blobAt struct {
	ref   catalog.StreamRef
	idx   uint32
	bytes uint64
}

// resolver caches chunk layouts and blob lookups.
type resolver struct {
	cat    Catalog
	chunks map[catalog.StreamRef][]Chunk
	blobs  map[[32]byte]servedBlob
}

// servedBlob is what a blob served by hash is: the chunks that hold it
// (none for a header), and whether any current manifest references it.
type servedBlob struct {
	at         []blobAt
	referenced bool
}

func (r *resolver) layout(ctx context.Context, ref catalog.StreamRef) ([]Chunk, error) {
	if cs, ok := r.chunks[ref]; ok {
		return cs, nil
	}
	cs, err := r.cat.Chunks(ctx, ref.Track, ref.Tier)
	if err != nil && !errors.Is(err, ErrUnknownStream) {
		return nil, fmt.Errorf("reconcile: chunks of %s/%s: %w", ref.Track, ref.Tier, err)
	}
	r.chunks[ref] = cs
	return cs, nil
}

// blob maps a blob hash to the chunks that hold it.
func (r *resolver) blob(ctx context.Context, h [32]byte) (servedBlob, error) {
	if b, ok := r.blobs[h]; ok {
		return b, nil
	}
	refs, err := r.cat.BlobStreams(ctx, h)
	if err != nil {
		return servedBlob{}, fmt.Errorf("reconcile: %w", err)
	}
	b := servedBlob{referenced: len(refs) > 0}
	for _, ref := range refs {
		cs, err := r.layout(ctx, ref)
		if err != nil {
			return servedBlob{}, err
		}
		for i, c := range cs {
			if c.Blob == h {
				b.at = append(b.at, blobAt{ref: ref, idx: uint32(i)})
			}
		}
	}
	r.blobs[h] = b
	return b, nil
}

// coverage returns the milliseconds of track's time line covered by the
// chunks served whole (bytes ≥ the chunk's size), over all tiers.
func (r *resolver) coverage(ctx context.Context, track model.TrackID, served map[chunkAt]uint64) (int64, error) {
	type span struct{ a, b int64 }
	var spans []span
	for c, n := range served {
		cs, err := r.layout(ctx, catalog.StreamRef{Track: track, Tier: c.tier})
		if err != nil {
			return 0, err
		}
		if int(c.idx) >= len(cs) || n < uint64(cs[c.idx].Size) {
			continue
		}
		spans = append(spans, span{cs[c.idx].StartMs, cs[c.idx].EndMs})
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.a, y.a) })
	var total, reach int64
	reach = -1 << 62
	for _, s := range spans {
		if s.a > reach {
			total += s.b - s.a
			reach = s.b
		} else if s.b > reach {
			total += s.b - reach
			reach = s.b
		}
	}
	return total, nil
}
