package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/player"
)

// Source is the engine as a player.Source: manifests verified under the
// pinned catalog key, blobs verified against the manifest before they
// are decrypted in memory with the content key from the relay. While
// signed out, the tracks of a share link PlayShare plays open as that
// link's previews instead (api.PreviewAudio, already clear: no key).
type Source struct{ E *Engine }

// OpenTrack implements player.Source: the manifest (with the header and
// chunk 0 prefetched) and the content key are fetched concurrently.
// A warm-up still running is stopped first: the listener's play needs
// the thread.
func (s Source) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	s.E.stopWarm()
	return s.E.openTrack(ctx, id, tier, s.E.opts.mark)
}

// OpenReady implements player.ReadySource: a track Prefetch readied —
// its verified manifest, content key and decoded head all in memory, and
// no download of it (whose key its license gives) — opens without
// waiting, telling the marker MarkManifest and MarkKey as OpenTrack
// does, so the player writes its first block in the play call
// (player.Player.PlayNow); any other track is left to OpenTrack.
func (s Source) OpenReady(id model.TrackID, tier model.Tier) (player.TrackSource, bool) {
	e := s.E
	if !tier.Valid() {
		return nil, false
	}
	if _, _, ok := e.previewOf(id); ok {
		return nil, false
	}
	if dl := e.Downloads(); dl != nil && dl.Downloaded(id, tier) {
		return nil, false
	}
	m, ok := e.manifests.Get(manifestID{id, tier})
	if !ok {
		return nil, false
	}
	key, ok := e.memoryKey(id, tier)
	if !ok {
		return nil, false
	}
	head := e.headOf(m, key)
	if head == nil {
		return nil, false
	}
	e.stopWarm()
	e.noteStreamed(m)
	e.opts.mark(MarkManifest)
	e.opts.mark(MarkKey)
	t := newTrack(e.fetcher, m, key, e.opts.mark)
	t.head, t.refused = head, e.unauthorized
	return t, true
}

// openTrack is OpenTrack telling mark of its milestones (MarkKey…).
func (e *Engine) openTrack(ctx context.Context, id model.TrackID, tier model.Tier, mark func(string)) (player.TrackSource, error) {
	if !tier.Valid() {
		return nil, fmt.Errorf("%w: %w", player.ErrUnplayable, model.ErrInvalidTier)
	}
	if token, n, ok := e.previewOf(id); ok {
		return e.openPreview(ctx, token, n, id)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		key    crypto.ContentKey
		keyErr error
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		if key, keyErr = e.contentKey(ctx, id, tier, mark); keyErr != nil {
			cancel()
			return
		}
		mark(MarkKey)
	})
	m, ok := e.manifests.Get(manifestID{id, tier})
	var err error
	if !ok {
		m, err = e.fetcher.ManifestAndPrefetch(ctx, id, tier, 1)
	}
	if err != nil {
		cancel()
	} else {
		e.manifests.Put(manifestID{id, tier}, m)
		e.noteStreamed(m)
		mark(MarkManifest)
	}
	wg.Wait()
	if keyErr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = keyErr
	}
	if err != nil {
		return nil, classify(e.unauthorized(fmt.Errorf("engine: open %s/%s: %w", id, tier, err)))
	}
	t := newTrack(e.fetcher, m, key, mark)
	t.head, t.refused = e.headOf(m, key), e.unauthorized
	return t, nil
}

// track reads a track's blobs through the fetcher, one chunk ahead: when
// the decoder asks for chunk i, chunk i+1 is fetched (verified, still
// encrypted) in the background, so the decoder does not wait for a read
// when it reaches it. In the browser a read is an IndexedDB transaction
// (a download) or a network request, and an IndexedDB read queues behind
// any read-write transaction in flight (a history or trusted-clock
// commit, strict durability): on a loaded machine that took up to a
// second, longer than the output buffer after a start. At most one chunk
// is held ahead; Close cancels it.
type track struct {
	f      *fetch.Fetcher
	m      *model.Manifest
	key    crypto.ContentKey
	ctx    context.Context // the read-ahead's; cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex
	ahead  *pending // the chunk being read ahead, nil when none
	mark   func(string)
	marked bool // a chunk was read (the first is marked)
	// head is the track's first frames decoded by a Prefetch, nil when
	// none (read-only, shared with Engine.heads).
	head []float32
	// refused is the engine's unauthorized (nil: none): a blob the relay
	// refuses the token for tells the page at once, mid-track too.
	refused func(error) error
}

