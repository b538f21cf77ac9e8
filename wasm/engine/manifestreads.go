package engine

import (
	"bytes"
	"context"
	"strings"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// manifestPrefix is the key prefix of core/fetch's stored signed
// manifests: "cache/man/<track>/<tier>" (see CachePrefixes).
const manifestPrefix = "cache/man/"

// streamReads is the fetcher's view of the engine's store: every call
// passes through, except that the stored manifest of a track no download
// holds reads as absent once the downloads manager is open. Such a
// manifest cannot help a play (without a download the blobs are in
// memory only and the key comes from the relay, which the manifest is
// fetched from too), while its read costs an IndexedDB transaction that
// queues behind the page's read-write ones: measured at 60–130 ms on the
// way to a cold track's first audio (docs/BENCHMARKS.md, web11). The
// fetcher then fetches the manifest with the track's header and chunk 0
// at once, and stores it as before; a manifest in memory (the engine's
// manifests map) is used first anyway.
//
// The store of such a manifest is written behind the play (Set returns
// before the write ends; Engine.Close waits for it): in the page it is an
// IndexedDB commit with strict durability, measured at 3–46 ms between
// the manifest's verification and the track's first audio
// (docs/BENCHMARKS.md, web11d), for a record no play of this session
// reads.
type streamReads struct {
	store.Store
	e *Engine
}

// Get implements store.Store.
func (s streamReads) Get(ctx context.Context, key []byte) ([]byte, error) {
	if s.e.skipRead(key) {
		return nil, store.ErrNotFound
	}
	return s.Store.Get(ctx, key)
}

// Set implements store.Store.
func (s streamReads) Set(ctx context.Context, key, value []byte) error {
	if !s.e.skipRead(key) {
		return s.Store.Set(ctx, key, value)
	}
	// Counted under the engine's lock while it is open, so that Close
	// (which marks it closed under that lock, then waits) waits for every
	// write started; after Close the write is made in line.
	s.e.mu.Lock()
	closed := s.e.closed
	if !closed {
		s.e.behind.Add(1)
	}
	s.e.mu.Unlock()
	if closed {
		return s.Store.Set(ctx, key, value)
	}
	key, value = bytes.Clone(key), bytes.Clone(value)
	go func() {
		defer s.e.behind.Done()
		if err := s.Store.Set(context.WithoutCancel(ctx), key, value); err != nil {
			s.e.opts.logger.Warn("engine: store a streamed track's manifest", "key", string(key), "err", err)
		}
	}()
	return nil
}

// skipRead reports whether key is the stored manifest of a (track, tier)
// the open downloads manager holds no download of.
func (e *Engine) skipRead(key []byte) bool {
	rest, ok := bytes.CutPrefix(key, []byte(manifestPrefix))
	if !ok {
		return false
	}
	track, tier, ok := strings.Cut(string(rest), "/")
	if !ok {
		return false
	}
	dl := e.Downloads()
	return dl != nil && !dl.Holds(model.TrackID(track), model.Tier(tier))
}
