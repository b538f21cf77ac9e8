package relayrecs

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/relay"
)

// Request limits.
const (
	// maxBody bounds the JSON bodies of the recommendation routes.
	maxBody = 1 << 10
	// MaxSimilar is the largest limit of GET /v1/tracks/{id}/similar.
	MaxSimilar = 100
	// defaultSimilar is its limit when none is given.
	defaultSimilar = 20
	// maxTrackID bounds a track id in a path.
	maxTrackID = 128
	// SimilarRateEvery and SimilarRateBurst are each user's request rate
	// of GET /v1/tracks/{id}/similar, whose every answer scores the whole
	// catalog: a token every SimilarRateEvery, up to SimilarRateBurst at
	// once (Smart Shuffle asks 3 per playlist), then 429 with
	// Retry-After.
	SimilarRateEvery = 500 * time.Millisecond
	SimilarRateBurst = 20
	// similarRateUsers bounds the users whose buckets are kept.
	similarRateUsers = 100_000
)

// ErrTooManySimilar is a user over SimilarRateEvery/SimilarRateBurst (429).
var ErrTooManySimilar = fmt.Errorf("relayrecs: too many similar-tracks requests: %w", relay.ErrTooManyRequests)

// Mount registers the recommendation routes on r (call before serving):
//
//	GET  /v1/recommendations            the caller's service playlists (device token)
//	PUT  /v1/recommendations/timezone   the caller's schedule time zone (device token)
//	GET  /v1/tracks/{id}/similar?limit= similar tracks (device token, SimilarRateEvery/SimilarRateBurst per user)
//	POST /v1/admin/recs/run             Discover Weekly for an ISO week (admin token)
//
// The user always comes from the device token: there is no way to name
// another user, so a listener sees only their own playlists.
func (s *Service) Mount(r *relay.Server) {
	r.Mount(func(v1 *relay.DeviceRoutes) {
		v1.GET("/recommendations", s.recommendations)
		v1.PUT("/recommendations/timezone", s.setTimeZone)
		v1.GET("/tracks/:id/similar", s.similar)
	})
	r.Echo().POST("/v1/admin/recs/run", s.adminRun, r.AdminOnly())
}

func (s *Service) recommendations(c echo.Context) error {
	ctx := c.Request().Context()
	dev, _ := relay.DeviceFrom(c)
	loc, err := s.TimeZone(ctx, dev.User)
	if errors.Is(err, ErrBadTimeZone) {
		loc = time.UTC // a stored name this host cannot load: the scheduler uses UTC too
	} else if err != nil {
		return err
	}
	ps, err := s.Playlists(ctx, dev.User)
	if err != nil {
		return err
	}
	out := api.Recommendations{TimeZone: loc.String(), Playlists: make([]api.ServicePlaylist, len(ps))}
	for i, p := range ps {
		out.Playlists[i] = api.ServicePlaylist{Kind: p.Kind, Doc: p.Doc.String(), Period: p.Period, Followed: p.Followed}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Service) setTimeZone(c echo.Context) error {
	dev, _ := relay.DeviceFrom(c)
	var req api.TimeZoneRequest
	if err := relay.DecodeJSON(c, maxBody, &req); err != nil {
		return err
	}
	if err := s.SetTimeZone(c.Request().Context(), dev.User, req.TimeZone); err != nil {
		if errors.Is(err, ErrBadTimeZone) {
			return fmt.Errorf("%w: %v", relay.ErrBadRequest, err)
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Service) similar(c echo.Context) error {
	dev, _ := relay.DeviceFrom(c)
	if ok, d := s.similarLim.Allow(string(dev.User), s.opts.now()); !ok {
		secs := max(int((d+time.Second-1)/time.Second), 1)
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return fmt.Errorf("%w: retry in %d s", ErrTooManySimilar, secs)
	}
	id := c.Param("id")
	if id == "" || len(id) > maxTrackID {
		return fmt.Errorf("%w: track id", relay.ErrBadRequest)
	}
	n := defaultSimilar
	if v := c.QueryParam("limit"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > MaxSimilar {
			return fmt.Errorf("%w: limit must be 1..%d", relay.ErrBadRequest, MaxSimilar)
		}
	}
	tracks, err := s.Similar(c.Request().Context(), model.TrackID(id), n)
	if errors.Is(err, ErrNoModel) {
		return fmt.Errorf("%w: %w", relay.ErrBusy, err)
	}
	if err != nil {
		return err
	}
	out := api.SimilarTracks{Track: id, Similar: make([]string, len(tracks))}
	for i, t := range tracks {
		out.Similar[i] = string(t)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Service) adminRun(c echo.Context) error {
	var req api.RecsRunRequest
	if err := relay.DecodeJSON(c, maxBody, &req); err != nil {
		return err
	}
	res, err := s.RunWeek(c.Request().Context(), req.Week)
	if errors.Is(err, ErrBadWeek) || errors.Is(err, ErrFutureWeek) {
		return fmt.Errorf("%w: %v", relay.ErrBadRequest, err)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.RecsRunResponse{Week: req.Week, Delivered: res.Delivered, Skipped: res.Skipped, Failed: res.Failed})
}
