package search

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/model"
	core "github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/server/catalog"
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
	Kind       Kind            `json:"kind"`
	ID         string          `json:"id"`
	Title      string          `json:"title"`
	Artists    []string        `json:"artists,omitempty"`
	Album      string          `json:"album,omitempty"`
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
		r := ResultJSON{Kind: h.Entry.Kind, ID: h.Entry.ID, Title: h.Entry.Title, Artists: h.Entry.Artists, Album: h.Entry.Album, Highlights: []HighlightJSON{}}
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

// IndexCatalog adds every published track of cat, with its album and
// artists, to ix (batches of 500 entries, each all or nothing). Entries
// already indexed are replaced.
func IndexCatalog(ctx context.Context, ix *Index, cat *catalog.Catalog) error {
	var batch []Entry
	seen := map[string]bool{}
	artistName := map[model.ArtistID]string{}
	names := func(ids []model.ArtistID) ([]string, error) {
		var out []string
		for _, id := range ids {
			n, ok := artistName[id]
			if !ok {
				a, err := cat.Artist(ctx, id)
				if err != nil {
					return nil, err
				}
				n, artistName[id] = a.Name, a.Name
				batch = append(batch, Entry{Kind: KindArtist, ID: string(id), Title: a.Name})
			}
			out = append(out, n)
		}
		return out, nil
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := ix.Upsert(ctx, batch...)
		batch = batch[:0]
		return err
	}
	err := cat.EachTrack(ctx, func(t model.Track) error {
		artists, err := names(t.ArtistIDs)
		if err != nil {
			return err
		}
		al, err := cat.Album(ctx, t.AlbumID)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
		if al.ID != "" && !seen[string(al.ID)] {
			seen[string(al.ID)] = true
			alArtists, err := names(al.ArtistIDs)
			if err != nil {
				return err
			}
			batch = append(batch, Entry{Kind: KindAlbum, ID: string(al.ID), Title: al.Title, Artists: alArtists})
		}
		batch = append(batch, Entry{Kind: KindTrack, ID: string(t.ID), Title: t.Title, Artists: artists, Album: al.Title})
		if len(batch) >= 500 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("search: index catalog: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("search: index catalog: %w", err)
	}
	return nil
}

// MountForDataDir opens the index stored in dd's store, adds dd's
// published catalog to it (IndexCatalog) and mounts GET /v1/search on r.
// It returns the index, which stays valid while dd is open.
func MountForDataDir(ctx context.Context, dd *catalog.DataDir, r *relay.Server) (*Index, error) {
	ix, err := Open(ctx, dd.Store, DefaultOptions())
	if err != nil {
		return nil, err
	}
	if err := IndexCatalog(ctx, ix, dd.Catalog); err != nil {
		return nil, err
	}
	NewServer(ix).Mount(r)
	return ix, nil
}
