package fetch

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// Event reports one attempt to serve a request, for logs, metrics and
// tests. Origin is "" and Cached true when the cache answered.
type Event struct {
	Origin   string
	Request  Request
	Cached   bool
	Bytes    int           // body size on success
	Err      error         // nil on success; an *OriginError otherwise
	Duration time.Duration // wall time of the attempt
}

// Options configure a Fetcher. The zero value is not useful: start from
// DefaultOptions.
type Options struct {
	cacheBytes int64
	logger     *slog.Logger
	observer   func(Event)
	attempt    time.Duration
	downFor    time.Duration
	hedge      time.Duration
	clock      Clock
}

// Clock is the fetcher's source of the current time: origin quarantine
// deadlines and Event durations. Timeouts (attempt, hedge) are timers
// measured by the runtime, not by the Clock.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// DefaultOptions returns a 2 GiB cache bound, slog.Default(), no observer,
// a 1.5 s attempt timeout, 30 s of origin quarantine, a 250 ms hedge delay
// for the objects before the first audio, and the wall clock.
func DefaultOptions() Options {
	return Options{cacheBytes: 2 << 30, logger: slog.Default(), attempt: 1500 * time.Millisecond,
		downFor: 30 * time.Second, hedge: 250 * time.Millisecond, clock: wallClock{}}
}

// WithHedge sets the hedge delay (default 250 ms; 0 disables hedging).
// For the objects a track needs before its first audio — the manifest,
// the header and chunk 0 — an attempt that has not answered within delay
// is not abandoned: the same request is also sent to the next origin in
// health order, and the first answer that verifies wins (the other is
// cancelled). A slow primary therefore delays the start of a track by
// about delay rather than by its own latency. Other chunks are not hedged
// (they are fetched ahead of playback, so their latency is hidden).
func (o Options) WithHedge(delay time.Duration) Options { o.hedge = max(delay, 0); return o }

// WithClock sets the clock that dates origin quarantines and events
// (default the wall clock); nil keeps the current one.
func (o Options) WithClock(c Clock) Options {
	if c != nil {
		o.clock = c
	}
	return o
}

// WithFailover sets how the fetcher fails over between origins: an
// attempt that has not returned the whole body within attempt is
// abandoned for the next origin (the last origin tried gets no such
// limit, only the caller's context), and an origin that failed through its
// own fault (unreachable, timed out, 5xx, bytes that do not verify) is
// tried after the healthy ones for downFor, so the next request does not
// wait for it again (defaults 1.5 s and 30 s; 0 disables either).
func (o Options) WithFailover(attempt, downFor time.Duration) Options {
	o.attempt, o.downFor = max(attempt, 0), max(downFor, 0)
	return o
}

// WithCacheBytes bounds the encrypted-blob cache to n bytes of blob data
// (default 2 GiB). Manifests are cached outside this bound; a blob larger
// than n is served but not cached; n ≤ 0 caches nothing. New evicts the
// least recently used blobs of a cache holding more than n (a bound
// lowered since it was filled).
func (o Options) WithCacheBytes(n int64) Options { o.cacheBytes = max(n, 0); return o }

// WithLogger sets the logger (default slog.Default()); nil keeps the default.
func (o Options) WithLogger(l *slog.Logger) Options {
	if l != nil {
		o.logger = l
	}
	return o
}

// WithObserver sets a callback run synchronously after every cache hit and
// every origin attempt (default none). It must not block.
func (o Options) WithObserver(fn func(Event)) Options { o.observer = fn; return o }

// KeyFunc returns the catalog's Ed25519 public key that signs manifests.
// It is called before every manifest verification and may block (e.g. to
// fetch and pin the key on first use); it must be safe for concurrent use.
type KeyFunc func(ctx context.Context) (ed25519.PublicKey, error)

