package fetch

import (
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
}

// DefaultOptions returns a 2 GiB cache bound, slog.Default(), no observer,
// a 1.5 s attempt timeout and 30 s of origin quarantine.
func DefaultOptions() Options {
	return Options{cacheBytes: 2 << 30, logger: slog.Default(), attempt: 1500 * time.Millisecond, downFor: 30 * time.Second}
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
// than n is served but not cached.
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
	env, err = f.flight.do(ctx, "man/"+string(mk), func(ctx context.Context) ([]byte, error) {
		return f.fromOrigins(ctx, req, func(b []byte) error {
			_, err := openManifest(pub, b, track, tier)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if err := f.st.Set(ctx, mk, env); err != nil {
		f.opts.logger.Warn("fetch: cache manifest", "track", track, "tier", tier, "err", err)
	}
	return openManifest(pub, env, track, tier)
}

// ManifestAndPrefetch is Manifest that also saves a round trip before the
// first audio: when the manifest is not cached, the header and the first
// chunks (up to n) are requested from the primary origin at the same time
// as the manifest (their paths do not depend on it), with the size bound
// model.MaxBlobSize. Once the manifest has verified, each prefetched blob
// is checked against it and cached only if its size and hash match;
// anything else is dropped and fetched normally later. It returns when
// the manifest and the prefetches are done, so following Header/Chunk
// calls hit the cache. With a cached manifest it is just Manifest.
func (f *Fetcher) ManifestAndPrefetch(ctx context.Context, track model.TrackID, tier model.Tier, n int) (*model.Manifest, error) {
	if !tier.Valid() {
		return nil, fmt.Errorf("fetch: manifest %s: %w", track, model.ErrInvalidTier)
	}
	env, getErr := f.st.Get(ctx, manifestKey(track, tier))
	if getErr == nil && len(env) > 0 {
		return f.manifest(ctx, track, tier, env, getErr)
	}
	type spec struct {
		req Request
		b   []byte
		err error
	}
	specs := []*spec{{req: Request{Kind: KindHeader, Track: track, Tier: tier, MaxSize: model.MaxBlobSize}}}
	for i := range max(n, 0) {
		specs = append(specs, &spec{req: Request{Kind: KindChunk, Track: track, Tier: tier, Index: i, MaxSize: model.MaxBlobSize}})
	}
	// Prefetch from the first origin in health order, bounded like any
	// attempt; what it does not deliver is fetched normally later.
	first := f.order()[0]
	po := f.origins[first]
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if f.opts.attempt > 0 && len(f.origins) > 1 {
		pctx, cancel = context.WithTimeout(ctx, f.opts.attempt)
	}
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range specs {
		wg.Go(func() { s.b, s.err = po.Fetch(pctx, s.req) })
	}
	m, err := f.manifest(ctx, track, tier, env, getErr)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for _, s := range specs {
		if s.err != nil {
			if ctx.Err() == nil {
				f.setHealth(first, s.err)
			}
			continue
		}
		ref := m.Header
		if s.req.Kind == KindChunk {
			if s.req.Index >= len(m.Chunks) {
				continue
			}
			ref = m.Chunks[s.req.Index].Blob
		}
		if int64(len(s.b)) != ref.Size || crypto.BlobHash(s.b) != ref.SHA256 {
			oe := &OriginError{Origin: po.Name(), Request: s.req, Err: fmt.Errorf("%w: prefetched blob does not match the manifest", ErrIntegrity)}
			f.setHealth(first, oe)
			f.opts.logger.Error("fetch: origin failed", "origin", oe.Origin, "request", s.req.String(), "err", oe.Err)
			f.observe(Event{Origin: oe.Origin, Request: s.req, Err: oe})
			continue
		}
		if err := f.cache.put(ctx, ref.SHA256, s.b); err != nil {
			f.opts.logger.Warn("fetch: cache blob", "request", s.req.String(), "err", err)
		}
		f.observe(Event{Origin: po.Name(), Request: s.req, Bytes: len(s.b)})
	}
	return m, nil
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
	if i < 0 || i >= len(m.Chunks) {
		return nil, fmt.Errorf("%w: %d of %d", ErrChunkRange, i, len(m.Chunks))
	}
	ref := m.Chunks[i].Blob
	return f.blob(ctx, Request{Kind: KindChunk, Track: m.TrackID, Tier: m.Tier, Index: i, MaxSize: ref.Size, Hash: ref.SHA256}, ref)
}

// Cached reports whether the blob ref is in the cache, without reading it.
func (f *Fetcher) Cached(ref model.BlobRef) bool {
	f.cache.mu.Lock()
	defer f.cache.mu.Unlock()
	_, ok := f.cache.byHash[ref.SHA256]
	return ok
}

func (f *Fetcher) blob(ctx context.Context, req Request, ref model.BlobRef) ([]byte, error) {
	if b, ok := f.fromPinned(ctx, req, ref); ok {
		return b, nil
	}
	if b, ok, err := f.cache.get(ctx, ref.SHA256); err != nil {
		return nil, err
	} else if ok {
		f.observe(Event{Request: req, Cached: true, Bytes: len(b)})
		return b, nil
	}
	return f.flight.do(ctx, "blob/"+hex.EncodeToString(ref.SHA256[:]), func(ctx context.Context) ([]byte, error) {
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
}

// fromOrigins tries each origin in order until one returns a body that
// passes verify. Every failure is logged and observed; when all fail the
// joined *OriginErrors are returned, with ErrOffline when none answered.
func (f *Fetcher) fromOrigins(ctx context.Context, req Request, verify func([]byte) error) ([]byte, error) {
	var errs []error
	answered := false
	order := f.order()
	for n, i := range order {
		o := f.origins[i]
		start := time.Now()
		actx, cancel := ctx, context.CancelFunc(func() {})
		if f.opts.attempt > 0 && n < len(order)-1 {
			actx, cancel = context.WithTimeout(ctx, f.opts.attempt)
		}
		b, err := o.Fetch(actx, req)
		if err == nil {
			err = verify(b)
		}
		cancel()
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("fetch: %s: %w", req, cerr)
		}
		f.setHealth(i, err)
		if err == nil {
			f.observe(Event{Origin: o.Name(), Request: req, Bytes: len(b), Duration: time.Since(start)})
			return b, nil
		}
		oe := &OriginError{Origin: o.Name(), Request: req, Err: err}
		answered = answered || reached(err)
		level := slog.LevelWarn
		if errors.Is(err, ErrIntegrity) || serverFault(err) {
			level = slog.LevelError
		}
		f.opts.logger.Log(ctx, level, "fetch: origin failed", "origin", o.Name(), "request", req.String(), "err", err)
		f.observe(Event{Origin: o.Name(), Request: req, Err: oe, Duration: time.Since(start)})
		errs = append(errs, oe)
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
	now := time.Now()
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
// timed out, 5xx, bytes that do not verify) quarantines it for downFor. An
// answer about the object (404 and other 4xx) says nothing about health.
func (f *Fetcher) setHealth(i int, err error) {
	var until time.Time
	switch {
	case err == nil:
	case f.opts.downFor > 0 && (!reached(err) || serverFault(err) || errors.Is(err, ErrIntegrity)):
		until = time.Now().Add(f.opts.downFor)
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
