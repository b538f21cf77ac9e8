package ingest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest/segment"
)

// Errors of Ingest. Each is wrapped with the name of the offending file;
// check them with errors.Is.
var (
	// ErrEncoderMissing means a master needs encoding and neither oggenc
	// nor ffmpeg is installed.
	ErrEncoderMissing = errors.New("ingest: no Vorbis encoder")
	// ErrEncoder means the encoder ran and failed.
	ErrEncoder = errors.New("ingest: encoder failed")
	// ErrUnsupportedFormat means a file is not WAV, FLAC or Ogg Vorbis in
	// a supported layout, or its extension disagrees with its content.
	ErrUnsupportedFormat = errors.New("ingest: unsupported format")
	// ErrCorrupt means a file is damaged.
	ErrCorrupt = errors.New("ingest: corrupt input")
	// ErrTruncated means a file ends early.
	ErrTruncated = errors.New("ingest: truncated input")
	// ErrTooLarge means a file exceeds the size or duration limits.
	ErrTooLarge = errors.New("ingest: input too large")
	// ErrBadMetadata means missing or invalid metadata.
	ErrBadMetadata = errors.New("ingest: bad metadata")
	// ErrTierMismatch means a tier's format or exact length disagrees with
	// the master's.
	ErrTierMismatch = errors.New("ingest: tier does not match the master")
	// ErrNotRegular means a file named as a master, a tier or a sidecar
	// is a directory, a FIFO, a device or a socket: opening a FIFO waits
	// for a writer, and reading a device may never end.
	ErrNotRegular = errors.New("ingest: not a regular file")
)

// MaxTierBytes bounds a pre-encoded tier file.
const MaxTierBytes = 1 << 30

// Stage names a step of one track's ingest, reported through Progress.
type Stage string

// The stages, in order. StageSkip replaces the rest for an already
// ingested master.
const (
	StageHash    Stage = "hash"
	StageSkip    Stage = "skip"
	StageDecode  Stage = "decode"
	StageEncode  Stage = "encode"
	StageSegment Stage = "segment"
	StageStore   Stage = "store"
	StagePublish Stage = "publish"
	StageDone    Stage = "done"
)

// Progress is one progress report. Track indexes Request.Tracks (−1 for
// the publish step, which covers all of them).
type Progress struct {
	Track  int
	Tracks int
	File   string
	Stage  Stage
	Tier   model.Tier // for StageEncode and StageSegment
}

// Options tune Ingest. Start from DefaultOptions.
type Options struct {
	oggenc, ffmpeg string
	parallel       int
	progress       func(Progress)
	segment        segment.Options
	tmpDir         string
	rand           io.Reader
	logger         *slog.Logger
}

// DefaultOptions returns options with: encoders "oggenc" then "ffmpeg"
// looked up on PATH; runtime.NumCPU() concurrent encoder processes; no
// progress callback; segment.DefaultOptions(); temporary files in
// os.TempDir(); crypto/rand for content keys; slog.Default() for logs.
func DefaultOptions() Options {
	return Options{
		oggenc:   "oggenc",
		ffmpeg:   "ffmpeg",
		parallel: runtime.NumCPU(),
		segment:  segment.DefaultOptions(),
		rand:     rand.Reader,
		logger:   slog.Default(),
	}
}

// WithEncoders returns o with the programs (names looked up on PATH, or
// paths) used to encode: oggenc first, ffmpeg as fallback. Defaults
// "oggenc" and "ffmpeg".
func (o Options) WithEncoders(oggenc, ffmpeg string) Options {
	o.oggenc, o.ffmpeg = oggenc, ffmpeg
	return o
}

// WithParallel returns o with at most n encoder processes and n tracks in
// flight at once (default runtime.NumCPU(); values below 1 mean 1).
func (o Options) WithParallel(n int) Options { o.parallel = max(1, n); return o }

// WithProgress returns o with a progress callback (default none). Calls
// are serialised; fn must not block for long.
func (o Options) WithProgress(fn func(Progress)) Options { o.progress = fn; return o }

