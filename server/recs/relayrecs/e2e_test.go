package relayrecs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/recs"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/docs"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const adminToken = "recs-admin-token-0123456789"

// startRelay runs a real relay (Badger, the demo album, real WebSocket
// sync) with the recommendation service mounted over plays.
func startRelay(t *testing.T, plays relayrecs.PlaySource, clk *clock) (*testbed.Relay, *relayrecs.Service) {
	t.Helper()
	var svc *relayrecs.Service
	r := testbed.NewRelay(t, testbed.DefaultOptions().
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithAdminToken(adminToken) }).
		WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
			svc = relayrecs.New(dd.Store, dd.Catalog, srv.Docs(), plays, relayrecs.DefaultOptions().WithClock(clk.now).
				WithLogger(slog.New(slog.DiscardHandler)).WithALS(recs.DefaultOptions().WithFactors(4).WithIterations(5).WithWorkers(1)))
			svc.Mount(srv)
		}))
	return r, svc
}

func demoPlays(r *testbed.Relay) relayrecs.PlaySource {
	return func(context.Context, time.Time, time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		out := map[model.UserID]map[model.TrackID]uint64{
			"alice": {r.Tracks[0]: 12, r.Tracks[1]: 3},
			"bob":   {r.Tracks[2]: 5},
		}
		for _, u := range []model.UserID{"sim1", "sim2", "sim3", "sim4", "sim5"} {
			out[u] = map[model.TrackID]uint64{}
			for i, id := range r.Tracks {
				out[u][id] = uint64(i + 1)
			}
		}
		return out, nil
	}
}

