package core

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// Recommendations asks the relay for the user's service playlists
// (Discover Weekly, Daily Mixes, Release Radar): their document ids,
// which the library follows, so Docs sync brings their content and
// Playlists.Get reads it like any playlist (edits are refused with
// docs.ErrReadOnly).
func (e *Engine) Recommendations(ctx context.Context) (api.Recommendations, error) {
	var out api.Recommendations
	if err := e.gatedCall(ctx, http.MethodGet, "/v1/recommendations", nil, &out); err != nil {
		return api.Recommendations{}, fmt.Errorf("core: recommendations: %w", err)
	}
	return out, nil
}

// SetRecommendationsTimeZone sets the IANA time zone ("Europe/Berlin")
// the user's Discover Weekly (Monday 00:00), Daily Mixes and Release
// Radar (Friday 00:00) follow on the relay.
func (e *Engine) SetRecommendationsTimeZone(ctx context.Context, tz string) error {
	if err := e.gatedCall(ctx, http.MethodPut, "/v1/recommendations/timezone", api.TimeZoneRequest{TimeZone: tz}, noContent); err != nil {
		return fmt.Errorf("core: set time zone: %w", err)
	}
	return nil
}

// SimilarTracks asks the relay for up to limit tracks similar to id,
// owned by the caller.
func (e *Engine) SimilarTracks(ctx context.Context, id model.TrackID, limit int) ([]model.TrackID, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("core: similar tracks: %w", err)
	}
	var out api.SimilarTracks
	path := "/v1/tracks/" + url.PathEscape(string(id)) + "/similar?limit=" + strconv.Itoa(limit)
	if err := e.gatedCall(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, fmt.Errorf("core: similar tracks: %w", err)
	}
	ids := make([]model.TrackID, len(out.Similar))
	for i, s := range out.Similar {
		ids[i] = model.TrackID(s)
	}
	return ids, nil
}