// WithSegment returns o with the chunk layout (default
// segment.DefaultOptions()).
func (o Options) WithSegment(s segment.Options) Options { o.segment = s; return o }

// WithTempDir returns o with the directory for temporary files: a copy of
// each master (all of a request's at once, each until its tiers are
// encoded), the masters' gapless runs resampled to the lower tier rates
// (float WAV), and the encoder outputs (default os.TempDir()).
func (o Options) WithTempDir(dir string) Options { o.tmpDir = dir; return o }

// WithRand returns o with the source of content keys (default
// crypto/rand.Reader).
func (o Options) WithRand(r io.Reader) Options { o.rand = r; return o }

// WithLogger returns o with a logger (default slog.Default()).
func (o Options) WithLogger(l *slog.Logger) Options { o.logger = l; return o }

// Result reports what Ingest did.
type Result struct {
	Tracks []TrackResult // in Request order
	// Elapsed is Ingest's wall time; EncoderTime sums the wall time of the
	// encoder processes, which may overlap.
	Elapsed     time.Duration
	EncoderTime time.Duration
}

// TrackResult is one track's outcome.
type TrackResult struct {
	File string
	ID   model.TrackID
	// Skipped is true when the master was already ingested: nothing was
	// written and Track is the catalog's entry.
	Skipped bool
	Track   model.Track
}

