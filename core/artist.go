package core

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/segue-fm/segue/core/model"
)

// artistAnswer is the part of GET /v1/artists/{id} that Artist reads.
type artistAnswer struct {
	Artist model.Artist `json:"artist"`
}

// Artist returns an artist's catalog record (GET /v1/artists/{id}), for
// showing names next to the ids tracks and albums carry. The errors are
// those of TrackInfo: ErrOffline when no origin answered, ErrBadResponse
// when the answer names another artist.
func (e *Engine) Artist(ctx context.Context, id model.ArtistID) (model.Artist, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return model.Artist{}, err
	}
	defer done()
	if err := checkID(id); err != nil {
		return model.Artist{}, fmt.Errorf("core: artist: %w", err)
	}
	var out artistAnswer
	if err := e.call(ctx, http.MethodGet, "/v1/artists/"+url.PathEscape(string(id)), nil, &out, true); err != nil {
		return model.Artist{}, fmt.Errorf("core: artist %s: %w", id, err)
	}
	if out.Artist.ID != id {
		return model.Artist{}, fmt.Errorf("core: artist %s: %w: answered as %q", id, ErrBadResponse, out.Artist.ID)
	}
	return out.Artist, nil
}
