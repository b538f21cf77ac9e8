package search

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	core "github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/server/relay"
)

// HTTP limits of GET /v1/search.
const (
	// DefaultLimit is the page size without a limit parameter.
	DefaultLimit = 20
	// MaxLimit is the largest page size.
	MaxLimit = 50
	// MaxOffset is the largest offset: deeper pages are refused.
	MaxOffset = 1000
)

// Server serves GET /v1/search over an Index.
type Server struct{ ix *Index }

// NewServer returns a server over ix.
func NewServer(ix *Index) *Server { return &Server{ix: ix} }

// Mount registers the search route on r (call before serving):
//
//	GET /v1/search?q=&types=track,album,artist&limit=&offset=   (device token)
func (s *Server) Mount(r *relay.Server) {
	r.Mount(func(v1 *echo.Group) { v1.GET("/search", s.search) })
}

// ResultJSON is one result of GET /v1/search. Highlights are UTF-8 byte
// ranges into the named field (for artists, into Artists[Index]).
type ResultJSON struct {
	Kind    Kind     `json:"kind"`
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Artists []string `json:"artists,omitempty"`
	Album   string   `json:"album,omitempty"`
	// Audio is the catalog track to play for a track result ("" while
	// an imported track has no audio yet).
	Audio      string          `json:"audio_id,omitempty"`
	Highlights []HighlightJSON `json:"highlights"`
}

// HighlightJSON is a matched range of a result's field.
type HighlightJSON struct {
	Field string `json:"field"` // title, artists or album
	Index int    `json:"index,omitempty"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// ResponseJSON is the body of GET /v1/search.
type ResponseJSON struct {
	Query   string       `json:"query"`
	Total   int          `json:"total"`
	Offset  int          `json:"offset"`
	Limit   int          `json:"limit"`
	Results []ResultJSON `json:"results"`
}

func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s %q: want an integer from %d to %d", relay.ErrBadRequest, name, v, lo, hi)
	}
	return n, nil
}

// searchableKinds are the kinds GET /v1/search serves. Playlists are not
// indexed yet (their visibility, public or the caller's own, is not
// modelled in the index), so types=playlist is refused.
var searchableKinds = []Kind{KindTrack, KindAlbum, KindArtist}

func (s *Server) search(c echo.Context) error {
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
			if !Kind(k).Valid() || Kind(k) == KindPlaylist {
				return fmt.Errorf("%w: types: %q is not one of track, album, artist", relay.ErrBadRequest, k)
			}
			kinds = append(kinds, Kind(k))
		}
	}
	hits, total, err := s.ix.Search(Request{Query: q, Kinds: kinds, Limit: limit, Offset: offset})
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	resp := ResponseJSON{Query: c.QueryParam("q"), Total: total, Offset: offset, Limit: limit, Results: []ResultJSON{}}
	for _, h := range hits {
		r := ResultJSON{Kind: h.Entry.Kind, ID: h.Entry.ID, Title: h.Entry.Title, Artists: h.Entry.Artists, Album: h.Entry.Album, Audio: h.Entry.Audio, Highlights: []HighlightJSON{}}
		for _, hl := range h.Result.Highlights {
			r.Highlights = append(r.Highlights, fieldOf(h.Entry, hl))
		}
		resp.Results = append(resp.Results, r)
	}
	return c.JSON(http.StatusOK, resp)
}

// fieldOf names the field of e a highlight is in (Entry.Document's
// order: title, artists, album).
func fieldOf(e Entry, hl core.Highlight) HighlightJSON {
	out := HighlightJSON{Start: hl.Start, End: hl.End}
	switch {
	case hl.Field == 0:
		out.Field = "title"
	case hl.Field <= len(e.Artists):
		out.Field, out.Index = "artists", hl.Field-1
	default:
		out.Field = "album"
	}
	return out
}
