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

// warmSource opens every track as the clip, through a fetcher over a
// warmOrigin and the engine's own track type: manifest ∥ header ∥
// chunk 0, the signature and blob checks, the memory cache, the
// decryption.
type warmSource struct {
	f *fetch.Fetcher
}

// OpenTrack implements player.Source.
func (s warmSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	m, err := s.f.ManifestAndPrefetch(ctx, id, tier, 1)
	if err != nil {
		return nil, err
	}
	return newTrack(s.f, m, crypto.ContentKey{}, func(string) {}), nil
}

// warmPath plays the embedded clip once, into a sink that drops it at the
// output's rate and channels, through the code a cold play runs after
// its requests: the fetcher (ManifestAndPrefetch, manifest signature and
// blob SHA-256 checks, the blob cache), the engine's track (decrypt,
// read-ahead) and a player.Player with the engine's player options
// (decoder, gain, limiter, resampler, mixer, output), so that V8 has
// compiled them (it compiles a wasm function on its first call) before
// the listener's first play. The clip's Vorbis setup goes into the
// player options' setup cache, which a first play of a track encoded
// alike (the demo album's high tier) then skips parsing. Nothing is
// recorded: the player has no history. It returns the frames the sink
// received.
func (e *Engine) warmPath(ctx context.Context, rate, channels int) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	w, err := newWarmTrack(warmClip)
	if err != nil {
		return 0, err
	}
	f, err := fetch.New(ctx, store.NewMemory(), []fetch.Origin{warmOrigin{w}},
		func(context.Context) (ed25519.PublicKey, error) { return w.pub, nil },
		fetch.DefaultOptions().WithCacheBytes(1<<20).WithLogger(e.opts.logger))
	if err != nil {
		return 0, err
	}
	sink := player.NewDiscardSink(rate, channels)
	p, err := player.New(warmSource{f}, sink, e.opts.player.WithLogger(e.opts.logger))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	sub, stop := p.Subscribe()
	defer stop()
	if err := p.Send(player.PlayContext{Context: model.PlayContext{Kind: "warm"}, Items: []player.Item{{Track: "trwarm"}}}); err != nil {
		return 0, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return sink.Frames(), err
		}
		select {
		case st, ok := <-sub:
			if !ok {
				return sink.Frames(), errors.New("engine: warm-up player stopped")
			}
			if st.Err != nil {
				return sink.Frames(), st.Err
			}
			if st.State == player.StateEnded {
				return sink.Frames(), nil
			}
		case <-ctx.Done():
			return sink.Frames(), ctx.Err()
		}
	}
}
