package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/catalog"
)

// Cache-Control values of the audio origin (see docs/ARCHITECTURE.md §4).
const (
	// CacheImmutable is sent with content-addressed blobs (/v1/blobs/{hash}):
	// the bytes at such a URL can never change.
	CacheImmutable = "public, max-age=31536000, immutable"
	// CachePositional is sent with manifests and with header and chunk blobs
	// addressed by (track, tier, index): immutable in practice, but a
	// re-published track replaces them, so caches revalidate (cheaply, by
	// ETag) after an hour.
	CachePositional = "public, max-age=3600"
	// CachePrivate is what Auth sets on every authenticated answer before
	// its handler runs: the answer is the caller's (search results with
	// their private playlists, recommendations, /v1/me), for no shared
	// cache and not kept. Handlers whose answers may be cached set their
	// own (the audio routes, the metadata cache's "private, no-cache").
	CachePrivate = "private, no-store"
)

// parseTier parses the :tier path parameter.
func parseTier(c echo.Context) (model.Tier, error) {
	t, err := model.ParseTier(c.Param("tier"))
	if err != nil {
		return "", fmt.Errorf("%w: tier %s", ErrBadRequest, QuoteInput(c.Param("tier")))
	}
	return t, nil
}

// ParseChunkIndex parses a chunk index path segment: 1 to 6 ASCII digits,
// no sign, no leading zeros except "0", at most model.MaxChunks-1. It
// returns ErrBadRequest for anything else.
func ParseChunkIndex(s string) (int, error) {
	if len(s) == 0 || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: chunk index %s", ErrBadRequest, QuoteInput(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: chunk index %s", ErrBadRequest, QuoteInput(s))
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= model.MaxChunks {
		return 0, fmt.Errorf("%w: chunk index %s", ErrBadRequest, QuoteInput(s))
	}
	return n, nil
}

// ParseBlobHash parses a blob hash path segment: 64 lowercase hex digits.
func ParseBlobHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("%w: blob hash must be 64 hex digits", ErrBadRequest)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil || hex.EncodeToString(h[:]) != s {
		return h, fmt.Errorf("%w: blob hash must be lowercase hex", ErrBadRequest)
	}
	return h, nil
}

// manifestCache maps the SHA-256 of a signed envelope to its verified,
// decoded manifest. Envelopes are content addressed here, so a re-published
// manifest is simply a new entry; the map is dropped when it reaches max.
type manifestCache struct {
	mu  sync.RWMutex
	max int
	m   map[[32]byte]*model.Manifest
}

func newManifestCache(max int) *manifestCache {
	return &manifestCache{max: max, m: make(map[[32]byte]*model.Manifest)}
}

func (mc *manifestCache) get(h [32]byte) *model.Manifest {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	return mc.m[h]
}

func (mc *manifestCache) put(h [32]byte, m *model.Manifest) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if len(mc.m) >= mc.max {
		clear(mc.m)
	}
	mc.m[h] = m
}

// streamManifest returns the signed envelope of (track, tier), its SHA-256
// and the decoded manifest. The manifest is shared: do not modify it.
func (s *Server) streamManifest(ctx context.Context, c echo.Context) ([]byte, [32]byte, *model.Manifest, error) {
	tier, err := parseTier(c)
	if err != nil {
		return nil, [32]byte{}, nil, err
	}
	id := model.TrackID(c.Param("track"))
	env, err := s.cat.Manifest(ctx, id, tier)
	if err != nil {
		return nil, [32]byte{}, nil, err
	}
	h, m, err := s.cachedManifest(env)
	if err != nil {
		return nil, h, nil, fmt.Errorf("open manifest %s/%s: %w", id, tier, err)
	}
	return env, h, m, nil
}

// cachedManifest returns the SHA-256 of the signed envelope env and its
// verified manifest, from the manifest cache when it holds it. The
// manifest is shared: do not modify it.
func (s *Server) cachedManifest(env []byte) ([32]byte, *model.Manifest, error) {
	h := sha256.Sum256(env)
	if m := s.mans.get(h); m != nil {
		return h, m, nil
	}
	m, err := s.openManifest(env)
	if err != nil {
		return h, nil, err
	}
	s.mans.put(h, m)
	return h, m, nil
}

// manifestBlobSize returns the size of blob h as a published manifest
// lists it (the streams the catalog's aud/ref/ index names for h), or 0
// when no manifest does: a blob no stream references (replaced by a
// re-publication, not yet published) or none at all.
func (s *Server) manifestBlobSize(ctx context.Context, h [32]byte) (int64, error) {
	refs, err := s.cat.BlobStreams(ctx, h)
	if err != nil {
		return 0, err
	}
	for _, r := range refs {
		env, err := s.cat.Manifest(ctx, r.Track, r.Tier)
		if errors.Is(err, catalog.ErrNotFound) {
			continue // taken down since the index was read
		}
		if err != nil {
			return 0, err
		}
		_, m, err := s.cachedManifest(env)
		if err != nil {
			return 0, fmt.Errorf("open manifest %s/%s: %w", r.Track, r.Tier, err)
		}
		if m.Header.SHA256 == h {
			return m.Header.Size, nil
		}
		for _, c := range m.Chunks {
			if c.Blob.SHA256 == h {
				return c.Blob.Size, nil
			}
		}
	}
	return 0, nil
}

// storedBlobSize returns the size of blob h as its store tells it
// without reading it (catalog.BlobSize, a few bytes over at most), for a
// blob no manifest lists; 0 when the store cannot tell (the read then
// reserves the largest a blob may be), ErrNotFound when it is not stored.
func (s *Server) storedBlobSize(ctx context.Context, h [32]byte) (int64, error) {
	n, err := s.cat.BlobSize(ctx, h)
	if errors.Is(err, blobstore.ErrNoSize) {
		return 0, nil
	}
	return n, err
}

