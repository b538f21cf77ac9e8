package relayrecs_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player/shuffle"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/recs"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// fakeCatalog is an in-memory catalog of synthetic tracks.
type fakeCatalog struct {
	tracks  []model.Track
	albums  map[model.AlbumID]model.Album
	artists map[model.ArtistID]model.Artist
}

func (c *fakeCatalog) EachTrack(_ context.Context, fn func(model.Track) error) error {
	for _, t := range c.tracks {
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

func (c *fakeCatalog) Album(_ context.Context, id model.AlbumID) (model.Album, error) {
	if a, ok := c.albums[id]; ok {
		return a, nil
	}
	return model.Album{}, catalog.ErrNotFound
}

func (c *fakeCatalog) Artist(_ context.Context, id model.ArtistID) (model.Artist, error) {
	if a, ok := c.artists[id]; ok {
		return a, nil
	}
	return model.Artist{}, catalog.ErrNotFound
}

// epoch is a Wednesday: 2026-12-02 12:00 UTC (ISO week 2026-W49).
var epoch = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// newCatalog makes artists × perArtist tracks, one album per artist
// released in 2020, with audio features clustered by artist (tempo and
// energy vary with the artist index), plus fresh new-release tracks:
// one album released 5 days before epoch (on Friday 2026-11-27) by artist a000 and one released
// 30 days before by artist a001.
func newCatalog(artists, perArtist int) (*fakeCatalog, []model.TrackID) {
	c := &fakeCatalog{albums: map[model.AlbumID]model.Album{}, artists: map[model.ArtistID]model.Artist{}}
	feat := func(a, i int) *model.AudioFeatures {
		return &model.AudioFeatures{
			TempoBPM: 80 + float64(a%10)*8 + float64(i%3), BeatStrength: 0.5, Energy: 0.05 + 0.02*float64(a%10),
			CentroidHz: 1000 + 100*float64(a%7), OnsetRate: 2 + float64(a%5)*0.2, Key: a % 12,
		}
	}
	add := func(album model.AlbumID, artist model.ArtistID, date string, tracks []model.Track) {
		ids := make([]model.TrackID, len(tracks))
		for i := range tracks {
			ids[i] = tracks[i].ID
		}
		c.albums[album] = model.Album{ID: album, Title: string(album), ArtistIDs: []model.ArtistID{artist}, ReleaseDate: date, TrackIDs: ids}
		c.tracks = append(c.tracks, tracks...)
	}
	for a := range artists {
		artist := model.ArtistID(fmt.Sprintf("a%03d", a))
		c.artists[artist] = model.Artist{ID: artist, Name: fmt.Sprintf("Artist %d", a)}
		album := model.AlbumID(fmt.Sprintf("al%03d", a))
		var ts []model.Track
		for i := range perArtist {
			ts = append(ts, model.Track{ID: model.TrackID(fmt.Sprintf("t%03d-%02d", a, i)), ArtistIDs: []model.ArtistID{artist}, AlbumID: album, Features: feat(a, i)})
		}
		add(album, artist, "2020-01-01", ts)
	}
	var fresh []model.TrackID
	for _, r := range []struct {
		artist int
		days   int
	}{{0, 5}, {1, 30}} {
		artist := model.ArtistID(fmt.Sprintf("a%03d", r.artist))
		album := model.AlbumID(fmt.Sprintf("new%03d", r.artist))
		var ts []model.Track
		for i := range 3 {
			id := model.TrackID(fmt.Sprintf("n%03d-%02d", r.artist, i))
			ts = append(ts, model.Track{ID: id, ArtistIDs: []model.ArtistID{artist}, AlbumID: album, Features: feat(r.artist, i)})
			fresh = append(fresh, id)
		}
		add(album, artist, epoch.AddDate(0, 0, -r.days).Format(time.DateOnly), ts)
	}
	return c, fresh
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	st    store.Store
	docs  *repo.Repo
	cat   *fakeCatalog
	fresh []model.TrackID
	clk   *clock
	svc   *relayrecs.Service
	fail  *bool
	// readCost is how far the clock moves each time the plays are read
	// (training reads them once per run): a run's simulated work.
	readCost *time.Duration
}

func newFixture(t *testing.T, users ...model.UserID) *fixture {
	t.Helper()
	return newFixtureWith(t, nil, users...)
}

// newFixtureWith is newFixture with the service's options changed by edit.
func newFixtureWith(t *testing.T, edit func(relayrecs.Options) relayrecs.Options, users ...model.UserID) *fixture {
	t.Helper()
	ctx := t.Context()
	st := store.NewMemory()
	r, err := repo.Open(ctx, st, repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for _, u := range users {
		if err := st.Update(ctx, func(tx store.Txn) error { _, err := relaysync.BindLibrary(tx, u, rand.Reader); return err }); err != nil {
			t.Fatal(err)
		}
	}
	cat, fresh := newCatalog(40, 8)
	var others []model.UserID
	for i := range 60 {
		others = append(others, model.UserID(fmt.Sprintf("sim%02d", i)))
	}
	sim := relayrecs.SimulatedPlays(cat.tracks, append(slices.Clone(users), others...), 40, fresh, 7)
	fail := false
	clk := &clock{t: epoch}
	readCost := new(time.Duration)
	plays := func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		clk.advance(*readCost)
		if fail {
			return nil, errors.New("counting store unavailable")
		}
		return sim(ctx, from, to)
	}
	opts := relayrecs.DefaultOptions().WithClock(clk.now).WithLogger(slog.New(slog.DiscardHandler)).
		WithALS(recs.DefaultOptions().WithFactors(16).WithIterations(8).WithWorkers(1))
	if edit != nil {
		opts = edit(opts)
	}
	return &fixture{st: st, docs: r, cat: cat, fresh: fresh, clk: clk, svc: relayrecs.New(st, cat, r, plays, opts), fail: &fail, readCost: readCost}
}

// playlist returns the tracks and service info of user's playlist kind.
func (f *fixture) playlist(t *testing.T, user model.UserID, kind string) (docs.DocumentID, []model.TrackID, docs.ServiceInfo) {
	t.Helper()
	ps, err := f.svc.Playlists(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Kind != kind {
			continue
		}
		h, err := f.docs.Get(t.Context(), p.Doc)
		if err != nil {
			t.Fatal(err)
		}
		var tracks []model.TrackID
		var si docs.ServiceInfo
		err = h.ReadPlaylist(func(pl *docs.Playlist) error {
			es, err := pl.Entries()
			for _, e := range es {
				tracks = append(tracks, e.Track)
			}
			si, _ = docs.ServiceOf(pl.Doc())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return p.Doc, tracks, si
	}
	t.Fatalf("%s has no %s", user, kind)
	return docs.DocumentID{}, nil, docs.ServiceInfo{}
}

// TestDiscoverWeeklySchedule: the first run delivers the current week;
// runs within the week are idempotent (nothing changes); the next
// delivery happens at Monday 00:00 in the listener's own time zone, so a
// listener in Auckland gets week 50 about 13 hours before one in UTC. The
// document id stays the same from week to week, and the library follows it.
func TestDiscoverWeeklySchedule(t *testing.T) {
	f := newFixture(t, "alice", "kiri")
	ctx := t.Context()
	if err := f.svc.SetTimeZone(ctx, "kiri", "Pacific/Auckland"); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.RunDue(ctx)
	if err != nil || res.Failed != 0 || res.Delivered != 6 {
		t.Fatalf("first run = %+v, %v; want 6 delivered (3 families × 2 listeners)", res, err)
	}
	id1, w49, si := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly)
	if si.Period != "2026-W49" || si.Listener != "alice" || si.Kind != relayrecs.KindDiscoverWeekly || len(w49) != 30 {
		t.Fatalf("first delivery: %+v with %d tracks", si, len(w49))
	}
	// Later the same week: Discover Weekly is not due again (the mixes
	// and the radar of Friday are).
	f.clk.set(time.Date(2026, 12, 6, 10, 59, 0, 0, time.UTC))
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if id, again, si := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly); id != id1 || si.Period != "2026-W49" || !slices.Equal(again, w49) {
		t.Fatalf("Sunday run changed Discover Weekly: %s %q", id, si.Period)
	}
	// Sunday 11:00 UTC is Monday 00:00 in Auckland (NZDT, UTC+13).
	f.clk.set(time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC))
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, si := f.playlist(t, "kiri", relayrecs.KindDiscoverWeekly); si.Period != "2026-W50" {
		t.Fatalf("kiri at her Monday 00:00: period %q, want 2026-W50", si.Period)
	}
	if _, _, si := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly); si.Period != "2026-W49" {
		t.Fatalf("alice at Sunday 11:00 UTC: period %q, want 2026-W49", si.Period)
	}
	f.clk.set(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	id2, _, si := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly)
	if si.Period != "2026-W50" || id2 != id1 {
		t.Fatalf("alice at Monday 00:00 UTC: period %q id %s, want 2026-W50 at the same id %s", si.Period, id2, id1)
	}
	libID, _, _ := relaysync.LibraryOf(ctx, f.st, "alice")
	h, err := f.docs.Get(ctx, libID)
	if err != nil {
		t.Fatal(err)
	}
	var followed []docs.DocumentID
	if err := h.ReadLibrary(func(l *docs.Library) error { followed, err = l.Playlists(); return err }); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(followed, id1) {
		t.Fatalf("alice's library follows %v, not her Discover Weekly %s", followed, id1)
	}
}

