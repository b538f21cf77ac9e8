package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/ttlmap"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/ogg"
	"github.com/segue-fm/segue/store"
)

// warmTimeout bounds the warm-up play of the embedded clip.
const warmTimeout = 30 * time.Second

// errWarmClip is returned when the embedded clip cannot be split into its
// header pages and audio pages (a build with a broken warm.ogg).
var errWarmClip = errors.New("engine: warm-up clip is not a Vorbis stream with header and audio pages")

// warmTrack is the embedded clip as the relay would serve a track: its
// header pages and audio pages encrypted under the zero content key, a
// manifest for them signed by a throwaway catalog key, served by an
// in-memory origin.
type warmTrack struct {
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
	header []byte // encrypted, blob index 0
	body   []byte // encrypted, blob index 1 (chunk 0)
	frames int64
}

// newWarmTrack splits the clip after its last header page (granule 0);
// its length is the granule position of its last page (a Vorbis stream
// that starts at sample 0).
func newWarmTrack(clip []byte) (*warmTrack, error) {
	split, off := 0, 0
	var frames int64
	for off < len(clip) {
		p, n, err := ogg.ParsePage(clip[off:])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errWarmClip, err)
		}
		if p.Granule == 0 && split == off {
			split += n
		}
		frames = max(frames, p.Granule)
		off += n
	}
	if split == 0 || split == len(clip) || frames <= 0 {
		return nil, errWarmClip
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	w := &warmTrack{pub: pub, priv: priv, header: bytes.Clone(clip[:split]), body: bytes.Clone(clip[split:]), frames: frames}
	var zero crypto.ContentKey
	crypto.XORKeyStream(zero, 0, 0, w.header, w.header)
	crypto.XORKeyStream(zero, 1, 0, w.body, w.body)
	return w, nil
}

// manifest returns the signed manifest of the clip as (track, tier).
func (w *warmTrack) manifest(track model.TrackID, tier model.Tier) ([]byte, error) {
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: track, Tier: tier, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, TotalSamples: w.frames,
		Header: model.BlobRef{Size: int64(len(w.header)), SHA256: crypto.BlobHash(w.header)},
		Chunks: []model.Chunk{{Samples: w.frames, Blob: model.BlobRef{Size: int64(len(w.body)), SHA256: crypto.BlobHash(w.body)}}},
		// Low enough that the player's bandwidth check never warns.
		Bitrate: 1}
	return crypto.SignManifest(w.priv, m)
}

// warmOrigin serves a warmTrack as a relay would: the manifest, the
// header and chunk 0, positionally or by hash.
type warmOrigin struct{ w *warmTrack }

// Name implements fetch.Origin.
func (warmOrigin) Name() string { return "warm-up" }

// Fetch implements fetch.Origin.
func (o warmOrigin) Fetch(ctx context.Context, r fetch.Request) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case r.Kind == fetch.KindManifest:
		return o.w.manifest(r.Track, r.Tier)
	case r.Kind == fetch.KindHeader:
		return bytes.Clone(o.w.header), nil
	case r.Kind == fetch.KindChunk && r.Index == 0:
		return bytes.Clone(o.w.body), nil
	}
	return nil, fmt.Errorf("warm-up %s: %w", r, fetch.ErrNotFound)
}

// The warm-up's album and track ids (valid ids; the relay's are random).
const (
	warmAlbum   model.AlbumID = "alwarm"
	warmTrackID model.TrackID = "trwarm"
)

// warmEngine returns a shadow of e for the warm-up play of w: an Engine
// of the same type over a memory store, whose fetcher's only origin
// serves the clip under w's catalog key, with the clip's album answer in
// memory as the page's album view leaves one and its content key in
// memory as a stream-key answer leaves one; e's identity, options and
// player options, except the marker (mark) and effects (none: an
// effect's state is the listener's output's). It has no relay, no
// downloads, no player and nothing of e's: what it does touches neither
// e's store, caches and history nor the page.
func (e *Engine) warmEngine(ctx context.Context, w *warmTrack, mark func(string)) (*Engine, error) {
	opts := e.opts
	opts.mark = mark
	opts.player = opts.player.WithEffects()
	s := &Engine{opts: opts, st: store.NewMemory(), id: e.id, keys: map[string]keyEntry{}, streamed: map[[32]byte]manifestID{},
		albums:    ttlmap.New[model.AlbumID, albumAnswer](1, opts.keyTTL, opts.clock),
		manifests: ttlmap.New[manifestID, *model.Manifest](1, opts.keyTTL, opts.clock),
		heads:     ttlmap.New[manifestID, decodedHead](1, opts.keyTTL, opts.clock)}
	var err error
	s.fetcher, err = fetch.New(ctx, streamReads{Store: s.st, e: s}, []fetch.Origin{warmOrigin{w}},
		func(context.Context) (ed25519.PublicKey, error) { return w.pub, nil },
		fetch.DefaultOptions().WithCacheBytes(1<<20).WithLogger(opts.logger))
	if err != nil {
		return nil, err
	}
	s.hist = newHistory(s.st, opts.logger.Error, func() {})
	s.albums.Put(warmAlbum, albumAnswer{album: model.Album{ID: warmAlbum, Title: "warm"},
		tracks: []model.Track{{ID: warmTrackID, AlbumID: warmAlbum, Title: "warm", ArtistIDs: []model.ArtistID{"arwarm"}}}})
	s.keys[keyName(warmTrackID, opts.player.Tier())] = keyEntry{expires: opts.clock().Add(opts.keyTTL)}
	return s, nil
}

// warmPlay runs, on the embedded clip and in a shadow engine
// (warmEngine), the code of a listener's prefetched play of an album:
// Prefetch (the manifest through the fetcher with its signature and blob
// checks, the key from memory, the head decrypted and decoded), then
// PlayAlbumFrom (the album from memory, the queue, player.Player.PlayNow
// opening the track from memory with its head and writing the first block
// within the call), then the clip to its end (decoder, gain, limiter,
// resampler, mixer) into sink, which must be a dry output of the same
// type as the listener's (the page's: the same JavaScript writing into a
// ring nothing plays). In the browser V8 compiles each wasm function at
// its first call and optimises the hot ones on background threads, with
// the call targets it saw: after this the listener's first play runs
// code that is compiled, and optimised for the types it meets, as a
// second play does (docs/BENCHMARKS.md, warm12). The shadow player has no
// history and no status listener: nothing is recorded or shown. The
// clip's Vorbis setup goes into the player options' setup cache, which a
// first play of a track encoded alike (the demo album's high tier) then
// skips parsing. ctx's end (a listener's play: Warm) stops the play.
func (e *Engine) warmPlay(ctx context.Context, sink player.Sink, mark func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	w, err := newWarmTrack(warmClip)
	if err != nil {
		return err
	}
	s, err := e.warmEngine(ctx, w, mark)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Prefetch(ctx, s.opts.player.Tier(), []model.TrackID{warmTrackID}); err != nil {
		return err
	}
	if err := yieldThread(ctx); err != nil {
		return err
	}
	p, err := player.New(Source{s}, sink, s.opts.player.WithDevice(e.id.DeviceID()).WithLogger(s.opts.logger))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
	sub, stop := p.Subscribe()
	defer stop()
	if err := s.PlayAlbumFrom(ctx, warmAlbum, 0, 0); err != nil {
		return err
	}
	for {
		select {
		case st, ok := <-sub:
			if !ok {
				return errors.New("engine: warm-up player stopped")
			}
			if st.Err != nil {
				return st.Err
			}
			if st.State == player.StateEnded {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
