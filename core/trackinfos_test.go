package core_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
)

// metaCounter fronts the relay, counting track-metadata requests; with
// noBatch it answers POST /v1/tracks/batch 404, as a relay without the
// route does.
type metaCounter struct {
	inner   http.Handler
	noBatch bool
	mu      sync.Mutex
	batch   int // POST /v1/tracks/batch
	single  int // GET /v1/tracks/{id}
}

func (m *metaCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	batch := r.Method == http.MethodPost && r.URL.Path == "/v1/tracks/batch"
	switch {
	case batch:
		m.batch++
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/tracks/"):
		m.single++
	}
	m.mu.Unlock()
	if batch && m.noBatch {
		http.NotFound(w, r)
		return
	}
	m.inner.ServeHTTP(w, r)
}

// TestTrackInfosBatches: the metadata of 250 playlist entries (repeats,
// and one track the relay does not know) comes in 3 batch requests and
// no request per track, each entry described as TrackInfo describes it
// and the unknown one fetch.ErrNotFound; against a relay without the
// batch route the engine asks track by track with the same answers.
func TestTrackInfosBatches(t *testing.T) {
	tb := newTestbed(t)
	ctx := context.Background()
	ids := make([]model.TrackID, 250)
	for i := range ids {
		ids[i] = tb.tracks[i%len(tb.tracks)]
	}
	ids[137] = "nosuchtrack"
	for _, noBatch := range []bool{false, true} {
		m := &metaCounter{inner: tb.srv.Handler(), noBatch: noBatch}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		e := tb.openEngine(t, core.DefaultOptions(), srv.URL)
		want := map[model.TrackID]model.Track{}
		for _, id := range tb.tracks {
			tr, err := e.TrackInfo(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want[id] = tr
		}
		m.mu.Lock()
		m.batch, m.single = 0, 0
		m.mu.Unlock()
		tracks, errs := e.TrackInfos(ctx, ids)
		if len(tracks) != len(ids) || len(errs) != len(ids) {
			t.Fatalf("noBatch=%v: %d tracks, %d errors for %d ids", noBatch, len(tracks), len(errs), len(ids))
		}
		for i, id := range ids {
			switch {
			case i == 137 && !errors.Is(errs[i], fetch.ErrNotFound):
				t.Errorf("noBatch=%v: unknown track: %v, want fetch.ErrNotFound", noBatch, errs[i])
			case i != 137 && (errs[i] != nil || tracks[i].ID != id || tracks[i].Title != want[id].Title || tracks[i].AlbumID != want[id].AlbumID):
				t.Errorf("noBatch=%v: entry %d: %+v, %v; want %+v", noBatch, i, tracks[i], errs[i], want[id])
			}
		}
		m.mu.Lock()
		batch, single := m.batch, m.single
		m.mu.Unlock()
		if !noBatch && (batch != 3 || single != 0) {
			t.Errorf("%d batch and %d single requests for 250 entries, want 3 and 0", batch, single)
		}
		if noBatch && single != len(ids) {
			t.Errorf("relay without the batch route: %d single requests, want %d", single, len(ids))
		}
	}
}

// BenchmarkTrackInfos: the metadata of a playlist's entries from a relay
// on loopback, in batches and (noBatch) one request per entry.
func BenchmarkTrackInfos(b *testing.B) {
	tb := newTestbed(b)
	ctx := context.Background()
	for _, n := range []int{2000, 100000} {
		ids := make([]model.TrackID, n)
		for i := range ids {
			ids[i] = tb.tracks[i%len(tb.tracks)]
		}
		for _, noBatch := range []bool{false, true} {
			if noBatch && n > 2000 {
				continue
			}
			srv := httptest.NewServer(&metaCounter{inner: tb.srv.Handler(), noBatch: noBatch})
			b.Cleanup(srv.Close)
			e := tb.openEngine(b, core.DefaultOptions(), srv.URL)
			name := "batch"
			if noBatch {
				name = "single"
			}
			b.Run(fmt.Sprintf("entries=%d/%s", n, name), func(b *testing.B) {
				for b.Loop() {
					if _, errs := e.TrackInfos(ctx, ids); errs[n-1] != nil {
						b.Fatal(errs[n-1])
					}
				}
			})
		}
	}
}
