package relayrecs_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/recs/sparkals"
)

// TestSparkFactorsRoundTrip: the factors trained in process, written in
// Spark's layout (Parquet user_factors/item_factors and the manifest)
// and loaded back by a second relay configured with WithSparkFactors,
// give the same Discover Weekly, Daily Mixes, Release Radar and similar
// tracks. With float32 files (Spark's own element type) the rounding
// changes no playlist on this catalog either.
func TestSparkFactorsRoundTrip(t *testing.T) {
	users := []model.UserID{"alice", "bob"}
	embedded := newFixture(t, users...)
	if res, err := embedded.svc.RunDue(t.Context()); err != nil || res.Failed != 0 {
		t.Fatalf("embedded run = %+v, %v", res, err)
	}
	for _, p := range []sparkals.Precision{sparkals.Float64, sparkals.Float32} {
		dir := t.TempDir()
		if err := embedded.svc.WriteFactors(dir, sparkals.Manifest{RunID: "r1", ExportID: "e1"}, p); err != nil {
			t.Fatal(err)
		}
		loaded := newFixtureWith(t, func(o relayrecs.Options) relayrecs.Options {
			return o.WithSparkFactors(dir, sparkals.DefaultLimits())
		}, users...)
		if res, err := loaded.svc.RunDue(t.Context()); err != nil || res.Failed != 0 {
			t.Fatalf("loaded run = %+v, %v", res, err)
		}
		st := loaded.svc.FactorStats()
		if st.Users != 2 || st.DroppedUsers == 0 || st.Items == 0 || st.DroppedItems != 0 {
			t.Fatalf("precision %d: stats %+v; want both listeners used, the simulated non-listeners dropped", p, st)
		}
		for _, u := range users {
			ps, err := embedded.svc.Playlists(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			for _, pl := range ps {
				_, want, _ := embedded.playlist(t, u, pl.Kind)
				_, got, _ := loaded.playlist(t, u, pl.Kind)
				if !slices.Equal(got, want) {
					t.Errorf("precision %d: %s's %s differs:\n got %v\nwant %v", p, u, pl.Kind, got, want)
				}
			}
		}
		for _, tr := range []model.TrackID{"t000-00", "t017-03", "t039-07"} {
			want, err := embedded.svc.Similar(t.Context(), tr, 10)
			if err != nil {
				t.Fatal(err)
			}
			got, err := loaded.svc.Similar(t.Context(), tr, 10)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("precision %d: similar to %s = %v, %v; want %v", p, tr, got, err, want)
			}
		}
	}
}

// TestSparkFactorsUnknownTracksDropped: rows of tracks not in the
// catalog are dropped and counted; catalog tracks without a row are
// counted as uncovered and still recommended by the audio stage.
func TestSparkFactorsUnknownTracksDropped(t *testing.T) {
	embedded := newFixture(t, "alice")
	if _, err := embedded.svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := embedded.svc.WriteFactors(dir, sparkals.Manifest{}, sparkals.Float32); err != nil {
		t.Fatal(err)
	}
	loaded := newFixtureWith(t, func(o relayrecs.Options) relayrecs.Options {
		return o.WithSparkFactors(dir, sparkals.DefaultLimits())
	}, "alice")
	// The catalog moved on: two tracks were taken down after the export.
	loaded.cat.tracks = slices.DeleteFunc(loaded.cat.tracks, func(tr model.Track) bool { return tr.ID == "t000-00" || tr.ID == "t000-01" })
	if res, err := loaded.svc.RunDue(t.Context()); err != nil || res.Failed != 0 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	st := loaded.svc.FactorStats()
	if st.DroppedItems != 2 || st.Uncovered == 0 {
		t.Fatalf("stats %+v; want 2 dropped items and the never-played tracks uncovered", st)
	}
	if _, tracks, _ := loaded.playlist(t, "alice", relayrecs.KindDiscoverWeekly); len(tracks) != 30 {
		t.Fatalf("Discover Weekly has %d tracks, want 30", len(tracks))
	}
}

// TestSparkFactorsBadDirectoryKeepsPlaylists: a malformed factor
// directory fails the run (nothing replaced, nothing marked delivered);
// once fixed, the next run delivers.
func TestSparkFactorsBadDirectoryKeepsPlaylists(t *testing.T) {
	embedded := newFixture(t, "alice")
	if _, err := embedded.svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := embedded.svc.WriteFactors(dir, sparkals.Manifest{}, sparkals.Float32); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, sparkals.ManifestFile)
	good, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, []byte(`{"format":"segue.als-factors.v1","rank":16,"users":1,"items":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := newFixtureWith(t, func(o relayrecs.Options) relayrecs.Options {
		return o.WithSparkFactors(dir, sparkals.DefaultLimits())
	}, "alice")
	if _, err := loaded.svc.RunDue(t.Context()); !errors.Is(err, sparkals.ErrMalformed) {
		t.Fatalf("run over a manifest not matching its files = %v, want ErrMalformed", err)
	}
	if ps, err := loaded.svc.Playlists(t.Context(), "alice"); err != nil || len(ps) != 0 {
		t.Fatalf("playlists after the failed run: %v, %v; want none", ps, err)
	}
	if err := os.WriteFile(manifest, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := loaded.svc.RunDue(t.Context()); err != nil || res.Delivered != 3 {
		t.Fatalf("run after the fix = %+v, %v; want 3 families delivered", res, err)
	}
}