// Ingest ingests the tracks of req into cat: for each track it decodes
// the master (or accepts pre-encoded tiers), measures loudness, encodes
// the missing tiers, segments, encrypts, stores the blobs and signs the
// manifests with signer; then it publishes each album in one atomic
// catalog.Publish. If any track fails, nothing is published (the blobs
// already stored are unreferenced; catalog GC removes them) and the error
// names the file. A master whose SHA-256 is already in the catalog is
// skipped without writing anything.
func Ingest(ctx context.Context, cat *catalog.Catalog, signer ed25519.PrivateKey, req Request, opts Options) (Result, error) {
	start := time.Now()
	if req.FS == nil {
		return Result{}, fmt.Errorf("%w: request has no FS", ErrBadMetadata)
	}
	if len(signer) != ed25519.PrivateKeySize {
		return Result{}, errors.New("ingest: signer is not an Ed25519 private key")
	}
	tmp, err := os.MkdirTemp(opts.tmpDir, "segue-ingest-")
	if err != nil {
		return Result{}, fmt.Errorf("ingest: %w", err)
	}
	defer os.RemoveAll(tmp)
	in := &ingester{cat: cat, signer: signer, req: req, o: opts, tmp: tmp, sem: make(chan struct{}, max(1, opts.parallel))}
	res := Result{Tracks: make([]TrackResult, len(req.Tracks))}
	prepared := make([]*preparedTrack, len(req.Tracks))
	probes := make([]*probed, len(req.Tracks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, opts.parallel))
	for i := range req.Tracks {
		g.Go(func() error {
			p, skipped, err := in.probe(gctx, i, req.Tracks[i])
			if err != nil {
				return fmt.Errorf("ingest %s: %w", in.label(&req.Tracks[i]), err)
			}
			probes[i], prepared[i] = p, skipped
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	// Gapless runs: each run's resampled tiers are made from the run
	// resampled once, then every track is encoded on its own.
	var todo []*probed
	for _, p := range probes {
		if p != nil {
			todo = append(todo, p)
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(max(1, opts.parallel))
	for _, run := range placeRuns(todo) {
		if run[0].m == nil {
			continue
		}
		g.Go(func() error {
			for _, rate := range resampleRates(run) { // in turn: they share the run's maps
				if err := in.resampleRun(gctx, run, rate); err != nil {
					return fmt.Errorf("ingest %s: %w", in.label(&run[0].t), err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(max(1, opts.parallel))
	for _, p := range todo {
		g.Go(func() error {
			pt, err := in.build(gctx, p)
			if err != nil {
				return fmt.Errorf("ingest %s: %w", in.label(&p.t), err)
			}
			prepared[p.i] = pt
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	for i, p := range prepared {
		res.Tracks[i] = p.result
	}
	res.EncoderTime = in.encTime
	in.report(Progress{Track: -1, Stage: StagePublish})
	for _, r := range releases(prepared) {
		if err := cat.Publish(ctx, r); err != nil {
			return Result{}, fmt.Errorf("ingest album %s: %w", safetext.Quote(r.Album.Title), err)
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// ingester is the state of one Ingest call.
type ingester struct {
	cat    *catalog.Catalog
	signer ed25519.PrivateKey
	req    Request
	o      Options
	tmp    string
	sem    chan struct{} // bounds encoder processes

	mu      sync.Mutex // guards the fields below and serialises progress
	encTime time.Duration
	enc     *encoder
	encErr  error
	claimed map[model.TrackID]bool
}

// label returns how messages name t's file (Labeler).
func (in *ingester) label(t *TrackRequest) string { return label(in.req.FS, t.name()) }

func (in *ingester) report(p Progress) {
	if in.o.progress == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	p.Tracks = len(in.req.Tracks)
	in.o.progress(p)
}

// encoder returns the encoder, looked up once.
func (in *ingester) encoder() (encoder, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.enc == nil && in.encErr == nil {
		e, err := findEncoder(in.o)
		in.enc, in.encErr = &e, err
	}
	if in.encErr != nil {
		return encoder{}, in.encErr
	}
	return *in.enc, nil
}

// preparedTrack is a track whose blobs are stored, ready to publish.
type preparedTrack struct {
	result       TrackResult
	release      catalog.TrackRelease
	album        string
	albumArtists []string
	artists      []string
	releaseAt    int64 // Unix seconds, 0 without an embargo
}

// identity returns the SHA-256 the track id derives from and the master's
// size (0 without a master).
func (in *ingester) identity(ctx context.Context, t *TrackRequest) ([32]byte, int64, error) {
	switch {
	case t.Master != "":
		return hashFile(ctx, in.req.FS, t.Master)
	case t.MasterSHA256 != "":
		var sha [32]byte
		b, err := hex.DecodeString(t.MasterSHA256)
		if err != nil || len(b) != len(sha) {
			return sha, 0, fmt.Errorf("%w: master_sha256 %s is not 64 hex digits", ErrBadMetadata, safetext.Quote(t.MasterSHA256))
		}
		return [32]byte(b), 0, nil
	default:
		sha, _, err := hashFile(ctx, in.req.FS, t.name())
		return sha, 0, err
	}
}

// probe identifies one track, decodes its master and validates its
// metadata. An already ingested track returns its skipped result instead.
func (in *ingester) probe(ctx context.Context, i int, t TrackRequest) (*probed, *preparedTrack, error) {
	if err := t.checkFiles(); err != nil {
		return nil, nil, err
	}
	name := in.label(&t)
	in.report(Progress{Track: i, File: name, Stage: StageHash})
	sha, size, err := in.identity(ctx, &t)
	if err != nil {
		return nil, nil, err
	}
	id := catalog.TrackIDFromMaster(sha)
	if got, ok, err := in.cat.TrackByMaster(ctx, sha); err != nil {
		return nil, nil, err
	} else if ok {
		in.report(Progress{Track: i, File: name, Stage: StageSkip})
		tr, err := in.cat.Track(ctx, got)
		if err != nil {
			return nil, nil, err
		}
		return nil, &preparedTrack{result: TrackResult{File: name, ID: got, Skipped: true, Track: tr}}, nil
	}
	in.mu.Lock()
	if in.claimed == nil {
		in.claimed = map[model.TrackID]bool{}
	}
	dup := in.claimed[id]
	in.claimed[id] = true
	in.mu.Unlock()
	if dup {
		return nil, nil, fmt.Errorf("%w: the same master appears twice in the request", ErrBadMetadata)
	}

	var m *master
	if t.Master != "" {
		in.report(Progress{Track: i, File: name, Stage: StageDecode})
		if m, err = decodeMaster(ctx, in.req.FS, t.Master, size, sha, in.tmp); err != nil {
			return nil, nil, err
		}
		for _, d := range m.applyTags(&t) {
			in.o.logger.Warn("ingest: FLAC tag dropped, not in a form the catalog keeps", "file", name, "tag", d.tag, "want", d.want)
		}
		if t.Samples != 0 && t.Samples != m.frames {
			return nil, nil, fmt.Errorf("%w: sidecar says %d samples, master has %d", ErrBadMetadata, t.Samples, m.frames)
		}
		t.SampleRate, t.Channels, t.Samples = m.rate, m.channels, m.frames
		if t.Loudness == nil {
			t.Loudness = &m.loud
		}
	}
	applyDefaults(&t)
	if err := t.validate(); err != nil {
		return nil, nil, err
	}
	if m == nil && (t.SampleRate <= 0 || t.Channels <= 0 || t.Samples <= 0 || t.Loudness == nil) {
		return nil, nil, fmt.Errorf("%w: without a master, sample_rate, channels, samples and loudness are required", ErrBadMetadata)
	}
	if t.SampleRate < MinRate || t.SampleRate > MaxRate || t.Channels > MaxChannels || t.Samples > int64(MaxSeconds)*int64(t.SampleRate) {
		return nil, nil, fmt.Errorf("%w: %d Hz, %d channels, %d samples", ErrUnsupportedFormat, t.SampleRate, t.Channels, t.Samples)
	}
	return &probed{i: i, t: t, m: m, sha: sha, id: id}, nil, nil
}

// albumID is the catalog album of a validated track request.
func albumID(t *TrackRequest) model.AlbumID { return catalog.AlbumIDFor(t.AlbumArtists[0], t.Album) }

// build encodes, segments and stores one probed track's tiers (its run
// already resampled), ready to publish.
func (in *ingester) build(ctx context.Context, p *probed) (*preparedTrack, error) {
	i, t, id, sha, name := p.i, p.t, p.id, p.sha, in.label(&p.t)
	if p.m != nil {
		defer os.Remove(p.m.path)
	}
	tiers, timings, err := in.tierStreams(ctx, p)
	if err != nil {
		return nil, err
	}
	track := model.Track{
		ID:           id,
		Title:        t.Title,
		AlbumID:      albumID(&t),
		TrackNumber:  t.TrackNumber,
		DiscNumber:   t.DiscNumber,
		ISRC:         t.ISRC,
		ReleaseDate:  t.ReleaseDate,
		Rights:       t.Rights,
		SampleRate:   t.SampleRate,
		Channels:     t.Channels,
		Samples:      t.Samples,
		Loudness:     finite(*t.Loudness),
		MasterSHA256: sha,
	}
	if p.m != nil {
		track.Features = &p.m.feat
	}
	for _, a := range t.Artists {
		track.ArtistIDs = append(track.ArtistIDs, catalog.ArtistIDFor(a))
	}
	rel := catalog.TrackRelease{}
	for _, tier := range model.Tiers {
		st, ok := tiers[tier]
		if !ok {
			continue
		}
		in.report(Progress{Track: i, File: name, Stage: StageStore, Tier: tier})
		s, err := in.store(ctx, id, tier, st, track.Loudness, timings[tier])
		if err != nil {
			return nil, fmt.Errorf("store tier %s: %w", tier, err)
		}
		track.Tiers = append(track.Tiers, tier)
		rel.Streams = append(rel.Streams, s)
	}
	rel.Track = track
	in.report(Progress{Track: i, File: name, Stage: StageDone})
	return &preparedTrack{
		result:       TrackResult{File: name, ID: id, Track: track},
		release:      rel,
		album:        t.Album,
		albumArtists: t.AlbumArtists,
		artists:      t.Artists,
		releaseAt:    releaseUnix(t.ReleaseAt),
	}, nil
}

// applyDefaults fills what neither the sidecar nor tags gave.
func applyDefaults(t *TrackRequest) {
	if t.Title == "" {
		base := path.Base(t.name())
		t.Title = strings.TrimSuffix(base, path.Ext(base))
	}
	if t.DiscNumber == 0 {
		t.DiscNumber = 1
	}
	if t.Album == "" {
		t.Album = t.Title // a single
	}
	if len(t.AlbumArtists) == 0 {
		t.AlbumArtists = t.Artists
	}
}

// tierStreams reads the pre-encoded tiers and encodes the others from the
// master, or from its run's resampled WAV for a tier at another rate
// (concurrently, bounded), then segments and checks each, and returns the
// timing of each resampled tier (model.Timing).
//
// An encoded resampled tier must hold exactly its span of the run
// (model.ResampledSpan). A pre-encoded one gets a timing only when it
// holds exactly that span (it was cut from the run resampled once, as the
// demo album's generator does); otherwise, within a frame of the track
// resampled alone, it is accepted without timing and plays with its phase
// reset, and a warning says so.
func (in *ingester) tierStreams(ctx context.Context, p *probed) (map[model.Tier]*segment.Stream, map[model.Tier]*model.Timing, error) {
	i, t, m, sha := p.i, &p.t, p.m, p.sha
	type job struct {
		tier model.Tier
		file string // pre-encoded file, or "" to encode
		data []byte
	}
	var jobs []*job
	for _, tier := range model.Tiers {
		if f, ok := t.Tiers[tier]; ok {
			jobs = append(jobs, &job{tier: tier, file: f})
		} else if m != nil {
			jobs = append(jobs, &job{tier: tier})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, j := range jobs {
		if j.file != "" {
			b, err := readLimited(in.req.FS, j.file, MaxTierBytes)
			if err != nil {
				return nil, nil, err
			}
			j.data = b
			continue
		}
		enc, err := in.encoder()
		if err != nil {
			return nil, nil, err
		}
		src := m.path
		if r := tierRate(j.tier, m.rate); r != m.rate {
			if src = p.resampled[r]; src == "" {
				return nil, nil, fmt.Errorf("ingest: no %d Hz resample of %s", r, in.label(t))
			}
		}
		g.Go(func() error {
			select {
			case in.sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-in.sem }()
			in.report(Progress{Track: i, File: in.label(t), Stage: StageEncode, Tier: j.tier})
			serial := binary.BigEndian.Uint32(sha[:4]) + uint32(j.tier.Index())
			b, took, err := enc.encode(gctx, src, j.tier, serial, in.tmp)
			in.mu.Lock()
			in.encTime += took
			in.mu.Unlock()
			j.data = b
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	out := make(map[model.Tier]*segment.Stream, len(jobs))
	timings := map[model.Tier]*model.Timing{}
	for _, j := range jobs {
		in.report(Progress{Track: i, File: in.label(t), Stage: StageSegment, Tier: j.tier})
		what := "encoded " + string(j.tier)
		if j.file != "" {
			what = label(in.req.FS, j.file)
		}
		st, err := segment.Split(j.data, in.o.segment)
		switch {
		case errors.Is(err, segment.ErrTruncated):
			return nil, nil, fmt.Errorf("%s: %w: %v", what, ErrTruncated, err)
		case errors.Is(err, segment.ErrTooLarge):
			return nil, nil, fmt.Errorf("%s: %w: %v", what, ErrTooLarge, err)
		case errors.Is(err, segment.ErrDamaged):
			return nil, nil, fmt.Errorf("%s: %w: %v", what, ErrCorrupt, err)
		case err != nil:
			return nil, nil, fmt.Errorf("%s: %w: %v", what, ErrUnsupportedFormat, err)
		}
		if j.file != "" {
			if err := decodes(ctx, j.data, st); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", what, err)
			}
		}
		switch {
		case st.Channels != t.Channels:
			return nil, nil, fmt.Errorf("%s: %w: %d channels, master has %d", what, ErrTierMismatch, st.Channels, t.Channels)
		case st.SampleRate > t.SampleRate:
			return nil, nil, fmt.Errorf("%s: %w: %d Hz is above the master's %d Hz", what, ErrTierMismatch, st.SampleRate, t.SampleRate)
		}
		if err := checkPlayable(st.SampleRate); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", what, err)
		}
		want := t.Samples
		if st.SampleRate != t.SampleRate {
			_, want = model.ResampledSpan(p.runOffset, t.Samples, t.SampleRate, st.SampleRate)
		}
		if st.TotalSamples == want {
			timings[j.tier] = p.timing(st.SampleRate)
			out[j.tier] = st
			continue
		}
		alone := expectedSamples(t.Samples, t.SampleRate, st.SampleRate)
		if j.file == "" || st.SampleRate == t.SampleRate || st.TotalSamples < alone-1 || st.TotalSamples > alone+1 {
			return nil, nil, fmt.Errorf("%s: %w: %d samples at %d Hz, want %d", what, ErrTierMismatch, st.TotalSamples, st.SampleRate, want)
		}
		in.o.logger.Warn("ingest: pre-encoded tier was not cut from its album resampled once; it plays with its resampling phase reset",
			"file", what, "tier", j.tier, "samples", st.TotalSamples, "want", want)
		out[j.tier] = st
	}
	return out, timings, nil
}

// decodes decodes a pre-encoded tier whole with Segue's decoder, as every
// player will: a stream that does not decode (a setup header it refuses,
// a packet it cannot read) or decodes to another length than its granule
// positions say would fail for every listener, and one that decodes to
// samples no encoder writes (NaN or beyond ±16, vorbis.StreamReader's
// Clamped) would play as silence or noise at full scale, so they are
// refused here (ErrCorrupt). An encoder's output is not checked.
func decodes(ctx context.Context, data []byte, st *segment.Stream) error {
	sr := vorbis.NewStreamReader(bytes.NewReader(data), vorbis.DefaultOptions().WithMaxChannels(MaxChannels))
	var n int64
	for {
		pcm, err := sr.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: does not decode after sample %d: %v", ErrCorrupt, n, err)
		}
		n += int64(len(pcm[0]))
	}
	if d := sr.Damage(); d.Damaged() {
		return fmt.Errorf("%w: %d bytes fail their page checksum, %d gaps in the page sequence", ErrCorrupt, d.SkippedBytes, d.Holes)
	}
	if c := sr.Clamped(); c > 0 {
		// Silence (NaN) or noise at full scale (oggdec clips them so
		// too) for every listener.
		return fmt.Errorf("%w: %d samples decode to NaN or beyond ±16, which no encoder writes (a crafted or damaged setup header)", ErrCorrupt, c)
	}
	if n != st.TotalSamples {
		return fmt.Errorf("%w: decodes to %d samples, its granule positions say %d", ErrCorrupt, n, st.TotalSamples)
	}
	return nil
}

func readLimited(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := open(fsys, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", label(fsys, name), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w: over %d bytes", label(fsys, name), ErrTooLarge, limit)
	}
	return b, nil
}

// store encrypts a segmented tier under a fresh content key, puts its
// blobs and returns the signed stream.
func (in *ingester) store(ctx context.Context, id model.TrackID, tier model.Tier, st *segment.Stream, loud model.Loudness, timing *model.Timing) (catalog.Stream, error) {
	key, err := crypto.NewContentKey(in.o.rand)
	if err != nil {
		return catalog.Stream{}, err
	}
	put := func(index uint64, plain []byte) (model.BlobRef, error) {
		enc := crypto.EncryptBlob(key, index, plain)
		h, err := in.cat.PutBlob(ctx, enc)
		return model.BlobRef{Size: int64(len(enc)), SHA256: h}, err
	}
	m := &model.Manifest{
		Version:      model.ManifestVersion,
		TrackID:      id,
		Tier:         tier,
		Codec:        model.CodecVorbis,
		SampleRate:   st.SampleRate,
		Channels:     st.Channels,
		TotalSamples: st.TotalSamples,
		Loudness:     loud,
		Bitrate:      cmp.Or(st.NominalBitrate, st.AverageBitrate()),
		Timing:       timing,
	}
	if m.Header, err = put(0, st.Header); err != nil {
		return catalog.Stream{}, fmt.Errorf("put header: %w", err)
	}
	for ci, c := range st.Chunks {
		ref, err := put(uint64(ci+1), c.Data)
		if err != nil {
			return catalog.Stream{}, fmt.Errorf("put chunk %d: %w", ci, err)
		}
		m.Chunks = append(m.Chunks, model.Chunk{Index: ci, FirstSample: c.FirstSample, Samples: c.Samples, PrimerSize: int64(c.PrimerSize), Blob: ref})
	}
	env, err := crypto.SignManifest(in.signer, m)
	if err != nil {
		return catalog.Stream{}, fmt.Errorf("sign manifest: %w", err)
	}
	return catalog.Stream{Tier: tier, Envelope: env, Key: key}, nil
}

// releaseUnix returns t in Unix seconds, 0 for the zero time.
func releaseUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// releases groups prepared tracks by album, in album-id order; an album's
// embargo is the latest release_at of its tracks.
func releases(ps []*preparedTrack) []catalog.Release {
	byAlbum := map[model.AlbumID]*catalog.Release{}
	var order []model.AlbumID
	for _, p := range ps {
		if p.result.Skipped {
			continue
		}
		tr := p.release.Track
		r, ok := byAlbum[tr.AlbumID]
		if !ok {
			r = &catalog.Release{Album: model.Album{ID: tr.AlbumID, Title: p.album, ReleaseDate: tr.ReleaseDate}}
			for _, a := range p.albumArtists {
				r.Album.ArtistIDs = append(r.Album.ArtistIDs, catalog.ArtistIDFor(a))
			}
			byAlbum[tr.AlbumID] = r
			order = append(order, tr.AlbumID)
		}
		for _, name := range slices.Concat(p.artists, p.albumArtists) {
			a := model.Artist{ID: catalog.ArtistIDFor(name), Name: strings.TrimSpace(name)}
			if !slices.Contains(r.Artists, a) {
				r.Artists = append(r.Artists, a)
			}
		}
		r.Album.ReleaseAt = max(r.Album.ReleaseAt, p.releaseAt)
		r.Tracks = append(r.Tracks, p.release)
	}
	slices.Sort(order)
	out := make([]catalog.Release, 0, len(order))
	for _, id := range order {
		r := byAlbum[id]
		r.Album.Loudness = albumLoudness(r.Tracks)
		out = append(out, *r)
	}
	return out
}

// albumLoudness combines track loudness by mean energy weighted by
// duration (an approximation of gating the album as one programme) and
// the maximum true peak.
func albumLoudness(ts []catalog.TrackRelease) model.Loudness {
	var e, d float64
	peak := math.Inf(-1)
	for _, t := range ts {
		dur := float64(t.Track.Samples) / float64(max(1, t.Track.SampleRate))
		if !math.IsInf(t.Track.Loudness.IntegratedLUFS, 0) && !math.IsNaN(t.Track.Loudness.IntegratedLUFS) {
			e += dur * math.Pow(10, t.Track.Loudness.IntegratedLUFS/10)
			d += dur
		}
		peak = math.Max(peak, t.Track.Loudness.TruePeakDBTP)
	}
	l := model.Loudness{IntegratedLUFS: math.Inf(-1), TruePeakDBTP: peak}
	if d > 0 && e > 0 {
		l.IntegratedLUFS = 10 * math.Log10(e/d)
	}
	return finite(l)
}

// SilenceLUFS stands for the loudness of silence (and the true peak of
// digital zero), which BS.1770 leaves at −∞: the absolute gate, −70.
const SilenceLUFS = -70

// finite replaces −∞ and NaN (silence) by SilenceLUFS so values survive
// JSON encoding.
func finite(l model.Loudness) model.Loudness {
	fix := func(v float64) float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < SilenceLUFS {
			return SilenceLUFS
		}
		return v
	}
	return model.Loudness{IntegratedLUFS: fix(l.IntegratedLUFS), TruePeakDBTP: fix(l.TruePeakDBTP)}
}

// Parallel returns the concurrency limit set by WithParallel.
func (o Options) Parallel() int { return o.parallel }