// fail returns a failed blob read's error for the player (classify),
// telling the engine first when the relay refused the token.
func (t *track) fail(err error) error {
	if t.refused != nil {
		err = t.refused(err)
	}
	return classify(err)
}

// pending is a chunk read ahead: b, network and err are set before done
// closes.
type pending struct {
	i       int
	done    chan struct{}
	b       []byte
	network bool
	err     error
}

func newTrack(f *fetch.Fetcher, m *model.Manifest, key crypto.ContentKey, mark func(string)) *track {
	ctx, cancel := context.WithCancel(context.Background())
	return &track{f: f, m: m, key: key, ctx: ctx, cancel: cancel, mark: mark}
}

func (t *track) Manifest() *model.Manifest { return t.m }

// Head implements player.HeadSource.
func (t *track) Head() []float32 { return t.head }

func (t *track) Header(ctx context.Context) ([]byte, error) {
	b, err := t.f.Header(ctx, t.m)
	if err != nil {
		return nil, t.fail(err)
	}
	crypto.XORKeyStream(t.key, 0, 0, b, b)
	t.mark(MarkHeader)
	return b, nil
}

// readAheadTimeout bounds one read-ahead; a read that fails or has not
// finished when the decoder asks is made again on the decoder's terms.
const readAheadTimeout = 30 * time.Second

// Chunk returns chunk i decrypted (the caller's bytes) and starts reading
// chunk i+1 ahead. A read-ahead of another chunk (after a seek) is
// dropped.
func (t *track) Chunk(ctx context.Context, i int) ([]byte, error) {
	b, _, err := t.ChunkFrom(ctx, i)
	return b, err
}

// ChunkFrom implements player.NetworkSource: a chunk read from IndexedDB
// (a download, the cache) does not count in the player's bandwidth
// estimate, however long the read took on a busy page.
func (t *track) ChunkFrom(ctx context.Context, i int) ([]byte, bool, error) {
	t.mu.Lock()
	p := t.ahead
	if p != nil && p.i != i {
		p = nil
	}
	t.ahead = nil
	if next := i + 1; next < len(t.m.Chunks) && t.ctx.Err() == nil {
		q := &pending{i: next, done: make(chan struct{})}
		t.ahead = q
		go func() {
			defer close(q.done)
			rctx, cancel := context.WithTimeout(t.ctx, readAheadTimeout)
			defer cancel()
			q.b, q.network, q.err = t.f.ChunkFrom(rctx, t.m, next)
		}()
	}
	t.mu.Unlock()
	var (
		b       []byte
		network bool
		err     error
	)
	if p != nil {
		select {
		case <-p.done:
			b, network, err = p.b, p.network, p.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	if p == nil || err != nil {
		b, network, err = t.f.ChunkFrom(ctx, t.m, i)
	}
	if err != nil {
		return nil, false, t.fail(err)
	}
	t.mu.Lock()
	first := !t.marked
	t.marked = true
	t.mu.Unlock()
	if first {
		t.mark(MarkChunk)
	}
	crypto.XORKeyStream(t.key, uint64(i)+1, 0, b, b)
	if first {
		t.mark(MarkDecrypt)
	}
	return b, network, nil
}

var (
	_ player.NetworkSource = (*track)(nil)
	_ player.HeadSource    = (*track)(nil)
	_ player.ReadySource   = Source{}
)

// Close cancels the read-ahead.
func (t *track) Close() error {
	t.cancel()
	return nil
}

// classify marks failures retrying cannot fix with player.ErrUnplayable,
// as package core does (a downloaded track whose offline license expired,
// was revoked or is missing included); connectivity failures stay stalls.
func classify(err error) error {
	if err == nil || errors.Is(err, fetch.ErrOffline) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) {
		return err
	}
	var se *fetch.StatusError
	permanent := errors.Is(err, fetch.ErrIntegrity) || errors.Is(err, fetch.ErrNotFound) ||
		errors.Is(err, fetch.ErrTooLarge) || errors.Is(err, fetch.ErrChunkRange) ||
		errors.Is(err, model.ErrBadManifest) || errors.Is(err, model.ErrInvalidTier) ||
		errors.Is(err, ErrNotLoggedIn) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrCatalogKeyMismatch) || errors.Is(err, crypto.ErrDecrypt) ||
		errors.Is(err, download.ErrLicenseExpired) || errors.Is(err, download.ErrRevoked) ||
		errors.Is(err, download.ErrNotLicensed) ||
		errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusRequestTimeout &&
			se.Code != http.StatusTooManyRequests
	if permanent {
		return fmt.Errorf("%w: %w", player.ErrUnplayable, err)
	}
	return err
}
