package social

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/sync/docs"
)

// item is what a share link shows: every string may come from a user
// (playlist names, display names) and is escaped where it is written.
type item struct {
	Kind     string        // track, album, playlist
	Title    string        // track, album or playlist name
	Subtitle string        // artists, or "Playlist by <name>"
	Detail   string        // album of a track, track count
	Seed     string        // the generated cover's seed
	Track    model.TrackID // whose waveform the card draws ("" none)
	Invite   bool
}

// maxShownRunes bounds each text of a share's page and preview: a
// playlist's name has no length limit, and the public page repeats it in
// eight places.
const maxShownRunes = 300

// clip returns a playlist's name as its share page and preview show it:
// each character safetext.Check refuses (control, bidirectional
// formatting) written as \uXXXX, as segue playlist and the web player
// show such a name (neither the relay nor a foreign client's writes
// filter it, and a U+202E would reverse what is drawn after it), cut to
// maxShownRunes runes, ending with "…" when cut.
func clip(s string) string {
	if safetext.Check(s) != nil {
		var b strings.Builder
		for _, r := range s {
			if safetext.Check(string(r)) != nil {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	if head, cut := firstRunes(s, maxShownRunes); cut {
		return head + "…"
	}
	return s
}

// describe resolves a share's item. A playlist or catalog item that is
// gone is ErrNoShare.
func (s *Service) describe(ctx context.Context, rec shareRecord) (item, error) {
	it := item{Kind: rec.Kind, Seed: rec.Kind + ":" + rec.ID, Invite: rec.Invite}
	switch rec.Kind {
	case api.ShareTrack:
		t, err := s.cat.Track(ctx, model.TrackID(rec.ID))
		if err != nil {
			return it, errors.Join(ErrNoShare, err)
		}
		it.Title, it.Subtitle, it.Track, it.Seed = t.Title, s.artistNames(ctx, t.ArtistIDs), t.ID, "album:"+string(t.AlbumID)
		if al, err := s.cat.Album(ctx, t.AlbumID); err == nil {
			it.Detail = al.Title
		}
	case api.ShareAlbum:
		al, err := s.cat.Album(ctx, model.AlbumID(rec.ID))
		if err != nil {
			return it, errors.Join(ErrNoShare, err)
		}
		it.Title, it.Subtitle = al.Title, s.artistNames(ctx, al.ArtistIDs)
		it.Detail = fmt.Sprintf("Album · %d tracks", len(al.TrackIDs))
		if len(al.TrackIDs) > 0 {
			it.Track = al.TrackIDs[0]
		}
	case api.SharePlaylist:
		id, info, err := s.sharedPlaylist(ctx, rec)
		if err != nil {
			return it, err
		}
		p, err := s.readProfile(ctx, info.Owner)
		if err != nil {
			return it, err
		}
		it.Title = clip(cmp.Or(info.Name, "Untitled playlist"))
		it.Subtitle = "Playlist by " + cmp.Or(p.DisplayName, string(info.Owner))
		h, err := s.docs.Get(ctx, id)
		if err != nil {
			return it, err
		}
		err = h.ReadPlaylist(func(pl *docs.Playlist) error {
			es, err := pl.Entries()
			if err != nil {
				return err
			}
			it.Detail = fmt.Sprintf("Playlist · %d tracks", len(es))
			if len(es) > 0 {
				it.Track = es[0].Track
			}
			return nil
		})
		if err != nil {
			return it, err
		}
	default:
		return it, ErrNoShare
	}
	return it, nil
}

// pageData is what the share page template renders.
type pageData struct {
	item
	OGType   string
	URL      string
	ImageURL string
	PlayURL  string
	Desc     string
}

// pageTmpl is the share page. html/template escapes every value in its
// context (text, attribute, URL), so a playlist named "<script>" is text.
var pageTmpl = template.Must(template.New("share").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Segue</title>
<meta name="description" content="{{.Desc}}">
<meta property="og:site_name" content="Segue">
<meta property="og:type" content="{{.OGType}}">
<meta property="og:title" content="{{.Title}}">
<meta property="og:description" content="{{.Desc}}">
<meta property="og:url" content="{{.URL}}">
<meta property="og:image" content="{{.ImageURL}}">
<meta property="og:image:type" content="image/png">
<meta property="og:image:width" content="1200">
<meta property="og:image:height" content="630">
<meta property="og:image:alt" content="{{.Title}} — {{.Subtitle}}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="{{.Title}}">
<meta name="twitter:description" content="{{.Desc}}">
<meta name="twitter:image" content="{{.ImageURL}}">
<style>body{font-family:system-ui,sans-serif;background:#111;color:#eee;margin:0;padding:2rem;max-width:48rem}img{max-width:100%;border-radius:8px}h1{margin:.5rem 0}p{color:#aaa}</style>
</head>
<body>
<img src="{{.ImageURL}}" width="1200" height="630" alt="{{.Title}} — {{.Subtitle}}">
<h1 id="title">{{.Title}}</h1>
<p id="subtitle">{{.Subtitle}}</p>
{{if .Detail}}<p id="detail">{{.Detail}}</p>{{end}}
{{if .Invite}}<p id="invite">You are invited to edit this playlist. Accept in the Segue app.</p>{{end}}
<p><a id="play" href="{{.PlayURL}}">Play on Segue</a> (a preview without an account)</p>
</body>
</html>
`))

// notFoundPage is the body of a share page that does not exist.
const notFoundPage = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · Segue</title></head><body><h1>This link does not exist or was revoked.</h1></body></html>\n"

// setPageHeaders sets the headers of every share page and card answer:
// nothing may run or load from elsewhere, no referrer (the URL is the
// secret), and caches revalidate (a revoked link 404s at once).
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// pageH serves GET /s/{token} (the page) and /s/{token}.png (the card).
func (s *Service) pageH(c echo.Context) error {
	ctx := c.Request().Context()
	tok, png := strings.CutSuffix(c.Param("token"), ".png")
	setPageHeaders(c.Response().Header())
	rec, err := s.share(ctx, tok)
	var it item
	if err == nil {
		it, err = s.describe(ctx, rec)
	}
	if errors.Is(err, ErrNoShare) {
		if png {
			return c.NoContent(http.StatusNotFound)
		}
		return c.HTMLBlob(http.StatusNotFound, []byte(notFoundPage))
	}
	if err != nil {
		return err
	}
	if png {
		b, err := s.card(ctx, it)
		if errors.Is(err, ErrCardBusy) {
			c.Response().Header().Set("Retry-After", "1")
			return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
		}
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "image/png", b)
	}
	url := s.baseURL(c) + "/s/" + tok
	d := pageData{item: it, OGType: "music.song", URL: url, ImageURL: url + ".png", PlayURL: s.baseURL(c) + "/#/s/" + tok,
		Desc: strings.TrimSpace(strings.Join([]string{it.Subtitle, it.Detail}, " · "))}
	switch it.Kind {
	case api.ShareAlbum:
		d.OGType = "music.album"
	case api.SharePlaylist:
		d.OGType = "music.playlist"
	}
	d.Desc = strings.Trim(d.Desc, " ·")
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, d); err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}
