package relay

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
)

// Release schedule limits: how far back GET /v1/releases looks (albums
// released within it are still listed, so an edge that pre-positions
// keeps them through the first plays), and how many albums it lists.
const (
	releaseLookBack = 24 * time.Hour
	maxReleases     = 1000
)

// releases handles GET /v1/releases (→ api.ReleaseSchedule): the albums
// whose embargo ends after the relay's now minus a day, soonest first, at
// most 1000. Any device token may read it: it names album and track ids
// and times, never a key; the embargo itself is enforced where keys and
// licenses are issued (catalog.ContentKeyAt).
func (s *Server) releases(c echo.Context) error {
	now := s.now().UTC()
	albums, err := s.cat.Releases(c.Request().Context(), now.Add(-releaseLookBack), maxReleases)
	if err != nil {
		return err
	}
	out := api.ReleaseSchedule{ServerTime: now, Releases: make([]api.ScheduledRelease, 0, len(albums))}
	for _, a := range albums {
		out.Releases = append(out.Releases, api.ScheduledRelease{
			Album: a.ID, ReleaseAt: time.Unix(a.ReleaseAt, 0).UTC(), Tracks: a.TrackIDs,
		})
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}
