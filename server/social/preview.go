package social

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/docs"
)

// maxPreviewTracks bounds the tracks a share preview lists.
const maxPreviewTracks = 100

// previewTiers are the tiers previews are cut from, first published
// first: normal quality when there is one.
var previewTiers = []model.Tier{model.TierNormal, model.TierLow, model.TierHigh, model.TierVeryHigh}

// ErrPreviewBusy: too many previews are being cut at once (503).
var ErrPreviewBusy = errors.New("social: previews busy")

var previewIndexRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,2})$`)

// setPreviewHeaders sets the headers of the preview answers: never
// cached (a revoked link stops at once; the audio is clear), no
// referrer, same-origin only.
func setPreviewHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// previewGuard applies the per-address limit and returns the share of
// the request's token.
func (s *Service) previewGuard(c echo.Context) (shareRecord, error) {
	setPreviewHeaders(c.Response().Header())
	if ok, d := s.previews.Allow(relay.ClientAddr(c.Request()), s.opts.now()); !ok {
		return shareRecord{}, tooMany(c, d, "previews")
	}
	return s.share(c.Request().Context(), c.Param("token"))
}

// Preview returns what share link token plays (api.SharePreview). A
// plain share of a private playlist is ErrNotShareable: its page shows
// the name the owner chose to share, its tracks are not played to
// anyone with the link.
func (s *Service) Preview(ctx context.Context, token string) (api.SharePreview, error) {
	rec, err := s.share(ctx, token)
	if err != nil {
		return api.SharePreview{}, err
	}
	return s.preview(ctx, rec)
}

func (s *Service) preview(ctx context.Context, rec shareRecord) (api.SharePreview, error) {
	out := api.SharePreview{Kind: rec.Kind, PreviewMS: s.opts.preview.Milliseconds()}
	var ids []model.TrackID
	switch rec.Kind {
	case api.ShareTrack:
		t, err := s.cat.Track(ctx, model.TrackID(rec.ID))
		if err != nil {
			return out, errors.Join(ErrNoShare, err)
		}
		out.ID, out.Title, out.Subtitle, ids = rec.ID, t.Title, s.artistNames(ctx, t.ArtistIDs), []model.TrackID{t.ID}
	case api.ShareAlbum:
		al, err := s.cat.Album(ctx, model.AlbumID(rec.ID))
		if err != nil {
			return out, errors.Join(ErrNoShare, err)
		}
		out.ID, out.Title, out.Subtitle, ids = rec.ID, al.Title, s.artistNames(ctx, al.ArtistIDs), al.TrackIDs
	case api.SharePlaylist:
		id, info, err := s.sharedPlaylist(ctx, rec)
		if err != nil {
			return out, err
		}
		if !info.Public {
			return out, fmt.Errorf("%w: the playlist is private", ErrNotShareable)
		}
		p, err := s.readProfile(ctx, info.Owner)
		if err != nil {
			return out, err
		}
		out.Title = clip(cmp.Or(info.Name, "Untitled playlist"))
		if p.DisplayName != "" {
			out.Subtitle = "Playlist by " + p.DisplayName
		}
		h, err := s.docs.Get(ctx, id)
		if err != nil {
			return out, err
		}
		err = h.ReadPlaylist(func(pl *docs.Playlist) error {
			es, err := pl.Entries()
			for _, e := range es {
				ids = append(ids, e.Track)
			}
			return err
		})
		if err != nil {
			return out, err
		}
	default:
		return out, ErrNoShare
	}
	out.Tracks = make([]api.PreviewTrack, 0, min(len(ids), maxPreviewTracks))
	for _, id := range ids[:min(len(ids), maxPreviewTracks)] {
		pt := api.PreviewTrack{ID: id}
		if t, err := s.cat.Track(ctx, id); err == nil {
			pt.Title, pt.Artists = t.Title, s.artistNames(ctx, t.ArtistIDs)
		}
		out.Tracks = append(out.Tracks, pt)
	}
	return out, nil
}

// PreviewAudio returns the preview rendition of track n of share link
// token (api.PreviewAudio): the first Options.WithPreview of the track
// (normal tier, else the first published), in clear. It decrypts only
// the chunks that cover the preview and hands out only the packets up
// to its last frame, so nothing beyond the preview leaves the relay and
// no content key does. The caller owns the result.
func (s *Service) PreviewAudio(ctx context.Context, token string, n int) (api.PreviewAudio, error) {
	rec, err := s.share(ctx, token)
	if err != nil {
		return api.PreviewAudio{}, err
	}
	return s.previewAudio(ctx, rec, n)
}

func (s *Service) previewAudio(ctx context.Context, rec shareRecord, n int) (api.PreviewAudio, error) {
	p, err := s.preview(ctx, rec)
	if err != nil {
		return api.PreviewAudio{}, err
	}
	if n < 0 || n >= len(p.Tracks) {
		return api.PreviewAudio{}, fmt.Errorf("%w: track %d of %d", relay.ErrNotFound, n, len(p.Tracks))
	}
	select {
	case s.previewJobs <- struct{}{}:
		defer func() { <-s.previewJobs }()
	default:
		return api.PreviewAudio{}, ErrPreviewBusy
	}
	track := p.Tracks[n].ID
	m, key, err := s.openStream(ctx, track, previewTiers...)
	if err != nil {
		return api.PreviewAudio{}, fmt.Errorf("preview of %s: %w", track, err)
	}
	limit := int64(s.opts.preview) * int64(m.SampleRate) / int64(time.Second)
	k := m.ChunkAt(min(limit, m.TotalSamples) - 1)
	stream, err := s.plainStream(ctx, m, key, k+1)
	if err != nil {
		return api.PreviewAudio{}, fmt.Errorf("preview of %s: %w", track, err)
	}
	header, audio, frames, err := cutPreview(stream, limit)
	if err != nil {
		return api.PreviewAudio{}, fmt.Errorf("preview of %s: %w", track, err)
	}
	out := api.PreviewAudio{Header: header, Audio: audio, Manifest: model.Manifest{
		Version: m.Version, TrackID: m.TrackID, Tier: m.Tier, Codec: m.Codec, SampleRate: m.SampleRate,
		Channels: m.Channels, TotalSamples: frames, Loudness: m.Loudness, Bitrate: m.Bitrate,
		Header: model.BlobRef{Size: int64(len(header)), SHA256: sha256.Sum256(header)},
		Chunks: []model.Chunk{{Index: 0, Samples: frames, Blob: model.BlobRef{Size: int64(len(audio)), SHA256: sha256.Sum256(audio)}}},
	}}
	return out, nil
}

// artistNames joins the catalog names of ids (unknown ones left out).
func (s *Service) artistNames(ctx context.Context, ids []model.ArtistID) string {
	names := make([]string, 0, len(ids))
	for _, a := range ids {
		if ar, err := s.cat.Artist(ctx, a); err == nil {
			names = append(names, ar.Name)
		}
	}
	return strings.Join(names, ", ")
}

// previewH serves GET /s/{token}/preview (no auth).
func (s *Service) previewH(c echo.Context) error {
	rec, err := s.previewGuard(c)
	if err != nil {
		return err
	}
	p, err := s.preview(c.Request().Context(), rec)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// previewAudioH serves GET /s/{token}/preview/{n} (no auth, CBOR).
func (s *Service) previewAudioH(c echo.Context) error {
	rec, err := s.previewGuard(c)
	if err != nil {
		return err
	}
	if !previewIndexRE.MatchString(c.Param("n")) {
		return fmt.Errorf("%w: track index", ErrBadShare)
	}
	n, _ := strconv.Atoi(c.Param("n"))
	a, err := s.previewAudio(c.Request().Context(), rec, n)
	if errors.Is(err, ErrPreviewBusy) {
		c.Response().Header().Set("Retry-After", "1")
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	if err != nil {
		return err
	}
	b, err := cborEnc.Marshal(a)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/cbor", b)
}
