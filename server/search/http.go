package search

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	core "github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/internal/userlimit"
	"github.com/segue-fm/segue/server/relay"
)

// HTTP limits of GET /v1/search (core/api's).
const (
	// DefaultLimit is the page size without a limit parameter.
	DefaultLimit = api.SearchDefaultLimit
	// MaxLimit is the largest page size.
	MaxLimit = api.SearchMaxLimit
	// MaxOffset is the largest offset: deeper pages are refused.
	MaxOffset = api.SearchMaxOffset
)

// Per-user request rate of GET /v1/search: a token every RateEvery, up
// to RateBurst at once, and 429 with Retry-After beyond (checked before
// the query is parsed). A page types one search per keystroke; without a
// bound one user's parallel requests took both cores of a 2-core relay
// (1,000 eight-word searches at offset 1000 over 50,000 tracks, 32 at a
// time: 18 CPU-seconds).
const (
	RateEvery = 100 * time.Millisecond
	RateBurst = 30
	// rateUsers bounds the users whose buckets are kept.
	rateUsers = 100_000
)

// Server serves GET /v1/search over an Index.
type Server struct {
	ix  *Index
	lim *userlimit.Limiter
	now func() time.Time
}

// NewServer returns a server over ix.
func NewServer(ix *Index) *Server {
	return &Server{ix: ix, lim: userlimit.New(RateEvery, RateBurst, rateUsers), now: time.Now}
}

// Mount registers the search route on r (call before serving):
//
//	GET /v1/search?q=&types=track,album,artist,playlist&limit=&offset=   (device token, RateEvery/RateBurst per user)
func (s *Server) Mount(r *relay.Server) {
	r.Mount(func(v1 *relay.DeviceRoutes) { v1.GET("/search", s.search) })
}

// The body of GET /v1/search, defined in core/api for both ends.
type (
	// ResultJSON is api.SearchResult.
	ResultJSON = api.SearchResult
	// HighlightJSON is api.SearchHighlight.
	HighlightJSON = api.SearchHighlight
	// ResponseJSON is api.SearchResponse.
	ResponseJSON = api.SearchResponse
)

func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s %s: want an integer from %d to %d", relay.ErrBadRequest, name, relay.QuoteInput(v), lo, hi)
	}
	return n, nil
}

// searchableKinds are the kinds GET /v1/search serves (all by default).
var searchableKinds = []Kind{KindTrack, KindAlbum, KindArtist, KindPlaylist}

func (s *Server) search(c echo.Context) error {
	dev, ok := relay.DeviceFrom(c)
	if !ok || dev.User == "" {
		return relay.ErrUnauthorized
	}
	if ok, d := s.lim.Allow(string(dev.User), s.now()); !ok {
		secs := max(int((d+time.Second-1)/time.Second), 1)
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return echo.NewHTTPError(http.StatusTooManyRequests, fmt.Sprintf("search: too many searches, retry in %d s", secs))
	}
	q, err := core.ParseQuery(c.QueryParam("q"))
	if err != nil {
		return fmt.Errorf("%w: q: %v", relay.ErrBadRequest, err)
	}
	limit, err := intParam(c, "limit", DefaultLimit, 1, MaxLimit)
	if err != nil {
		return err
	}
	offset, err := intParam(c, "offset", 0, 0, MaxOffset)
	if err != nil {
		return err
	}
	kinds := searchableKinds
	if t := c.QueryParam("types"); t != "" {
		kinds = nil
		for _, k := range strings.Split(t, ",") {
			if !Kind(k).Valid() {
				return fmt.Errorf("%w: types: %s is not one of track, album, artist, playlist", relay.ErrBadRequest, relay.QuoteInput(k))
			}
			kinds = append(kinds, Kind(k))
		}
	}
	hits, total, err := s.ix.Search(Request{Query: q, Kinds: kinds, Limit: limit, Offset: offset, Viewer: string(dev.User)})
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	resp := ResponseJSON{Query: c.QueryParam("q"), Total: total, Offset: offset, Limit: limit, Results: []ResultJSON{}}
	for _, h := range hits {
		resp.Results = append(resp.Results, h.JSON())
	}
	return c.JSON(http.StatusOK, resp)
}