// manifest handles GET/HEAD /v1/audio/:track/:tier/manifest.
func (s *Server) manifest(c echo.Context) error {
	env, h, _, err := s.streamManifest(c.Request().Context(), c)
	if err != nil {
		return err
	}
	return serveBytes(c, env, h, "application/cbor", CachePositional)
}

// header handles GET/HEAD /v1/audio/:track/:tier/header.
func (s *Server) header(c echo.Context) error {
	ctx := c.Request().Context()
	_, _, m, err := s.streamManifest(ctx, c)
	if err != nil {
		return err
	}
	rec := access.Record{Kind: access.KindHeader, Track: m.TrackID, Tier: m.Tier, Blob: m.Header.SHA256}
	return s.serveBlob(c, m.Header.SHA256, m.Header.Size, CachePositional, rec)
}

// chunk handles GET/HEAD /v1/audio/:track/:tier/chunks/:i.
func (s *Server) chunk(c echo.Context) error {
	i, err := ParseChunkIndex(c.Param("i"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	_, _, m, err := s.streamManifest(ctx, c)
	if err != nil {
		return err
	}
	if i >= len(m.Chunks) {
		return fmt.Errorf("%w: chunk %d of %d", ErrNotFound, i, len(m.Chunks))
	}
	h := m.Chunks[i].Blob.SHA256
	rec := access.Record{Kind: access.KindChunk, Track: m.TrackID, Tier: m.Tier, First: uint32(i), Last: uint32(i), Blob: h}
	return s.serveBlob(c, h, m.Chunks[i].Blob.Size, CachePositional, rec)
}

// blob handles GET/HEAD /v1/blobs/:hash.
func (s *Server) blob(c echo.Context) error {
	h, err := ParseBlobHash(c.Param("hash"))
	if err != nil {
		return err
	}
	return s.serveBlob(c, h, 0, CacheImmutable, access.Record{Kind: access.KindBlob, Blob: h})
}

// serveBlob serves the blob h, of size bytes when known (> 0), under the
// blob memory budget (WithBlobMemory) and its client's share of it
// (WithBlobMemoryPerClient), and records the access rec (see
// recordAccess) once the answer is sent.
func (s *Server) serveBlob(c echo.Context, h [32]byte, size int64, cache string, rec access.Record) error {
	ctx := c.Request().Context()
	client := blobClient(c)
	if size <= 0 {
		size = s.blobMem.knownSize(h)
	}
	if size <= 0 {
		var err error
		if size, err = s.manifestBlobSize(ctx, h); err != nil {
			return err
		}
	}
	if size <= 0 {
		var err error
		if size, err = s.storedBlobSize(ctx, h); err != nil {
			return err
		}
	}
	held, err := s.blobMem.reserve(ctx, client, size)
	if err != nil {
		return err
	}
	b, err := s.readBlob(ctx, h)
	if err != nil {
		s.blobMem.release(client, held)
		return err
	}
	if !s.blobMem.settle(client, h, held, int64(len(b))) {
		return retryLater(ErrBusy, blobRetry, "blob memory: no room for %d bytes", len(b))
	}
	defer s.blobMem.release(client, int64(len(b)))
	// A writer without deadlines (ErrNotSupported) is no client's
	// connection: nothing to bound.
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(s.opts.sendDeadline(len(b)))
	if err := serveBytes(c, b, h, "application/octet-stream", cache); err != nil {
		return err
	}
	s.recordAccess(c, rec)
	return nil
}

// serveBytes serves b with http.ServeContent (Range, If-Range, HEAD,
// If-None-Match → 304, 416), at most MaxRanges ranges, merged, a Range
// of another unit or not valid ignored (LimitRanges), the strong ETag
// "<hex h>" and cache. Errors
// ServeContent produces (416, 412) get the JSON error body and no-store.
func serveBytes(c echo.Context, b []byte, h [32]byte, contentType, cache string) error {
	if err := LimitRanges(c.Request(), int64(len(b))); err != nil {
		c.Response().Header().Set("Content-Range", "bytes */"+strconv.Itoa(len(b)))
		return err
	}
	hdr := c.Response().Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("ETag", `"`+hex.EncodeToString(h[:])+`"`)
	hdr.Set("Cache-Control", cache)
	hdr.Set("Accept-Ranges", "bytes")
	w := &jsonErrorWriter{ResponseWriter: c.Response(), head: c.Request().Method == http.MethodHead}
	http.ServeContent(w, c.Request(), "", time.Time{}, bytes.NewReader(b))
	return nil
}

// jsonErrorWriter turns the plain-text error bodies http.ServeContent
// writes (http.Error) into the relay's JSON error body, and makes error
// responses uncacheable.
type jsonErrorWriter struct {
	http.ResponseWriter
	head    bool
	errCode int
	msg     []byte
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.errCode = code
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Del("ETag")
	w.ResponseWriter.WriteHeader(code)
}

func (w *jsonErrorWriter) Write(p []byte) (int, error) {
	if w.errCode == 0 {
		return w.ResponseWriter.Write(p)
	}
	if w.head || w.msg != nil {
		return len(p), nil
	}
	w.msg = bytes.TrimSpace(p)
	body, err := json.Marshal(api.ErrorBody{Error: string(w.msg)})
	if err != nil {
		return 0, err
	}
	if _, err := w.ResponseWriter.Write(append(body, '\n')); err != nil {
		return 0, err
	}
	return len(p), nil
}
