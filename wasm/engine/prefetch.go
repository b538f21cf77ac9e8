package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/player/vorbis"
)

// Limits of Prefetch.
const (
	// MaxPrefetch is the most tracks one Prefetch call readies; the rest
	// of the list is ignored.
	MaxPrefetch = 8
	// prefetchConcurrency bounds the tracks readied at a time.
	prefetchConcurrency = 4
	// warmFrames is how many frames the warm-up decodes.
	warmFrames = 8192
)

// ErrPrefetchArgs is returned by Prefetch for an invalid tier or an empty
// list.
var ErrPrefetchArgs = errors.New("engine: prefetch needs a valid tier and tracks")

// Prefetch readies tracks the listener is likely to play next (those in
// view: an open album, search results), as a streaming player does, so
// that a play call waits for no network: for each of the first
// MaxPrefetch ids, concurrently, the verified manifest, the header and
// chunk 0 (encrypted, in the fetcher's cache) and the content key (in
// memory for the key TTL). Once per engine it then decodes the first
// readied track's first frames into nothing, so that the browser has
// compiled the decoder's functions (V8 compiles a wasm function on its
// first call) before the first play. Downloaded tracks come from
// IndexedDB with no network. The errors of the tracks that could not be
// readied are joined; those tracks play as before, fetched on play.
func (e *Engine) Prefetch(ctx context.Context, tier model.Tier, ids []model.TrackID) error {
	if !tier.Valid() || len(ids) == 0 {
		return ErrPrefetchArgs
	}
	ids = ids[:min(len(ids), MaxPrefetch)]
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
			e.warm(ctx, t)
			break
		}
	}
	for _, t := range tracks {
		if t != nil {
			t.Close()
		}
	}
	return errors.Join(errs...)
}

// warm decodes up to warmFrames frames of t (its header and first
// chunks, from the fetcher's cache) and drops them, once per engine.
func (e *Engine) warm(ctx context.Context, t *track) {
	e.mu.Lock()
	done := e.warmed
	e.warmed = true
	e.mu.Unlock()
	if done {
		return
	}
	hdr, err := t.Header(ctx)
	if err != nil {
		e.opts.logger.Debug("engine: warm-up: header", "err", err)
		return
	}
	c0, err := t.f.Chunk(ctx, t.m, 0)
	if err != nil {
		e.opts.logger.Debug("engine: warm-up: chunk 0", "err", err)
		return
	}
	crypto.XORKeyStream(t.key, 1, 0, c0, c0)
	sr := vorbis.NewStreamReader(io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(c0)), vorbis.DefaultOptions())
	for n := 0; n < warmFrames; {
		pcm, err := sr.Next(ctx)
		if err != nil || len(pcm) == 0 {
			return
		}
		n += len(pcm[0])
	}
}
