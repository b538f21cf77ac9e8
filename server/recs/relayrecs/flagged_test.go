package relayrecs_test

import (
	"maps"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/store"
)

// TestCountedPlaysLeaveOutFlagged: the plays recommendations train on
// leave out, month by month, the accounts the fraud scan flagged, as the
// royalty statement holds them out. Before, a flagged bot's streams were
// held from the pool but still trained the model and counted towards
// popularity, so what the farm streamed reached real listeners' playlists.
func TestCountedPlaysLeaveOutFlagged(t *testing.T) {
	nov := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	dec := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		flagged []string // months bot is flagged in
		want    map[model.UserID]map[model.TrackID]uint64
	}{
		{"no flags", nil, map[model.UserID]map[model.TrackID]uint64{"human": {"a": 4}, "bot": {"b": 4, "a": 1}}},
		{"flagged in November", []string{"2026-11"}, map[model.UserID]map[model.TrackID]uint64{"human": {"a": 4}, "bot": {"b": 1}}},
		{"flagged in both months", []string{"2026-11", "2026-12"}, map[model.UserID]map[model.TrackID]uint64{"human": {"a": 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := store.NewMemory()
			lg := events.NewStoreLog(st)
			seq := map[model.UserID]uint64{}
			play := func(user model.UserID, track model.TrackID, at time.Time, n int) {
				var evs []api.PlayRecord
				for i := range n {
					seq[user]++
					evs = append(evs, api.PlayRecord{Seq: seq[user], Track: track, Tier: model.TierHigh, StartedAt: at.Add(time.Duration(i) * time.Hour).UnixMilli(),
						PlayedMs: 60_000, EndReason: model.EndCompleted, Source: model.SourceStream})
				}
				if _, err := lg.Append(ctx, events.Batch{Device: model.DeviceID("dev-" + user), User: user, Message: []byte("m"), Sig: []byte("s"), Events: evs}); err != nil {
					t.Fatal(err)
				}
			}
			play("human", "a", nov, 2)
			play("human", "a", dec, 2)
			play("bot", "b", nov, 3)
			play("bot", "a", nov, 1)
			play("bot", "b", dec, 1)
			c := counting.New(st, lg, nil, nil, counting.DefaultOptions().WithLogger(nil))
			for n := 1; n > 0; {
				var err error
				if n, err = c.Step(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range tc.flagged {
				b, err := cborx.EncMode().Marshal(fraud.Flag{User: "bot", Score: 0.99, Threshold: 0.9, Plays: 4})
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Set(ctx, []byte("fraud/"+m+"/a/bot"), b); err != nil {
					t.Fatal(err)
				}
			}
			got, err := relayrecs.CountedPlays(st)(ctx, nov.AddDate(0, 0, -9), dec)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(got, tc.want, maps.Equal) {
				t.Errorf("counted plays %v, want %v", got, tc.want)
			}
		})
	}
}
