package relay

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// The catalog metadata routes (GET /v1/tracks/{id}, /v1/albums/{id},
// /v1/artists/{id}) answer from a cache of encoded responses
// (docs/ARCHITECTURE.md §4): the JSON body, its strong ETag and header
// values, built once per catalog generation. A hit costs a hash, a cache
// lookup and the write; it reads nothing from the store and encodes
// nothing. Entries carry the catalog generation read before the catalog
// was: any Publish makes every older entry a miss.

// metaCacheBytes bounds the bytes of the encoded responses the cache keeps
// (the body plus metaEntryOverhead each); W-TinyLFU admission decides
// which ones when the catalog does not fit.
const metaCacheBytes = 64 << 20

// metaCacheCounters is the number of TinyLFU frequency counters: ten per
// entry of a catalog of ~100,000 cached responses, as ristretto advises.
const metaCacheCounters = 1_000_000

// metaEntryOverhead is the cost charged for an entry besides its body.
const metaEntryOverhead = 256

// metaKind is the route of a cached metadata response.
type metaKind uint8

const (
	metaTrack metaKind = iota
	metaAlbum
	metaArtist
)

// Header values shared by every cached response. net/http only reads
// them; nobody may modify them.
var (
	hdrJSON         = []string{echo.MIMEApplicationJSON}
	hdrCacheControl = []string{"private, no-cache"}
)

// metaEntry is one encoded response. It is immutable once cached.
type metaEntry struct {
	kind metaKind
	id   string
	gen  uint64
	body []byte
	etag string
	// hdrETag and hdrLen are the ETag and Content-Length header values,
	// shared by every response served from the entry.
	hdrETag, hdrLen []string
}

// metaCache is the relay's cache of metadata responses.
type metaCache struct {
	c    *ristretto.Cache[uint64, *metaEntry]
	seed maphash.Seed
	gen  func() uint64 // the catalog's generation
}

// newMetaCache returns a cache of at most maxBytes (> 0) whose entries
// are valid while gen returns the value it returned before they were
// loaded. Close it to stop its goroutines.
func newMetaCache(maxBytes int64, gen func() uint64) *metaCache {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *metaEntry]{
		NumCounters:        metaCacheCounters,
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		panic("relay: metadata cache: " + err.Error()) // only for counters, cost or buffer ≤ 0
	}
	return &metaCache{c: c, seed: maphash.MakeSeed(), gen: gen}
}

// key hashes a kind and an id. Colliding keys are told apart by the
// entry's kind and id.
func (m *metaCache) key(k metaKind, id string) uint64 {
	return maphash.String(m.seed, id)*3 + uint64(k)
}

// get returns the current entry of (k, id), or nil.
func (m *metaCache) get(k metaKind, id string) *metaEntry {
	e, ok := m.c.Get(m.key(k, id))
	if !ok || e.kind != k || e.id != id || e.gen != m.gen() {
		return nil
	}
	return e
}

// put encodes v as the response of (k, id), loaded from the catalog at
// generation gen (read before the catalog was), and caches it; the cache
// may decline to keep it.
func (m *metaCache) put(k metaKind, id string, gen uint64, v any) (*metaEntry, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", id, err)
	}
	body = append(body, '\n') // as echo's Context.JSON writes it
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	e := &metaEntry{kind: k, id: strings.Clone(id), gen: gen, body: body, etag: etag,
		hdrETag: []string{etag}, hdrLen: []string{strconv.Itoa(len(body))}}
	m.c.Set(m.key(k, id), e, int64(len(body)+len(id)+metaEntryOverhead))
	return e, nil
}

// close stops the cache's goroutines.
func (m *metaCache) close() { m.c.Close() }

// serveMeta answers a metadata request for (k, id) from the cache, loading
// and caching the response with load on a miss.
func (s *Server) serveMeta(c echo.Context, k metaKind, load func(ctx context.Context, id string) (any, error)) error {
	id := c.Param("id")
	e := s.meta.get(k, id)
	if e == nil {
		gen := s.meta.gen()
		v, err := load(c.Request().Context(), id)
		if err != nil {
			return err
		}
		if e, err = s.meta.put(k, id, gen, v); err != nil {
			return err
		}
	}
	return writeMeta(c, e)
}

// writeMeta writes e, or 304 Not Modified when the request's
// If-None-Match names its ETag.
func writeMeta(c echo.Context, e *metaEntry) error {
	res := c.Response()
	h := res.Header()
	h["Etag"] = e.hdrETag
	h["Cache-Control"] = hdrCacheControl
	if inm, ok := c.Request().Header["If-None-Match"]; ok && etagMatch(inm, e.etag) {
		res.WriteHeader(http.StatusNotModified)
		return nil
	}
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = e.hdrLen
	res.WriteHeader(http.StatusOK)
	_, err := res.Write(e.body)
	return err
}

// etagMatch reports whether the If-None-Match header values vals name
// etag, with the weak comparison RFC 9110 §13.1.2 prescribes (a W/ prefix
// is ignored) or are "*".
func etagMatch(vals []string, etag string) bool {
	for _, v := range vals {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			tok = strings.TrimSpace(tok)
			if tok == "*" || strings.TrimPrefix(tok, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// loadTrack, loadAlbum and loadArtist read a metadata response's value
// from the catalog.

func (s *Server) loadTrack(ctx context.Context, id string) (any, error) {
	return s.cat.Track(ctx, model.TrackID(id))
}

func (s *Server) loadAlbum(ctx context.Context, id string) (any, error) {
	a, err := s.cat.Album(ctx, model.AlbumID(id))
	if err != nil {
		return nil, err
	}
	resp := api.AlbumResponse{Album: a, Tracks: make([]model.Track, 0, len(a.TrackIDs))}
	for _, tid := range a.TrackIDs {
		t, err := s.cat.Track(ctx, tid)
		if err != nil {
			return nil, fmt.Errorf("read track %s of album %s: %w", tid, a.ID, err)
		}
		resp.Tracks = append(resp.Tracks, t)
	}
	return resp, nil
}

func (s *Server) loadArtist(ctx context.Context, id string) (any, error) {
	a, err := s.cat.Artist(ctx, model.ArtistID(id))
	if err != nil {
		return nil, err
	}
	albums, err := s.cat.ArtistAlbums(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if albums == nil {
		albums = []model.Album{}
	}
	return artistResponse{Artist: a, Albums: albums}, nil
}
