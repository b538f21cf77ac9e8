package core_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	tbed "github.com/segue-fm/segue/internal/testbed"
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

// TestUploadPlaysSetsAsideUndecodable: a queued play whose stored value
// does not decode (a damaged store) is counted as rejected
// (playlog.Undecodable), set aside under playlog.BadPrefix, and the plays
// queued before and after it reach a real relay. Before, List failed with
// "decode play event N" and every later upload with it, for ever.
func TestUploadPlaysSetsAsideUndecodable(t *testing.T) {
	ctx := t.Context()
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithCounting(true))
	e := tbed.Device(t, r, "dana")
	started := time.Now()
	var seqs []uint64
	for i := range 3 {
		seq, err := e.History().AppendSeq(ctx, model.PlayEvent{Device: e.DeviceID(), TrackID: r.Tracks[i],
			Tier: model.TierLow, Started: started.Add(time.Duration(i) * time.Second), Played: 1500 * time.Millisecond,
			End: model.EndCompleted, Source: model.SourceStream})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	garbage := []byte{0xff, 0x00, 0x13}
	if err := e.Store().Set(ctx, playlog.Key(seqs[1]), garbage); err != nil {
		t.Fatal(err)
	}
	sum, err := e.UploadPlays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 2 || sum.Rejected[playlog.Undecodable] != 1 || len(sum.Rejected) != 1 {
		t.Fatalf("upload %+v; want 2 accepted, 1 undecodable", sum)
	}
	if hs, err := e.History().List(ctx, 0); err != nil || len(hs) != 0 {
		t.Fatalf("queued after the upload: %+v, %v; want none", hs, err)
	}
	aside, err := e.Store().Get(ctx, append(append([]byte(nil), playlog.BadPrefix...), playlog.Key(seqs[1])[len(playlog.Prefix):]...))
	if err != nil || !bytes.Equal(aside, garbage) {
		t.Fatalf("set aside: %x, %v; want %x", aside, err, garbage)
	}
	logged, err := r.PlayLog().Read(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 2 || logged[0].Event.Track != r.Tracks[0] || logged[1].Event.Track != r.Tracks[2] {
		t.Fatalf("relay log %+v; want the plays of tracks 0 and 2", logged)
	}
}
