package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/segue-fm/segue/core/model"
)

// TrackBatches fetches many tracks' metadata from a relay in batches: the
// shared core of core.Engine.TrackInfos and the web engine's TrackInfos,
// which differ only in how they send a request, how many they keep in
// flight and what their errors say.
type TrackBatches struct {
	// Size is how many ids one Batch call names (≤ api.MaxTracksBatch).
	Size int
	// Parallel bounds the Batch (or One) calls in flight.
	Parallel int
	// Batch asks for ids at once (POST /v1/tracks/batch) and returns one
	// entry per id, in order, nil for a track the relay does not know.
	Batch func(ctx context.Context, ids []model.TrackID) ([]*model.Track, error)
	// One asks for one track (GET /v1/tracks/{id}). Once a Batch call
	// answers 404 or 405 (a relay without the route), every batch of the
	// Fill not yet sent asks track by track through One.
	One func(ctx context.Context, id model.TrackID) (model.Track, error)
	// Wrap, when set, rewrites the error of a failed Batch call (e.g. to
	// say the session ended) before it is reported per track.
	Wrap func(error) error
	// Prefix starts every error Fill writes ("core", "engine").
	Prefix string
	// BadAnswer is the sentinel an answer that does not match its request
	// wraps.
	BadAnswer error
}

// Fill sets tracks[i] or errs[i] for every index i in ask. An id that no
// track can have (model.ValidID false) is not sent: errs[i] wraps
// ErrNotFound (one such id would make the relay refuse its whole batch
// with 413). tracks and errs must be as long as ids; Fill writes only
// the indexes in ask, each from one goroutine.
func (b TrackBatches) Fill(ctx context.Context, ids []model.TrackID, ask []int, tracks []model.Track, errs []error) {
	valid := make([]int, 0, len(ask))
	for _, i := range ask {
		if !model.ValidID(string(ids[i])) {
			errs[i] = fmt.Errorf("%s: track %.64q: %w", b.Prefix, ids[i], ErrNotFound)
			continue
		}
		valid = append(valid, i)
	}
	sem := make(chan struct{}, max(b.Parallel, 1))
	var wg sync.WaitGroup
	var noRoute atomic.Bool // a batch found the relay without the route
	for len(valid) > 0 {
		batch := valid[:min(len(valid), max(b.Size, 1))]
		valid = valid[len(batch):]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b.one(ctx, ids, batch, tracks, errs, &noRoute)
		})
	}
	wg.Wait()
}

// one fills the indexes of batch with one Batch call, or one One call
// each when the relay lacks the route (noRoute: found by an earlier
// batch of the Fill, or here).
func (b TrackBatches) one(ctx context.Context, ids []model.TrackID, batch []int, tracks []model.Track, errs []error, noRoute *atomic.Bool) {
	var got []*model.Track
	var err error
	single := noRoute.Load()
	if !single {
		req := make([]model.TrackID, len(batch))
		for j, i := range batch {
			req[j] = ids[i]
		}
		got, err = b.Batch(ctx, req)
		var se *StatusError
		if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusMethodNotAllowed) {
			single = true
			noRoute.Store(true)
		}
	}
	if single {
		for _, i := range batch {
			tracks[i], errs[i] = b.One(ctx, ids[i])
		}
		return
	}
	if err == nil && len(got) != len(batch) {
		err = fmt.Errorf("%w: %d tracks for %d ids", b.BadAnswer, len(got), len(batch))
	}
	if err != nil && b.Wrap != nil {
		err = b.Wrap(err)
	}
	for j, i := range batch {
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("%s: track %s: %w", b.Prefix, ids[i], err)
		case got[j] == nil:
			errs[i] = fmt.Errorf("%s: track %s: %w", b.Prefix, ids[i], ErrNotFound)
		case got[j].ID != ids[i]:
			errs[i] = fmt.Errorf("%s: track %s: %w: the relay described %s", b.Prefix, ids[i], b.BadAnswer, got[j].ID)
		default:
			tracks[i] = *got[j]
		}
	}
}
