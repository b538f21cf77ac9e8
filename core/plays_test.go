package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// TestHistoryStampsOfflinePlays: an offline play recorded while the
// device's clock is wrong (a year behind) is moved onto the downloads'
// trusted license clock and marked, an online play keeps the wall-clock
// start; both get their source. Without downloads nothing is corrected.
func TestHistoryStampsOfflinePlays(t *testing.T) {
	ctx := context.Background()
	real := time.Now()
	clk := &fakeClock{now: real.Add(-365 * 24 * time.Hour)}
	e, err := core.Open(ctx, t.TempDir(), core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithClock(clk).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ev := model.PlayEvent{TrackID: "t", Tier: model.TierLow, Started: clk.Now().Add(-time.Minute), Played: time.Minute, End: model.EndCompleted}
	seq0, _ := e.History().AppendSeq(ctx, ev)
	if _, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet()).
		WithClock(func() time.Time { return real }, func() time.Duration { return 0 }, "boot")); err != nil {
		t.Fatal(err)
	}
	online := ev
	offline := ev
	offline.Offline = true
	seq1, _ := e.History().AppendSeq(ctx, online)
	seq2, _ := e.History().AppendSeq(ctx, offline)
	hs, err := e.History().List(ctx, 0)
	if err != nil || len(hs) != 3 {
		t.Fatalf("history %d entries, %v", len(hs), err)
	}
	got := map[uint64]model.PlayEvent{}
	for _, h := range hs {
		got[h.Seq] = h.Event
	}
	for _, seq := range []uint64{seq0, seq1} {
		if g := got[seq]; !g.Started.Equal(ev.Started) || g.TrustedTime || g.Source != model.SourceStream {
			t.Errorf("seq %d: started %v trusted %v source %q; want the wall clock, stream", seq, g.Started, g.TrustedTime, g.Source)
		}
	}
	g := got[seq2]
	if want := real.Add(-time.Minute); !g.TrustedTime || g.Started.Sub(want).Abs() > time.Second {
		t.Errorf("offline play: started %v trusted %v; want %v on the trusted clock", g.Started, g.TrustedTime, want)
	}
	if r := core.PlayRecord(core.HistoryEntry{Seq: seq2, Event: g}); r.StartedAt != g.Started.UnixMilli() || r.PlayedMs != 60000 || !r.Offline || !r.TrustedTime {
		t.Errorf("upload record %+v", r)
	}
}
