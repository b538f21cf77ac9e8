package ingest

import (
	"context"
	"fmt"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
)

// Summarize reports res as the admin ingest answer: its tracks in request
// order and their distinct albums in order of first appearance, with the
// album titles read from cat.
func Summarize(ctx context.Context, cat *catalog.Catalog, res Result) (api.IngestResponse, error) {
	out := api.IngestResponse{Albums: []api.IngestedAlbum{}, Tracks: make([]api.IngestedTrack, 0, len(res.Tracks))}
	seen := map[model.AlbumID]bool{}
	for _, t := range res.Tracks {
		out.Tracks = append(out.Tracks, api.IngestedTrack{ID: t.ID, Album: t.Track.AlbumID, Title: t.Track.Title, File: t.File, Skipped: t.Skipped})
		if seen[t.Track.AlbumID] {
			continue
		}
		seen[t.Track.AlbumID] = true
		a, err := cat.Album(ctx, t.Track.AlbumID)
		if err != nil {
			return api.IngestResponse{}, fmt.Errorf("ingest: read album %s: %w", t.Track.AlbumID, err)
		}
		out.Albums = append(out.Albums, api.IngestedAlbum{ID: a.ID, Title: a.Title})
	}
	return out, nil
}