// TestEndToEnd: a real relay delivers alice's Discover Weekly; her
// device finds its id with Engine.Recommendations, receives the document
// through sync because her library follows it, cannot edit it (the
// engine refuses, and a change made behind the engine's back is refused
// by the relay, which keeps its copy unchanged). Bob sees only his own
// playlists and cannot read alice's even with its id.
func TestEndToEnd(t *testing.T) {
	clk := &clock{t: epoch}
	var r *testbed.Relay
	r, svc := startRelay(t, func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		return demoPlays(r)(ctx, from, to)
	}, clk)
	ctx := t.Context()
	alice, bob := testbed.Device(t, r, "alice"), testbed.Device(t, r, "bob")
	if res, err := svc.RunDue(ctx); err != nil || res.Failed != 0 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	recsA, err := alice.Recommendations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recsB, err := bob.Recommendations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var aDW, bDW string
	for _, p := range recsA.Playlists {
		if p.Kind == relayrecs.KindDiscoverWeekly {
			aDW = p.Doc
		}
		for _, q := range recsB.Playlists {
			if q.Doc == p.Doc {
				t.Fatalf("bob's recommendations list alice's %s", p.Kind)
			}
		}
	}
	for _, p := range recsB.Playlists {
		if p.Kind == relayrecs.KindDiscoverWeekly {
			bDW = p.Doc
		}
	}
	if aDW == "" || bDW == "" || recsA.TimeZone != "UTC" {
		t.Fatalf("recommendations: alice %+v, bob %+v", recsA, recsB)
	}
	id, err := docs.ParseDocumentID(aDW)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.TrackID{r.Tracks[2], r.Tracks[3]} // never played by alice; at most 2 per artist
	d, err := alice.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	tracks := func(d *core.Docs) []model.TrackID {
		v, err := d.Playlists().Get(ctx, id)
		if err != nil {
			return nil
		}
		var out []model.TrackID
		for _, e := range v.Entries {
			out = append(out, e.Track)
		}
		return out
	}
	waitUntil(t, "alice's device holds her Discover Weekly", func() bool {
		got := tracks(d)
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	if _, err := d.Playlists().Add(ctx, id, docs.AtEnd(), r.Tracks[0]); !errors.Is(err, docs.ErrReadOnly) {
		t.Fatalf("engine edit of a service playlist: %v, want docs.ErrReadOnly", err)
	}
	// Behind the engine's back: the relay refuses the change.
	h, err := d.Repo().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", r.Tracks[0]); return err }); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the relay refuses alice's edit", func() bool { return refused(ctx, d, id) })
	relayCopy, err := r.Server().Docs().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := relayCopy.ReadPlaylist(func(p *docs.Playlist) error { es, err := p.Entries(); n = len(es); return err }); err != nil || n != len(want) {
		t.Fatalf("relay copy has %d entries (%v), want %d", n, err, len(want))
	}
	// Bob follows alice's playlist by id: the relay refuses to send it.
	db, err := bob.OpenDocs(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Playlists().Follow(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the relay refuses alice's playlist to bob", func() bool { return refused(ctx, db, id) })
	if got := tracks(db); len(got) != 0 {
		t.Fatalf("bob holds alice's Discover Weekly: %v", got)
	}
}

// refused reports whether d's relay connection lists id as refused.
func refused(ctx context.Context, d *core.Docs, id docs.DocumentID) bool {
	st, err := d.Status(ctx)
	if err != nil {
		return false
	}
	for _, x := range st.Relay.Refused {
		if x.Doc == id {
			return true
		}
	}
	return false
}

// TestRoutes: authentication and validation of the recommendation routes.
func TestRoutes(t *testing.T) {
	clk := &clock{t: epoch}
	var r *testbed.Relay
	r, _ = startRelay(t, func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		return demoPlays(r)(ctx, from, to)
	}, clk)
	alice := testbed.Device(t, r, "alice")
	do := func(method, path, token, body string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), method, r.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(bytes.TrimSpace(b))
	}
	tok := alice.Token()
	cases := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"recommendations without token", "GET", "/v1/recommendations", "", "", 401},
		{"recommendations", "GET", "/v1/recommendations", tok, "", 200},
		{"time zone", "PUT", "/v1/recommendations/timezone", tok, `{"time_zone":"Europe/Berlin"}`, 204},
		{"unknown time zone", "PUT", "/v1/recommendations/timezone", tok, `{"time_zone":"Mars/Olympus"}`, 400},
		{"Local time zone", "PUT", "/v1/recommendations/timezone", tok, `{"time_zone":"Local"}`, 400},
		{"time zone path escape", "PUT", "/v1/recommendations/timezone", tok, `{"time_zone":"../../etc/passwd"}`, 400},
		{"similar", "GET", "/v1/tracks/" + string(r.Tracks[0]) + "/similar?limit=2", tok, "", 200},
		{"similar unknown track", "GET", "/v1/tracks/nope/similar", tok, "", 404},
		{"similar bad limit", "GET", "/v1/tracks/" + string(r.Tracks[0]) + "/similar?limit=1000", tok, "", 400},
		{"similar without token", "GET", "/v1/tracks/" + string(r.Tracks[0]) + "/similar", "", "", 401},
		{"admin run with a device token", "POST", "/v1/admin/recs/run", tok, `{"week":"2026-W49"}`, 401},
		{"admin run bad week", "POST", "/v1/admin/recs/run", adminToken, `{"week":"2026-W60"}`, 400},
		{"admin run future week", "POST", "/v1/admin/recs/run", adminToken, `{"week":"2027-W10"}`, 400},
		{"time zone body too large", "PUT", "/v1/recommendations/timezone", tok, `{"time_zone":"` + strings.Repeat("a", 2000) + `"}`, 413},
		{"admin run body too large", "POST", "/v1/admin/recs/run", adminToken, `{"week":"` + strings.Repeat("a", 2000) + `"}`, 413},
		{"admin run", "POST", "/v1/admin/recs/run", adminToken, `{"week":"2026-W49"}`, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code, body := do(c.method, c.path, c.token, c.body); code != c.want {
				t.Fatalf("%s %s = %d %s, want %d", c.method, c.path, code, body, c.want)
			}
		})
	}
	rec, err := alice.Recommendations(t.Context())
	if err != nil || rec.TimeZone != "Europe/Berlin" || len(rec.Playlists) == 0 || rec.Playlists[0].Period != "2026-W49" {
		t.Fatalf("after the admin run: %+v, %v", rec, err)
	}
	if code, body := do("POST", "/v1/admin/recs/run", adminToken, `{"week":"2026-W49"}`); code != 200 || !strings.Contains(body, `"skipped":1`) {
		t.Fatalf("second admin run of the week: %d %s, want alice skipped", code, body)
	}
	sim, err := alice.SimilarTracks(t.Context(), r.Tracks[0], 3)
	if err != nil || len(sim) == 0 || slices.Contains(sim, r.Tracks[0]) {
		t.Fatalf("similar: %v, %v", sim, err)
	}
}
