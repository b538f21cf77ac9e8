package relayrecs_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/recs"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

// TestColdStartNotOneAccount: a listener with no plays of their own gets
// the catalog's most popular tracks in Discover Weekly, and popularity is
// how many listeners played a track, not how often. Before, it was the
// total plays, so one account that streamed one obscure track 100,000
// times (one device, end to end, for a month) put it first in every new
// listener's Discover Weekly; now it needs as many listeners as the
// tracks it displaces.
func TestColdStartNotOneAccount(t *testing.T) {
	const obscure = model.TrackID("t039-07")
	for _, tc := range []struct {
		name      string
		accounts  int    // accounts that play obscure
		plays     uint64 // each
		wantFirst bool   // obscure is the first track of newbie's Discover Weekly
	}{
		{"one account, 100000 plays", 1, 100_000, false},
		{"three accounts, 30000 plays each", 3, 30_000, false},
		{"every simulated listener", 60, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := store.NewMemory()
			r, err := repo.Open(ctx, st, repo.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			if err := st.Update(ctx, func(tx store.Txn) error { _, err := relaysync.BindLibrary(tx, "newbie", rand.Reader); return err }); err != nil {
				t.Fatal(err)
			}
			cat, fresh := newCatalog(40, 8)
			var users []model.UserID
			for i := range 60 {
				users = append(users, model.UserID(fmt.Sprintf("sim%02d", i)))
			}
			sim := relayrecs.SimulatedPlays(cat.tracks, users, 40, fresh, 7)
			plays := func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
				out, err := sim(ctx, from, to)
				if err != nil {
					return nil, err
				}
				for a := range tc.accounts {
					if tc.accounts == len(users) {
						out[users[a]][obscure] += tc.plays
						continue
					}
					out[model.UserID(fmt.Sprintf("bot%d", a))] = map[model.TrackID]uint64{obscure: tc.plays}
				}
				return out, nil
			}
			clk := &clock{t: epoch}
			f := &fixture{st: st, docs: r, cat: cat, fresh: fresh, clk: clk, svc: relayrecs.New(st, cat, r, plays,
				relayrecs.DefaultOptions().WithClock(clk.now).WithLogger(slog.New(slog.DiscardHandler)).
					WithALS(recs.DefaultOptions().WithFactors(16).WithIterations(8).WithWorkers(1)))}
			if _, err := f.svc.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
			_, dw, _ := f.playlist(t, "newbie", relayrecs.KindDiscoverWeekly)
			if len(dw) == 0 {
				t.Fatal("newbie's Discover Weekly is empty")
			}
			if first := dw[0] == obscure; first != tc.wantFirst {
				t.Errorf("Discover Weekly %v: %s first = %v, want %v (at %d)", dw, obscure, first, tc.wantFirst, slices.Index(dw, obscure))
			}
		})
	}
}