// Fetcher gets manifests and encrypted blobs from its cache or its
// origins, in order, verifying everything: manifest signatures with the
// catalog key, blob sizes and SHA-256 hashes with the manifest. It never
// sees content keys or plaintext. It is safe for concurrent use;
// concurrent requests for one object share one fetch.
type Fetcher struct {
	origins []Origin
	st      store.Store
	key     KeyFunc
	opts    Options
	cache   *cache
	flight  flight
	pinned  atomic.Pointer[PinnedFunc] // offline downloads, consulted first (pinned.go)

	healthMu sync.Mutex
	downTill []time.Time // per origin: quarantined until then (zero: healthy)
}

// New returns a Fetcher over the device store st (which it does not own or
// close) and origins, tried in order (the first is the primary). It
// reloads the cache index from st.
func New(ctx context.Context, st store.Store, origins []Origin, key KeyFunc, opts Options) (*Fetcher, error) {
	if len(origins) == 0 {
		return nil, ErrNoOrigins
	}
	if opts.logger == nil {
		opts.logger = slog.Default()
	}
	if opts.clock == nil {
		opts.clock = wallClock{}
	}
	c, err := openCache(ctx, st, opts.cacheBytes, opts.logger)
	if err != nil {
		return nil, err
	}
	return &Fetcher{origins: append([]Origin(nil), origins...), st: st, key: key, opts: opts, cache: c,
		downTill: make([]time.Time, len(origins))}, nil
}

// Origins returns the origins' names in the order they are tried.
func (f *Fetcher) Origins() []string {
	names := make([]string, len(f.origins))
	for i, o := range f.origins {
		names[i] = o.Name()
	}
	return names
}

// CacheStats returns the number of cached blobs and their total size in bytes.
func (f *Fetcher) CacheStats() (blobs int, bytes int64) { return f.cache.stats() }

// Flush persists the cache's recency information (reads only update it in
// memory). Call it before closing the store.
func (f *Fetcher) Flush(ctx context.Context) error { return f.cache.flush(ctx) }

func manifestKey(track model.TrackID, tier model.Tier) []byte {
	return []byte(prefixManifest + string(track) + "/" + string(tier))
}

// Manifest returns the verified manifest of (track, tier), caller-owned.
// The signed envelope is cached; it is verified again on every load, and a
// cached envelope that fails is dropped and fetched anew.
func (f *Fetcher) Manifest(ctx context.Context, track model.TrackID, tier model.Tier) (*model.Manifest, error) {
	if !tier.Valid() {
		return nil, fmt.Errorf("fetch: manifest %s: %w", track, model.ErrInvalidTier)
	}
	env, err := f.st.Get(ctx, manifestKey(track, tier))
	return f.manifest(ctx, track, tier, env, err)
}

