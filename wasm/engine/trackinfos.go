package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

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
			errs[i] = fmt.Errorf("engine: track %.64q: %w", id, fetch.ErrNotFound)
			continue
		}
		if t, ok := e.recordedTrack(ctx, id); ok {
			tracks[i] = t
			continue
		}
		ask = append(ask, i)
	}
	sem := make(chan struct{}, trackFetches)
	var wg sync.WaitGroup
	var noRoute atomic.Bool
	for len(ask) > 0 {
		batch := ask[:min(len(ask), trackBatch)]
		ask = ask[len(batch):]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e.trackBatch(ctx, ids, batch, tracks, errs, &noRoute)
		})
	}
	wg.Wait()
	for i, id := range ids {
		if j := first[id]; j != i {
			tracks[i], errs[i] = tracks[j], errs[j]
		}
	}
	return tracks, errs
}

// trackBatch fills tracks[i] or errs[i] for every index i of batch with
// one POST /v1/tracks/batch, or with one GET /v1/tracks/{id} each when
// the relay lacks the route (noRoute: found by an earlier batch of the
// call, or here).
func (e *Engine) trackBatch(ctx context.Context, ids []model.TrackID, batch []int, tracks []model.Track, errs []error, noRoute *atomic.Bool) {
	var out api.TracksResponse
	var err error
	single := noRoute.Load()
	if !single {
		req := api.TracksRequest{IDs: make([]model.TrackID, len(batch))}
		for j, i := range batch {
			req.IDs[j] = ids[i]
		}
		_, err = e.api.Do(ctx, http.MethodPost, "/v1/tracks/batch", req, &out, true)
		var se *fetch.StatusError
		if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusMethodNotAllowed) {
			single = true
			noRoute.Store(true)
		}
	}
	if single {
		for _, i := range batch {
			tracks[i], errs[i] = e.Track(ctx, ids[i])
		}
		return
	}
	if err == nil && len(out.Tracks) != len(batch) {
		err = fmt.Errorf("%w: %d tracks for %d ids", ErrBadAnswer, len(out.Tracks), len(batch))
	}
	if err != nil {
		err = e.authErr(err)
	}
	for j, i := range batch {
		switch t := out.Tracks; {
		case err != nil:
			errs[i] = fmt.Errorf("engine: track %s: %w", ids[i], err)
		case t[j] == nil:
			errs[i] = fmt.Errorf("engine: track %s: %w", ids[i], fetch.ErrNotFound)
		case t[j].ID != ids[i]:
			errs[i] = fmt.Errorf("engine: track %s: %w: the relay described %s", ids[i], ErrBadAnswer, t[j].ID)
		default:
			tracks[i] = *t[j]
		}
	}
}
