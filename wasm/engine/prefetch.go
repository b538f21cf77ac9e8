package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/player"
)

// Limits of Prefetch.
const (
	// prefetchConcurrency bounds the tracks readied at a time.
	prefetchConcurrency = 4
	// warmFrames is how many frames the warm-up's manifest holds.
	warmFrames = 8192
	// warmYield is how long the warm-up gives the page's thread back
	// before each of its steps and between its play's prefetch and play.
	warmYield = time.Millisecond
	// headFrames is how many frames Prefetch decodes of each track; it
	// must cover the worklet's priming (TestHeadCoversWorkletPrime).
	headFrames = player.PrefetchHeadFrames
	// maxHeads bounds the heads kept (the tracks of one Prefetch).
	maxHeads = player.PrefetchMaxTracks
)

// ErrPrefetchArgs is returned by Prefetch for an invalid tier or an empty
// list.
var ErrPrefetchArgs = errors.New("engine: prefetch needs a valid tier and tracks")

// Prefetch readies tracks the listener is likely to play next (those in
// view: an open album, search results), as a streaming player does, so
// that a play call waits for no network: for each of the first
// player.PrefetchMaxTracks ids, concurrently, the verified manifest, the header and
// chunk 0 (encrypted, in the fetcher's cache) and the content key (in
// memory for the key TTL); then, one track after the other, its first
// headFrames frames decoded (player.DecodeHead), which a play of the
// track hands to the output before its decoder has read anything (see
// heads). Decoding also has the browser compile the decoder's functions
// (V8 compiles a wasm function on its first call), so a Prefetch counts
// as the warm-up's decode: Warm does not run after it. Downloaded tracks
// come from IndexedDB with no network. The errors of the tracks that
// could not be readied are joined; those tracks play as before, fetched
// on play.
func (e *Engine) Prefetch(ctx context.Context, tier model.Tier, ids []model.TrackID) error {
	if !tier.Valid() || len(ids) == 0 {
		return ErrPrefetchArgs
	}
	ids = ids[:min(len(ids), player.PrefetchMaxTracks)]
	tracks := make([]*track, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, prefetchConcurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ts, err := e.openTrack(ctx, id, tier, func(string) {})
			if err != nil {
				errs[i] = fmt.Errorf("engine: prefetch %s: %w", id, err)
				return
			}
			t, ok := ts.(*track)
			if !ok { // a share's preview: nothing to ready
				ts.Close()
				return
			}
			tracks[i] = t
		})
	}
	wg.Wait()
	for _, t := range tracks {
		if t != nil {
			e.readyHead(ctx, t)
			t.Close()
		}
	}
	if slices.ContainsFunc(tracks, func(t *track) bool { return t != nil }) {
		e.startWarm()
	}
	return errors.Join(errs...)
}

// warmClip is a 0.3 s stereo 44.1 kHz Ogg Vorbis clip (oggenc -q 5 of a
// synthetic tone and noise) that Warm decodes.
//
//go:embed warm.ogg
var warmClip []byte

// Warm runs, once per engine and into nothing the listener sees or
// hears, the code between a play call and the first audio: it wraps and
// unwraps a content key for this device (HPKE), verifies an Ed25519
// signature, hashes and decrypts a blob's worth of bytes, decodes the
// answers a cold play reads first (an album's and a stream key's JSON, a
// signed manifest's CBOR: warmAnswers), then prefetches and plays a small
// embedded Vorbis clip as a listener's prefetched play of an album runs,
// in a shadow engine whose player writes into sink with mark as its
// marker (warmPlay). sink must be of the type the engine's player writes
// to and make no sound (in the page: the same output code over a ring
// nothing plays), and mark must make no mark the page reports: the
// warm-up then runs the very functions, with the very call targets, of
// the listener's first play. In the browser this has V8 compile (and
// optimise the hot ones of) those wasm functions and fills the JSON and
// CBOR decoders' per-type caches while the listener is still choosing,
// not after they pressed play. It needs no network and no login, and
// leaves no trace: no request, play event, status, mark, stored record
// or cached entry of the engine's.
//
// A track the engine's player opens (a play) stops the warm-up after its
// current step: Go's js/wasm port runs one goroutine at a time on the
// page's thread, so a warm-up running beside a play that has started its
// audio would compete with it for that thread. Between its steps, and
// between the warm-up play's prefetch and play, it yields the thread
// (warmYield), so that a play call waits for one such step at most.
func (e *Engine) Warm(ctx context.Context, sink player.Sink, mark func(string)) {
	if !e.startWarm() {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.mu.Lock()
	e.warmStop = cancel
	e.mu.Unlock()
	steps := []func() error{
		e.warmCrypto,
		warmAnswers,
		func() error { return e.warmPlay(ctx, sink, mark) },
	}
	for _, step := range steps {
		if yieldThread(ctx) != nil {
			return
		}
		if err := step(); err != nil {
			e.opts.logger.Debug("engine: warm-up", "err", err)
		}
	}
}

// yieldThread waits warmYield, which in the page gives the thread back to
// the event loop (a play call waiting there runs), or until ctx ends.
func yieldThread(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(warmYield):
		return nil
	}
}