// manifest is Manifest given the result (env, err) of reading the cached
// envelope, so a caller that already read it does not read it again.
func (f *Fetcher) manifest(ctx context.Context, track model.TrackID, tier model.Tier, env []byte, err error) (*model.Manifest, error) {
	pub, kerr := f.key(ctx)
	if kerr != nil {
		return nil, fmt.Errorf("fetch: catalog key: %w", kerr)
	}
	mk := manifestKey(track, tier)
	req := Request{Kind: KindManifest, Track: track, Tier: tier, MaxSize: crypto.MaxManifestSize}
	switch {
	case err == nil:
		m, verr := openManifest(pub, env, track, tier)
		if verr == nil {
			f.observe(Event{Request: req, Cached: true, Bytes: len(env)})
			return m, nil
		}
		f.opts.logger.Warn("fetch: cached manifest rejected", "track", track, "tier", tier, "err", verr)
		if err := f.st.Delete(ctx, mk); err != nil {
			return nil, fmt.Errorf("fetch: drop cached manifest: %w", err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("fetch: read cached manifest: %w", err)
	}
	// The bodies this call verified, with what they decoded to: the
	// winning one is not verified and decoded a second time (a caller
	// that joined another's flight has none and opens the envelope).
	var (
		mu     sync.Mutex
		opened []openedManifest
	)
	env, err = f.flight.do(ctx, "man/"+string(mk), func(ctx context.Context) ([]byte, error) {
		return f.fromOrigins(ctx, req, func(b []byte) error {
			m, err := openManifest(pub, b, track, tier)
			if err == nil {
				mu.Lock()
				opened = append(opened, openedManifest{env: b, m: m})
				mu.Unlock()
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if err := f.st.Set(ctx, mk, env); err != nil {
		f.opts.logger.Warn("fetch: cache manifest", "track", track, "tier", tier, "err", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, o := range opened {
		if bytes.Equal(o.env, env) {
			return o.m, nil
		}
	}
	return openManifest(pub, env, track, tier)
}

// openedManifest is an envelope that verified and its manifest.
type openedManifest struct {
	env []byte
	m   *model.Manifest
}

// ManifestAndPrefetch is Manifest that also saves a round trip before the
// first audio: when the manifest is not cached, the header and the first
// chunks (up to n) are requested positionally at the same time as the
// manifest (their paths do not depend on it), with the size bound
// model.MaxBlobSize, through the same failover and hedging as any request.
// Each prefetched blob is verified against the manifest once it has
// verified, and cached only if its size and hash match; a mismatch counts
// against the origin that sent it. It returns when the manifest and the
// prefetches are done, so following Header/Chunk calls hit the cache; a
// prefetch that failed is fetched normally by them. With a cached manifest
// it is just Manifest.
func (f *Fetcher) ManifestAndPrefetch(ctx context.Context, track model.TrackID, tier model.Tier, n int) (*model.Manifest, error) {
	if !tier.Valid() {
		return nil, fmt.Errorf("fetch: manifest %s: %w", track, model.ErrInvalidTier)
	}
	env, getErr := f.st.Get(ctx, manifestKey(track, tier))
	if getErr == nil && len(env) > 0 {
		return f.manifest(ctx, track, tier, env, getErr)
	}
	var m *model.Manifest // set before ready is closed, read after
	ready := make(chan struct{})
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := -1; i < max(n, 0); i++ {
		req := Request{Kind: KindHeader, Track: track, Tier: tier, MaxSize: model.MaxBlobSize}
		if i >= 0 {
			req.Kind, req.Index = KindChunk, i
		}
		wg.Go(func() {
			b, err := f.fromOrigins(pctx, req, func(b []byte) error {
				select {
				case <-ready:
				case <-pctx.Done():
					return pctx.Err()
				}
				ref, ok := prefetchRef(m, req)
				if ok && (int64(len(b)) != ref.Size || crypto.BlobHash(b) != ref.SHA256) {
					return fmt.Errorf("%w: prefetched blob does not match the manifest", ErrIntegrity)
				}
				return nil
			})
			if err != nil {
				return
			}
			if ref, ok := prefetchRef(m, req); ok {
				if err := f.cache.put(ctx, ref.SHA256, b); err != nil {
					f.opts.logger.Warn("fetch: cache blob", "request", req.String(), "err", err)
				}
			}
		})
	}
	m, err := f.manifest(ctx, track, tier, env, getErr)
	if err != nil {
		cancel() // the prefetches cannot be verified: stop them, no health recorded
	} else {
		close(ready)
	}
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return m, nil
}

// prefetchRef returns the manifest's reference for a positional header or
// chunk request; false for a chunk index past the track's end.
func prefetchRef(m *model.Manifest, r Request) (model.BlobRef, bool) {
	if r.Kind == KindHeader {
		return m.Header, true
	}
	if r.Index >= len(m.Chunks) {
		return model.BlobRef{}, false
	}
	return m.Chunks[r.Index].Blob, true
}

// openManifest verifies env and checks it describes (track, tier), so an
// origin cannot substitute another track's validly signed manifest.
func openManifest(pub ed25519.PublicKey, env []byte, track model.TrackID, tier model.Tier) (*model.Manifest, error) {
	m, err := crypto.OpenManifest(pub, env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntegrity, err)
	}
	if m.TrackID != track || m.Tier != tier {
		return nil, fmt.Errorf("%w: manifest is for %s/%s", ErrIntegrity, m.TrackID, m.Tier)
	}
	return m, nil
}

// Header returns the encrypted header blob of m, verified against m, owned
// by the caller. Blobs are requested by hash (GET /v1/blobs/<hex>: an
// immutable URL, so edge caches can keep them forever and a re-published
// track never yields a stale positional blob).
func (f *Fetcher) Header(ctx context.Context, m *model.Manifest) ([]byte, error) {
	return f.blob(ctx, Request{Kind: KindHeader, Track: m.TrackID, Tier: m.Tier, MaxSize: m.Header.Size, Hash: m.Header.SHA256}, m.Header)
}

// Chunk returns the encrypted chunk i of m, verified against m, owned by
// the caller.
func (f *Fetcher) Chunk(ctx context.Context, m *model.Manifest, i int) ([]byte, error) {
	b, _, err := f.ChunkFrom(ctx, m, i)
	return b, err
}

// ChunkFrom is Chunk that also reports whether this call fetched the
// chunk from an origin (network) rather than from pinned storage or the
// cache; a call that joined another caller's origin fetch counts as
// network.
func (f *Fetcher) ChunkFrom(ctx context.Context, m *model.Manifest, i int) (b []byte, network bool, err error) {
	if i < 0 || i >= len(m.Chunks) {
		return nil, false, fmt.Errorf("%w: %d of %d", ErrChunkRange, i, len(m.Chunks))
	}
	ref := m.Chunks[i].Blob
	return f.blobFrom(ctx, Request{Kind: KindChunk, Track: m.TrackID, Tier: m.Tier, Index: i, MaxSize: ref.Size, Hash: ref.SHA256}, ref)
}

// Cached reports whether the blob ref is in the cache, without reading it.
func (f *Fetcher) Cached(ref model.BlobRef) bool {
	f.cache.mu.Lock()
	defer f.cache.mu.Unlock()
	_, ok := f.cache.byHash[ref.SHA256]
	return ok
}

func (f *Fetcher) blob(ctx context.Context, req Request, ref model.BlobRef) ([]byte, error) {
	b, _, err := f.blobFrom(ctx, req, ref)
	return b, err
}

// blobFrom returns the verified blob ref and whether it came from an
// origin (see ChunkFrom).
func (f *Fetcher) blobFrom(ctx context.Context, req Request, ref model.BlobRef) ([]byte, bool, error) {
	if b, ok := f.fromPinned(ctx, req, ref); ok {
		return b, false, nil
	}
	if b, ok, err := f.cache.get(ctx, ref.SHA256); err != nil {
		return nil, false, err
	} else if ok {
		f.observe(Event{Request: req, Cached: true, Bytes: len(b)})
		return b, false, nil
	}
	b, err := f.flight.do(ctx, "blob/"+hex.EncodeToString(ref.SHA256[:]), func(ctx context.Context) ([]byte, error) {
		b, err := f.fromOrigins(ctx, req, func(b []byte) error {
			if int64(len(b)) != ref.Size {
				return fmt.Errorf("%w: %d bytes, manifest says %d", ErrIntegrity, len(b), ref.Size)
			}
			if crypto.BlobHash(b) != ref.SHA256 {
				return fmt.Errorf("%w: sha-256 mismatch", ErrIntegrity)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := f.cache.put(ctx, ref.SHA256, b); err != nil {
			f.opts.logger.Warn("fetch: cache blob", "request", req.String(), "err", err)
		}
		return b, nil
	})
	return b, err == nil, err
}

// fromOrigins tries each origin in health order until one returns a body
// that passes verify. Every failure is logged and observed; when all fail
// the joined *OriginErrors are returned, with ErrOffline when none
// answered. For the objects before the first audio (Request.startsTrack)
// an attempt still without a body after the hedge delay is joined by an
// attempt at the next origin; the first verified body wins and the other
// attempt is cancelled (a cancelled loser is neither observed nor held
// against its origin: it was slow, not faulty). verify may be called
// concurrently.
func (f *Fetcher) fromOrigins(ctx context.Context, req Request, verify func([]byte) error) ([]byte, error) {
	order := f.order()
	type result struct {
		n   int // position in order
		b   []byte
		err error
		d   time.Duration
	}
	results := make(chan result, len(order))
	actx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	var bodies atomic.Int32 // attempts that got a whole body (verified or not)
	next, running := 0, 0
	launch := func() {
		n := next
		next++
		running++
		go func() {
			o := f.origins[order[n]]
			start := f.opts.clock.Now()
			fctx, cancel := actx, context.CancelFunc(func() {})
			if f.opts.attempt > 0 && n < len(order)-1 {
				fctx, cancel = context.WithTimeout(actx, f.opts.attempt)
			}
			b, err := o.Fetch(fctx, req)
			cancel()
			if err == nil {
				bodies.Add(1)
				err = verify(b)
			}
			results <- result{n: n, b: b, err: err, d: f.opts.clock.Now().Sub(start)}
		}()
	}
	var hedge <-chan time.Time
	if f.opts.hedge > 0 && req.startsTrack() && len(order) > 1 {
		t := time.NewTimer(f.opts.hedge)
		defer t.Stop()
		hedge = t.C
	}
	launch()
	var errs []error
	answered := false
	for running > 0 {
		select {
		case <-hedge:
			hedge = nil
			if next < len(order) && bodies.Load() == 0 {
				f.opts.logger.Debug("fetch: hedging", "request", req.String(), "slow", f.origins[order[next-1]].Name(),
					"also", f.origins[order[next]].Name())
				launch()
			}
		case r := <-results:
			running--
			if cerr := ctx.Err(); cerr != nil {
				return nil, fmt.Errorf("fetch: %s: %w", req, cerr)
			}
			i := order[r.n]
			o := f.origins[i]
			f.setHealth(i, r.err)
			if r.err == nil {
				f.observe(Event{Origin: o.Name(), Request: req, Bytes: len(r.b), Duration: r.d})
				return r.b, nil
			}
			oe := &OriginError{Origin: o.Name(), Request: req, Err: r.err}
			answered = answered || reached(r.err)
			level := slog.LevelWarn
			if errors.Is(r.err, ErrIntegrity) || serverFault(r.err) {
				level = slog.LevelError
			}
			f.opts.logger.Log(ctx, level, "fetch: origin failed", "origin", o.Name(), "request", req.String(), "err", r.err)
			f.observe(Event{Origin: o.Name(), Request: req, Err: oe, Duration: r.d})
			errs = append(errs, oe)
			if running == 0 && next < len(order) {
				launch()
			}
		}
	}
	if !answered {
		errs = append([]error{ErrOffline}, errs...)
	}
	return nil, fmt.Errorf("fetch: %s: %w", req, errors.Join(errs...))
}

// order returns the origin indexes in the order to try them: the healthy
// ones in configured order, then the quarantined ones (still tried, last).
func (f *Fetcher) order() []int {
	f.healthMu.Lock()
	defer f.healthMu.Unlock()
	now := f.opts.clock.Now()
	healthy := make([]int, 0, len(f.origins))
	var down []int
	for i, t := range f.downTill {
		if now.Before(t) {
			down = append(down, i)
		} else {
			healthy = append(healthy, i)
		}
	}
	return append(healthy, down...)
}

// setHealth records the outcome of an attempt at origin i: success clears
// its quarantine; a failure that is the origin's fault (not reached,
// timed out, 5xx, bytes that do not verify) quarantines it for downFor,
// dated by the Clock. An answer about the object (404 and other 4xx) says
// nothing about health.
func (f *Fetcher) setHealth(i int, err error) {
	var until time.Time
	switch {
	case err == nil:
	case f.opts.downFor > 0 && (!reached(err) || serverFault(err) || errors.Is(err, ErrIntegrity)):
		until = f.opts.clock.Now().Add(f.opts.downFor)
	default:
		return
	}
	f.healthMu.Lock()
	f.downTill[i] = until
	f.healthMu.Unlock()
}

func (f *Fetcher) observe(e Event) {
	if f.opts.observer != nil {
		f.opts.observer(e)
	}
}
