package engine

import (
	"context"
	"net/http"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
)

const (
	// trackBatch is how many ids one POST /v1/tracks/batch of TrackInfos
	// names (the relay takes up to api.MaxTracksBatch; 100 keeps an
	// answer well under the engine's 1 MiB JSON bound).
	trackBatch = 100
	// trackFetches bounds TrackInfos' requests in flight: the browser
	// opens at most 6 HTTP/1.1 connections per origin, and the audio's
	// requests need some of them.
	trackFetches = 4
)

// TrackInfos is Track for many tracks at once, as core.Engine.TrackInfos:
// tracks[i] describes ids[i], or errs[i] says why there is none
// (fetch.ErrNotFound for a track the relay does not know, or an id no
// track can have, which is not sent). A repeated id is asked for once. Tracks a download recorded are answered from its
// record, the rest from the relay in batches of 100 ids (POST
// /v1/tracks/batch), 4 requests at a time; a relay without that route
// (404 or 405) is asked one track at a time (GET /v1/tracks/{id}), by
// every batch of the call that has not started yet. Both slices are the
// caller's and as long as ids.
func (e *Engine) TrackInfos(ctx context.Context, ids []model.TrackID) ([]model.Track, []error) {
	tracks := make([]model.Track, len(ids))
	errs := make([]error, len(ids))
	first := make(map[model.TrackID]int, len(ids)) // index of each id's first occurrence
	var ask []int
	for i, id := range ids {
		if _, dup := first[id]; dup {
			continue
		}
		first[id] = i
		if !model.ValidID(string(id)) {
			ask = append(ask, i) // Fill refuses it unasked
			continue
		}
		if t, ok := e.recordedTrack(ctx, id); ok {
			tracks[i] = t
			continue
		}
		ask = append(ask, i)
	}
	fetch.TrackBatches{Size: trackBatch, Parallel: trackFetches, Prefix: "engine", BadAnswer: ErrBadAnswer, Wrap: e.authErr,
		Batch: func(ctx context.Context, ids []model.TrackID) ([]*model.Track, error) {
			var out api.TracksResponse
			_, err := e.api.Do(ctx, http.MethodPost, "/v1/tracks/batch", api.TracksRequest{IDs: ids}, &out, true)
			return out.Tracks, err
		},
		One: e.Track}.Fill(ctx, ids, ask, tracks, errs)
	for i, id := range ids {
		if j := first[id]; j != i {
			tracks[i], errs[i] = tracks[j], errs[j]
		}
	}
	return tracks, errs
}