// stopWarm stops a running warm-up (see Warm).
func (e *Engine) stopWarm() {
	e.mu.Lock()
	stop := e.warmStop
	e.warmStop = nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// warmAnswers encodes and decodes, as a play does, an album answer, a
// stream-key request and answer (JSON), and a manifest signed by a
// throwaway key and opened under it (CBOR, Ed25519, the determinism
// check). Measured under Node (GOOS=js): the first crypto.OpenManifest
// took 356 ms and the first decode of an album answer 66 ms, the next
// ones about 1 ms each — the first-call cost that a cold play paid
// (docs/BENCHMARKS.md, web11c).
func warmAnswers() error {
	album, err := json.Marshal(api.AlbumResponse{
		Album:  model.Album{ID: "alwarm", Title: "warm"},
		Tracks: []model.Track{{ID: "trwarm", AlbumID: "alwarm", Title: "warm", ArtistIDs: []model.ArtistID{"arwarm"}}},
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(album, new(api.AlbumResponse)); err != nil {
		return err
	}
	if _, err := json.Marshal(api.StreamKeyRequest{Track: "trwarm", Tier: model.TierHigh}); err != nil {
		return err
	}
	key, err := json.Marshal(api.StreamKeyResponse{Track: "trwarm", Tier: model.TierHigh, Wrapped: warmClip[:64], ServerTime: time.UnixMilli(0)})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(key, new(api.StreamKeyResponse)); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: "trwarm", Tier: model.TierHigh, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, TotalSamples: warmFrames, Header: model.BlobRef{Size: 1},
		Chunks: []model.Chunk{{Samples: warmFrames, Blob: model.BlobRef{Size: 1}}}, Bitrate: 1}
	env, err := crypto.SignManifest(priv, m)
	if err != nil {
		return err
	}
	_, err = crypto.OpenManifest(pub, env)
	return err
}

// warmCrypto wraps a content key for this device and unwraps it, signs
// and verifies, hashes and decrypts the clip's bytes.
func (e *Engine) warmCrypto() error {
	info := crypto.StreamKeyInfo("warm", model.TierHigh)
	var key crypto.ContentKey
	w, err := crypto.WrapContentKey(e.id.HPKEPublic(), info, key)
	if err != nil {
		return err
	}
	if _, err := e.id.UnwrapContentKey(info, w); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, warmClip, ed25519.Sign(priv, warmClip)) {
		return errors.New("engine: warm-up signature does not verify")
	}
	b := bytes.Clone(warmClip)
	crypto.BlobHash(b)
	crypto.XORKeyStream(key, 1, 0, b, b)
	return nil
}

// startWarm reports whether the warm-up is still to run, and marks it run.
func (e *Engine) startWarm() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	done := e.warmed
	e.warmed = true
	return !done
}

// readyHead decodes the first headFrames frames of t (its header and
// chunk 0, from the fetcher's cache) and keeps them as its head for the
// key TTL, under t's manifest and content key (see headOf). A failure
// only loses the head: the track plays as before.
func (e *Engine) readyHead(ctx context.Context, t *track) {
	if t.m.Channels > player.PrefetchMaxHeadChannels {
		return
	}
	hdr, err := t.f.Header(ctx, t.m)
	if err != nil {
		e.opts.logger.Debug("engine: prefetch: header", "err", err)
		return
	}
	c0, err := t.f.Chunk(ctx, t.m, 0)
	if err != nil {
		e.opts.logger.Debug("engine: prefetch: chunk 0", "err", err)
		return
	}
	crypto.XORKeyStream(t.key, 0, 0, hdr, hdr)
	crypto.XORKeyStream(t.key, 1, 0, c0, c0)
	pcm, err := player.DecodeHead(ctx, t.m, io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(c0)), headFrames, e.opts.player)
	if err != nil {
		e.opts.logger.Debug("engine: prefetch: decode", "err", err)
		return
	}
	e.heads.Put(manifestID{t.m.TrackID, t.m.Tier}, decodedHead{m: t.m, key: t.key, pcm: pcm})
}

// headOf returns the head readyHead kept for the track of manifest m
// (the same verified manifest) played with key, nil when there is none,
// it expired or was made under another manifest or key.
func (e *Engine) headOf(m *model.Manifest, key crypto.ContentKey) []float32 {
	h, ok := e.heads.Get(manifestID{m.TrackID, m.Tier})
	if !ok || h.m != m || h.key != key {
		return nil
	}
	return h.pcm
}