// TestDiscoverWeeklyContent: 30 tracks, none played by the listener, at
// most 2 per artist, and at least one new release no one has played
// (found by the audio-feature stage).
func TestDiscoverWeeklyContent(t *testing.T) {
	f := newFixture(t, "alice")
	if _, err := f.svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, tracks, _ := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly)
	plays, _ := relayrecs.SimulatedPlays(f.cat.tracks, []model.UserID{"alice"}, 40, f.fresh, 7)(t.Context(), epoch, epoch)
	perArtist := map[model.ArtistID]int{}
	artistOf := map[model.TrackID]model.ArtistID{}
	for _, tr := range f.cat.tracks {
		artistOf[tr.ID] = tr.ArtistIDs[0]
	}
	fresh := 0
	for _, id := range tracks {
		if plays["alice"][id] > 0 {
			t.Errorf("alice has played %s", id)
		}
		if perArtist[artistOf[id]]++; perArtist[artistOf[id]] > 2 {
			t.Errorf("artist %s has %d tracks", artistOf[id], perArtist[artistOf[id]])
		}
		if slices.Contains(f.fresh, id) {
			fresh++
		}
	}
	if len(tracks) != 30 || fresh == 0 {
		t.Fatalf("%d tracks, %d new releases; want 30 with at least one new release", len(tracks), fresh)
	}
}

