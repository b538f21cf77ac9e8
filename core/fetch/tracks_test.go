package fetch

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

var (
	errBad     = errors.New("bad answer")
	errWrapped = errors.New("wrapped")
)

// TestTrackBatchesFill: batches of Size over the asked indexes only, an
// id no track can have answered ErrNotFound without being sent, an
// unknown track ErrNotFound, a mismatched or short answer BadAnswer, a
// failed batch's error through Wrap, and on a 404 or 405 every batch
// track by track.
func TestTrackBatchesFill(t *testing.T) {
	ids := []model.TrackID{"t0", "t1", "bad/id", "t3", "unknown", "t5", "t6", model.TrackID(strings.Repeat("x", 200))}
	ask := []int{0, 1, 2, 3, 4, 5, 6, 7}
	for _, tc := range []struct {
		name                 string
		answer               func(ids []model.TrackID) ([]*model.Track, error)
		wantBatches, wantOne int
		wantErr              map[int]error // index → sentinel; others described
	}{
		{"batches", func(ids []model.TrackID) ([]*model.Track, error) {
			out := make([]*model.Track, len(ids))
			for j, id := range ids {
				if id != "unknown" {
					out[j] = &model.Track{ID: id, Title: "title " + string(id)}
				}
			}
			return out, nil
		}, 3, 0, map[int]error{2: ErrNotFound, 4: ErrNotFound, 7: ErrNotFound}},
		{"no route", func([]model.TrackID) ([]*model.Track, error) {
			return nil, &StatusError{Code: http.StatusNotFound}
		}, 1, 6, map[int]error{2: ErrNotFound, 4: ErrNotFound, 7: ErrNotFound}},
		{"method not allowed", func([]model.TrackID) ([]*model.Track, error) {
			return nil, &StatusError{Code: http.StatusMethodNotAllowed}
		}, 1, 6, map[int]error{2: ErrNotFound, 4: ErrNotFound, 7: ErrNotFound}},
		{"short answer", func([]model.TrackID) ([]*model.Track, error) {
			return []*model.Track{{ID: "t0"}}, nil
		}, 3, 0, map[int]error{0: errBad, 1: errBad, 2: ErrNotFound, 3: errBad, 4: errBad, 5: errBad, 6: errBad, 7: ErrNotFound}},
		{"wrong track", func(ids []model.TrackID) ([]*model.Track, error) {
			out := make([]*model.Track, len(ids))
			for j := range ids {
				out[j] = &model.Track{ID: "other"}
			}
			return out, nil
		}, 3, 0, map[int]error{0: errBad, 1: errBad, 2: ErrNotFound, 3: errBad, 4: errBad, 5: errBad, 6: errBad, 7: ErrNotFound}},
		{"server error", func([]model.TrackID) ([]*model.Track, error) {
			return nil, &StatusError{Code: http.StatusInternalServerError}
		}, 3, 0, map[int]error{0: errWrapped, 1: errWrapped, 2: ErrNotFound, 3: errWrapped, 4: errWrapped, 5: errWrapped, 6: errWrapped, 7: ErrNotFound}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			batches, ones := 0, 0
			b := TrackBatches{Size: 2, Parallel: 1, Prefix: "test", BadAnswer: errBad,
				Wrap: func(err error) error { return errors.Join(errWrapped, err) },
				Batch: func(_ context.Context, ids []model.TrackID) ([]*model.Track, error) {
					mu.Lock()
					batches++
					mu.Unlock()
					for _, id := range ids {
						if !model.ValidID(string(id)) {
							t.Errorf("sent %q", id)
						}
					}
					return tc.answer(ids)
				},
				One: func(_ context.Context, id model.TrackID) (model.Track, error) {
					mu.Lock()
					ones++
					mu.Unlock()
					if id == "unknown" {
						return model.Track{}, ErrNotFound
					}
					return model.Track{ID: id, Title: "title " + string(id)}, nil
				}}
			tracks, errs := make([]model.Track, len(ids)), make([]error, len(ids))
			b.Fill(context.Background(), ids, ask, tracks, errs)
			if batches != tc.wantBatches || ones != tc.wantOne {
				t.Errorf("%d batch and %d single calls, want %d and %d", batches, ones, tc.wantBatches, tc.wantOne)
			}
			for i, id := range ids {
				if want := tc.wantErr[i]; want != nil {
					if !errors.Is(errs[i], want) {
						t.Errorf("%d: %v, want %v", i, errs[i], want)
					}
					continue
				}
				if errs[i] != nil || tracks[i].ID != id || tracks[i].Title != "title "+string(id) {
					t.Errorf("%d: %+v, %v", i, tracks[i], errs[i])
				}
			}
		})
	}
}
