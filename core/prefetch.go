package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/player"
)

// Limits of Prefetch.
const (
	// prefetchConcurrency bounds the tracks opened at a time.
	prefetchConcurrency = 4
	// headFrames is how many frames Prefetch decodes of each track.
	headFrames = player.PrefetchHeadFrames
	// maxHeads bounds the heads kept.
	maxHeads = player.PrefetchMaxTracks
)

// ErrPrefetchArgs is returned by Prefetch for an invalid tier or an empty
// list.
var ErrPrefetchArgs = errors.New("core: prefetch needs a valid tier and tracks")

// Prefetch readies tracks the listener is likely to play next, as the web
// engine's Prefetch does: each of the first player.PrefetchMaxTracks ids
// is opened (OpenTrack: verified manifest, header and chunk 0 in the
// cache, content key in memory), concurrently, then its first headFrames
// frames are decoded (player.DecodeHead) and kept, in memory only, for the content
// key's TTL under the track's manifest and key: a play of the track by
// the engine's player or a Source hands them to the output before its
// decoder has read anything (player.HeadSource) — the same output, less
// work between the play call and the first frames. At most maxHeads
// heads are kept (the first to expire goes); Register and Close drop
// them. The errors of the tracks that could not be readied are joined.
func (e *Engine) Prefetch(ctx context.Context, tier model.Tier, ids []model.TrackID) error {
	if !tier.Valid() || len(ids) == 0 {
		return ErrPrefetchArgs
	}
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	ids = ids[:min(len(ids), player.PrefetchMaxTracks)]
	tracks := make([]*Track, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, prefetchConcurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			tracks[i], errs[i] = e.openTrack(ctx, id, tier)
		})
	}
	wg.Wait()
	opts := player.DefaultOptions()
	for i, t := range tracks {
		if t == nil {
			continue
		}
		if err := e.readyHead(ctx, t, opts); err != nil {
			errs[i] = err
		}
	}
	return errors.Join(errs...)
}

// readyHead decodes and keeps the head of t.
func (e *Engine) readyHead(ctx context.Context, t *Track, opts player.Options) error {
	if t.m.Channels > player.PrefetchMaxHeadChannels {
		return nil
	}
	hdr, err := t.header(ctx)
	if err != nil {
		return err
	}
	c0, _, err := t.chunkFrom(ctx, 0)
	if err != nil {
		return err
	}
	pcm, err := player.DecodeHead(ctx, t.m, bytes.NewReader(append(hdr, c0...)), headFrames, opts)
	if err != nil {
		return fmt.Errorf("core: prefetch %s/%s: %w", t.m.TrackID, t.m.Tier, err)
	}
	e.heads.Put(keyID(t.m.TrackID, t.m.Tier), headEntry{header: t.m.Header.SHA256, chunk0: t.m.Chunks[0].Blob.SHA256,
		key: t.key, pcm: pcm})
	return nil
}

// headEntry is a track's decoded head with what it was decoded from: the
// manifest's header and chunk 0 blobs and the content key.
type headEntry struct {
	header, chunk0 [32]byte
	key            crypto.ContentKey
	pcm            []float32
}

// headOf returns the head Prefetch kept for the track of manifest m
// played with key, nil when there is none, it expired or was decoded from
// other blobs or under another key. The slice is shared and read-only.
func (e *Engine) headOf(m *model.Manifest, key crypto.ContentKey) []float32 {
	h, ok := e.heads.Get(keyID(m.TrackID, m.Tier))
	if !ok || h.key != key || h.header != m.Header.SHA256 || len(m.Chunks) == 0 || h.chunk0 != m.Chunks[0].Blob.SHA256 {
		return nil
	}
	return h.pcm
}