// TestFailedRunKeepsLastWeek: when the run of a new week fails, last
// week's playlist stays as it was and the next run retries and delivers.
func TestFailedRunKeepsLastWeek(t *testing.T) {
	f := newFixture(t, "alice")
	ctx := t.Context()
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	_, before, _ := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly)
	*f.fail = true
	f.clk.set(time.Date(2026, 12, 7, 0, 5, 0, 0, time.UTC))
	if _, err := f.svc.RunDue(ctx); err == nil {
		t.Fatal("run with a failing play source succeeded")
	}
	_, after, si := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly)
	if si.Period != "2026-W49" || !slices.Equal(before, after) {
		t.Fatalf("after a failed run: period %q, content changed %v", si.Period, !slices.Equal(before, after))
	}
	*f.fail = false
	f.clk.set(time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)) // late: Tuesday
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, si := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly); si.Period != "2026-W50" {
		t.Fatalf("late retry: period %q, want 2026-W50", si.Period)
	}
}

// TestReleaseRadar: only releases of the last 14 days by artists the
// listener follows or plays often; a 30-day-old release is left out.
func TestReleaseRadar(t *testing.T) {
	f := newFixture(t, "alice")
	ctx := t.Context()
	libID, _, _ := relaysync.LibraryOf(ctx, f.st, "alice")
	lib, err := f.docs.OpenLibrary(ctx, libID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.Library(ctx, func(l *docs.Library) error { return l.FollowArtists("a000", "a001") }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	_, tracks, si := f.playlist(t, "alice", relayrecs.KindReleaseRadar)
	want := []model.TrackID{"n000-00", "n000-01", "n000-02"}
	if si.Period != "2026-11-27" || !slices.Equal(tracks, want) {
		t.Fatalf("release radar for %q = %v, want %v for Friday 2026-11-27", si.Period, tracks, want)
	}
}

// TestDailyMixes: at most 6 mixes, each ordered so no tempo/energy step
// exceeds the threshold, about 20 % of each new to the listener.
func TestDailyMixes(t *testing.T) {
	f := newFixture(t, "alice")
	if _, err := f.svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	plays, _ := relayrecs.SimulatedPlays(f.cat.tracks, []model.UserID{"alice"}, 40, f.fresh, 7)(t.Context(), epoch, epoch)
	feats := map[model.TrackID]model.AudioFeatures{}
	for _, tr := range f.cat.tracks {
		feats[tr.ID] = *tr.Features
	}
	ps, err := f.svc.Playlists(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	mixes := 0
	for _, p := range ps {
		if len(p.Kind) < 9 || p.Kind[:9] != "daily_mix" {
			continue
		}
		mixes++
		_, tracks, _ := f.playlist(t, "alice", p.Kind)
		newN := 0
		for i, id := range tracks {
			if plays["alice"][id] == 0 {
				newN++
			}
			if i > 0 {
				if d := recs.FlowStep(feats[tracks[i-1]], feats[id]); d > recs.DefaultMixOptions().MaxStep {
					t.Errorf("%s: step %d→%d is %.3f", p.Kind, i-1, i, d)
				}
			}
		}
		share := float64(newN) / float64(len(tracks))
		t.Logf("%s: %d tracks, %.0f %% new", p.Kind, len(tracks), 100*share)
		if len(tracks) == 0 || math.Abs(share-0.2) > 0.15 {
			t.Errorf("%s: %d tracks, %.2f new; want about 0.2", p.Kind, len(tracks), share)
		}
	}
	if mixes == 0 || mixes > 6 {
		t.Fatalf("%d mixes, want 1..6", mixes)
	}
}

// TestServiceDocumentAccess: the relay's rule on a delivered playlist
// with the recorded owner: the listener may read it only, anyone else
// (the service user name included) gets nothing. The refusal of a
// listener's edit over a real sync connection is TestEndToEnd's.
func TestServiceDocumentAccess(t *testing.T) {
	f := newFixture(t, "alice", "bob")
	ctx := t.Context()
	if _, err := f.svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	id, _, _ := f.playlist(t, "alice", relayrecs.KindDiscoverWeekly)
	owner, err := relaysync.OwnerOf(ctx, f.st, id)
	if err != nil || owner != docs.ServiceUser {
		t.Fatalf("recorded owner %q, %v; want %q", owner, err, docs.ServiceUser)
	}
	h, err := f.docs.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Read(func(d *automerge.Doc) error {
		for _, c := range []struct {
			user model.UserID
			want peer.Access
		}{{"alice", peer.Access{Read: true}}, {"bob", peer.Access{}}, {docs.ServiceUser, peer.Access{}}} {
			got, err := peer.DocumentAccess(c.user, owner, d)
			if err != nil || got != c.want {
				t.Errorf("access of %s = %+v, %v; want %+v", c.user, got, err, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// bob's Discover Weekly is his own document.
	if bid, _, _ := f.playlist(t, "bob", relayrecs.KindDiscoverWeekly); bid == id {
		t.Fatal("bob and alice share a Discover Weekly document")
	}
}

// TestSmartShuffleFit is the Smart Shuffle measure on the
// synthetic catalog with simulated listening: for 20 listeners, their
// first Daily Mix played with Smart Shuffle inserting from their
// Discover Weekly (the engine's choice: shuffle.PlanInsertions with
// taste weight 0.5 on the Discover Weekly rank), against random
// Discover Weekly tracks at the same positions (200 draws each). It
// reports the mean feature distance of inserted tracks to their
// neighbours both ways (docs/BENCHMARKS.md).
func TestSmartShuffleFit(t *testing.T) {
	var users []model.UserID
	for i := range 20 {
		users = append(users, model.UserID(fmt.Sprintf("u%02d", i)))
	}
	f := newFixture(t, users...)
	if _, err := f.svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	feats := map[model.TrackID]model.AudioFeatures{}
	for _, tr := range f.cat.tracks {
		feats[tr.ID] = *tr.Features
	}
	of := func(ids []model.TrackID) []model.AudioFeatures {
		out := make([]model.AudioFeatures, len(ids))
		for i, id := range ids {
			out[i] = feats[id]
		}
		return out
	}
	rng := mrand.New(mrand.NewPCG(3, 4))
	var sumPlanned, sumRandom float64
	n := 0
	for _, u := range users {
		_, dw, _ := f.playlist(t, u, relayrecs.KindDiscoverWeekly)
		_, mix, _ := f.playlist(t, u, relayrecs.DailyMixKind(1))
		pl, cands := of(mix), of(dw)
		taste := make([]float64, len(dw))
		for r := range taste {
			taste[r] = 1 - float64(r)/float64(len(dw))
		}
		ins, err := shuffle.PlanInsertions(pl, cands, taste, 3, 0.5)
		if err != nil || len(ins) == 0 {
			t.Fatalf("%s: %d insertions, %v", u, len(ins), err)
		}
		planned := shuffle.MeanNeighborDistance(pl, cands, ins)
		var random float64
		const draws = 200
		for range draws {
			perm := rng.Perm(len(cands))
			r := make([]shuffle.Insertion, len(ins))
			for j, in := range ins {
				r[j] = shuffle.Insertion{After: in.After, Candidate: perm[j]}
			}
			random += shuffle.MeanNeighborDistance(pl, cands, r) / draws
		}
		sumPlanned, sumRandom = sumPlanned+planned, sumRandom+random
		n++
	}
	planned, random := sumPlanned/float64(n), sumRandom/float64(n)
	t.Logf("mean neighbour distance over %d listeners: planned %.3f, random %.3f (ratio %.2f)", n, planned, random, planned/random)
	if planned >= 0.8*random {
		t.Fatalf("planned %.3f not clearly below random %.3f", planned, random)
	}
}
