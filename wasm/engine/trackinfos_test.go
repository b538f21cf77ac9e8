package engine_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// metaCounter counts the relay's track-metadata requests (POST
// /v1/tracks/batch and GET /v1/tracks/{id}) and, with noBatch, answers
// the batch route 405 as a relay without it does.
type metaCounter struct {
	mu            sync.Mutex
	batch, single int
	noBatch       bool
	batched       chan struct{} // one value per batch request, when not nil
}

func (m *metaCounter) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		m.mu.Lock()
		defer m.mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/tracks/batch":
			m.batch++
			if m.batched != nil {
				m.batched <- struct{}{}
			}
			if m.noBatch {
				return c.NoContent(http.StatusMethodNotAllowed)
			}
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/tracks/"):
			m.single++
		}
		return next(c)
	}
}

func (m *metaCounter) reset(noBatch bool) {
	m.mu.Lock()
	m.batch, m.single, m.noBatch = 0, 0, noBatch
	m.mu.Unlock()
}
func (m *metaCounter) counts() (int, int) { m.mu.Lock(); defer m.mu.Unlock(); return m.batch, m.single }

// TestTrackInfosBatches asks the metadata of 250 entries naming 210
// distinct tracks (the demo album's, repeated, and unknown ids) and two
// invalid ids (not sent; fetch.ErrNotFound): 3 POST
// /v1/tracks/batch (100 distinct ids each) and no GET /v1/tracks/{id};
// the unknown ones fail with fetch.ErrNotFound, repeats get their
// track. A relay without the route (405) is asked one GET per distinct
// track, with the same answers; a play of the entries (PlayTracks) asks
// in batches too (it asked one GET per entry before).
func TestTrackInfosBatches(t *testing.T) {
	ctx := t.Context()
	m := &metaCounter{}
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
		srv.Echo().Pre(m.middleware)
	}))
	e, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.SignUp(ctx, "batch", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "batch", testbed.Password); err != nil {
		t.Fatal(err)
	}
	want := map[model.TrackID]model.Track{}
	for _, id := range r.Tracks {
		tr, err := e.Track(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = tr
	}
	ids := make([]model.TrackID, 250)
	distinct := map[model.TrackID]bool{}
	for i := range ids {
		if i%5 == 0 {
			ids[i] = r.Tracks[i%len(r.Tracks)]
		} else {
			ids[i] = model.TrackID(fmt.Sprintf("unknown-%d", i))
		}
		distinct[ids[i]] = true
	}
	// Ids no track has (as a playlist entry may name) are not sent: one
	// over the relay's body limit would fail its whole batch.
	ids = append(ids, "a/b", model.TrackID(strings.Repeat("x", 2<<20)))
	for _, noBatch := range []bool{false, true} {
		m.reset(noBatch)
		tracks, errs := e.TrackInfos(ctx, ids)
		if len(tracks) != len(ids) || len(errs) != len(ids) {
			t.Fatalf("noBatch=%v: %d tracks, %d errors for %d ids", noBatch, len(tracks), len(errs), len(ids))
		}
		for i, id := range ids {
			if !model.ValidID(string(id)) {
				if !errors.Is(errs[i], fetch.ErrNotFound) {
					t.Errorf("noBatch=%v: invalid id %.10q…: %v, want fetch.ErrNotFound", noBatch, id, errs[i])
				}
				continue
			}
			w, known := want[id]
			switch {
			case !known && !errors.Is(errs[i], fetch.ErrNotFound):
				t.Errorf("noBatch=%v: entry %d (%s): %v, want fetch.ErrNotFound", noBatch, i, id, errs[i])
			case known && (errs[i] != nil || tracks[i].ID != id || tracks[i].Title != w.Title || tracks[i].AlbumID != w.AlbumID):
				t.Errorf("noBatch=%v: entry %d: %+v, %v; want %+v", noBatch, i, tracks[i], errs[i], w)
			}
		}
		batch, single := m.counts()
		if !noBatch && (batch != 3 || single != 0) {
			t.Errorf("%d batch and %d single requests for %d distinct tracks, want 3 and 0", batch, single, len(distinct))
		}
		if noBatch && (single != len(distinct) || batch < 1 || batch > 3) {
			t.Errorf("relay without the batch route: %d batch attempts and %d single requests, want 1–3 and %d", batch, single, len(distinct))
		}
	}

	m.reset(false)
	m.mu.Lock()
	m.batched = make(chan struct{}, 3)
	m.mu.Unlock()
	p, err := e.OpenPlayer(player.NewDiscardSink(44100, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "p"}, ids[:250], 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the first before the play, the others in the background
		<-m.batched
	}
	if batch, single := m.counts(); batch != 3 || single != 0 {
		t.Errorf("PlayTracks of 250 entries: %d batch and %d single requests, want 3 and 0", batch, single)
	}
}
