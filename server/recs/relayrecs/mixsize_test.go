package relayrecs_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/recs"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

// genreCatalog generates genres × artistsPer × tracksPer tracks; each
// genre has its own tempo and energy centre, so a listener's taste
// clusters and a genre's tracks flow into each other.
func genreCatalog(genres, artistsPer, tracksPer int, seed uint64) *fakeCatalog {
	rng := mrand.New(mrand.NewPCG(seed, 1))
	c := &fakeCatalog{artists: map[model.ArtistID]model.Artist{}}
	for g := range genres {
		bpm, energy := 70*math.Pow(1.25, float64(g)), 0.04+0.05*float64(g)
		for a := range artistsPer {
			artist := model.ArtistID(fmt.Sprintf("g%d-a%02d", g, a))
			c.artists[artist] = model.Artist{ID: artist, Name: string(artist)}
			ab, ae := bpm*(1+0.06*rng.NormFloat64()), energy+0.01*rng.NormFloat64()
			for i := range tracksPer {
				c.tracks = append(c.tracks, model.Track{
					ID: model.TrackID(fmt.Sprintf("%s-%02d", artist, i)), ArtistIDs: []model.ArtistID{artist},
					Features: &model.AudioFeatures{TempoBPM: ab * (1 + 0.05*rng.NormFloat64()), Energy: math.Max(0.005, ae+0.01*rng.NormFloat64()),
						BeatStrength: 0.5, CentroidHz: 1000 + 300*float64(g), OnsetRate: 2},
				})
			}
		}
	}
	return c
}

// TestDailyMixesFull: on a catalog big enough (6 genres × 20 artists ×
// 25 tracks, generated) a listener with a long history (12 tracks of each
// of 36 artists, 6 per genre) gets 6 mixes of 50: 40 familiar, 10 new
// (20 %), each step within the tempo/energy threshold, no track twice.
// Many other simulated listeners (one or two genres each) train the ALS
// the clustering runs on.
func TestDailyMixesFull(t *testing.T) {
	ctx := t.Context()
	cat := genreCatalog(6, 20, 25, 3)
	rng := mrand.New(mrand.NewPCG(9, 9))
	all := map[model.UserID]map[model.TrackID]uint64{}
	alice := map[model.TrackID]uint64{}
	for g := range 6 {
		for a := range 6 {
			for i := range 12 {
				alice[model.TrackID(fmt.Sprintf("g%d-a%02d-%02d", g, a, i))] = uint64(1 + rng.IntN(30))
			}
		}
	}
	all["alice"] = alice
	for u := range 120 {
		m := map[model.TrackID]uint64{}
		for range 80 {
			g := (u + rng.IntN(2)) % 6
			m[model.TrackID(fmt.Sprintf("g%d-a%02d-%02d", g, rng.IntN(20), rng.IntN(25)))] += uint64(1 + rng.IntN(5))
		}
		all[model.UserID(fmt.Sprintf("sim%03d", u))] = m
	}
	plays := func(context.Context, time.Time, time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		return all, nil
	}
	st := store.NewMemory()
	r, err := repo.Open(ctx, st, repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := st.Update(ctx, func(tx store.Txn) error { _, err := relaysync.BindLibrary(tx, "alice", rand.Reader); return err }); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: epoch}
	opts := relayrecs.DefaultOptions().WithClock(clk.now).WithLogger(slog.New(slog.DiscardHandler)).
		WithALS(recs.DefaultOptions().WithFactors(16).WithIterations(8).WithWorkers(1))
	f := &fixture{st: st, docs: r, cat: cat, clk: clk, svc: relayrecs.New(st, cat, r, plays, opts)}
	if res, err := f.svc.RunDue(ctx); err != nil || res.Failed != 0 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	feats := map[model.TrackID]model.AudioFeatures{}
	for _, tr := range cat.tracks {
		feats[tr.ID] = *tr.Features
	}
	ps, err := f.svc.Playlists(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	mixes := 0
	for _, p := range ps {
		if !strings.HasPrefix(p.Kind, "daily_mix") {
			continue
		}
		mixes++
		_, tracks, _ := f.playlist(t, "alice", p.Kind)
		seen, newN := map[model.TrackID]bool{}, 0
		for i, id := range tracks {
			if seen[id] {
				t.Errorf("%s: %s twice", p.Kind, id)
			}
			seen[id] = true
			if alice[id] == 0 {
				newN++
			}
			if i > 0 {
				if d := recs.FlowStep(feats[tracks[i-1]], feats[id]); d > recs.DefaultMixOptions().MaxStep {
					t.Errorf("%s: step %d→%d is %.3f", p.Kind, i-1, i, d)
				}
			}
		}
		t.Logf("%s: %d tracks, %d new", p.Kind, len(tracks), newN)
		if len(tracks) < 48 || len(tracks) > 50 || newN < 8 || newN > 12 {
			t.Errorf("%s: %d tracks with %d new; want ~50 with ~10 new", p.Kind, len(tracks), newN)
		}
	}
	if mixes != 6 {
		t.Fatalf("%d mixes, want 6", mixes)
	}
}
