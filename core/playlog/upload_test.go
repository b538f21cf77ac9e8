package playlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/store"
)

// TestUploadMaxBody: with Uploader.MaxBody set (64 KiB, the browser's
// keepalive limit) every request's JSON body fits and all plays are
// sent, in order, each once, over several requests; a play the relay can
// never take is counted once, in the request whose batch covers it.
// Without it a batch is MaxBatch plays, one request here.
func TestUploadMaxBody(t *testing.T) {
	const maxBody = 64 << 10
	for _, tc := range []struct {
		name     string
		maxBody  int
		requests func(n int) bool
	}{
		{"no limit", 0, func(n int) bool { return n == 1 }},
		{"keepalive limit", maxBody, func(n int) bool { return n > 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			q := playlog.New(store.NewMemory())
			for i := range playlog.MaxBatch {
				ev := model.PlayEvent{EventID: fmt.Sprint(i), TrackID: "tr1", Tier: model.TierLow, Started: time.Unix(1e9, 0),
					Played: time.Second, Context: model.PlayContext{Kind: "playlist", ID: strings.Repeat("p", api.MaxContextID)}}
				if i == playlog.MaxBatch-3 {
					ev.TrackID = "not/a/track"
				}
				if _, err := q.Append(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			var sizes []int
			var seqs []uint64
			u := playlog.Uploader{Device: "dev", Sign: func([]byte) []byte { return make([]byte, 64) }, Now: time.Now, MaxBody: tc.maxBody,
				Post: func(_ context.Context, req api.PlaysRequest) (api.PlaysAnswer, error) {
					b, err := json.Marshal(req)
					if err != nil {
						return api.PlaysAnswer{}, err
					}
					sizes = append(sizes, len(b))
					var ans api.PlaysAnswer
					for _, r := range req.Events {
						seqs = append(seqs, r.Seq)
						ans.Results = append(ans.Results, api.PlayResult{Seq: r.Seq, Status: api.PlayAccepted})
					}
					return ans, nil
				}}
			sum, err := u.Upload(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.requests(len(sizes)) {
				t.Errorf("%d requests", len(sizes))
			}
			for _, n := range sizes {
				if tc.maxBody > 0 && n > tc.maxBody {
					t.Errorf("request bodies %v bytes; want each ≤ %d", sizes, tc.maxBody)
				}
			}
			if sum.Accepted != playlog.MaxBatch-1 || sum.Rejected[api.PlayUnknownTrack] != 1 || len(seqs) != playlog.MaxBatch-1 {
				t.Fatalf("%+v, %d sent; want %d accepted, 1 unknown_track", sum, len(seqs), playlog.MaxBatch-1)
			}
			for i, s := range seqs {
				if want := uint64(i) + uint64(i/(playlog.MaxBatch-3)); s != want {
					t.Fatalf("sent seq %d at %d, want %d", s, i, want)
				}
			}
			if n, err := q.Len(ctx); err != nil || n != 0 {
				t.Fatalf("%d queued, %v; want none", n, err)
			}
		})
	}
}
