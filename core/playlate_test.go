package core_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
)

// holdBatches fronts the relay: a POST /v1/tracks/batch passes while
// pass is above 0 (each takes one), later ones are held until their
// request ends or release closes (held counts them).
type holdBatches struct {
	inner   http.Handler
	pass    atomic.Int32
	held    atomic.Int32
	release chan struct{}
}

func (h *holdBatches) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/tracks/batch" && h.pass.Add(-1) < 0 {
		h.held.Add(1)
		defer h.held.Add(-1)
		select {
		case <-r.Context().Done():
		case <-h.release:
		}
		return
	}
	h.inner.ServeHTTP(w, r)
}

// fillFunc is the function a background metadata fill (player.Late)
// runs, counted with tbed.Goroutines.
const fillFunc = "segue/player.(*Late).Replace.func"

// TestPlayTracksBeforeMetadata: a 1,000-entry play starts (PlayTracks
// returns, the first block reaches the sink) while the relay holds back
// every metadata batch after the first; the fill of the rest runs in the
// background until the next play replaces the queue, which ends it before
// returning, and Close leaves none running. Before, PlayTracks waited for
// every batch (here: until its context ended).
func TestPlayTracksBeforeMetadata(t *testing.T) {
	tb := newTestbed(t)
	h := &holdBatches{inner: tb.srv.Handler(), release: make(chan struct{})}
	h.pass.Store(1)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(h.release) })
	e := tb.openEngine(t, core.DefaultOptions(), srv.URL)
	sink := &deviceSink{started: make(chan struct{})}
	if _, err := e.OpenPlayer(sink, noGain(model.TierHigh)); err != nil {
		t.Fatal(err)
	}
	ids := make([]model.TrackID, 1000)
	for i := range ids {
		ids[i] = tb.tracks[i%len(tb.tracks)]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "big"}, ids, 0); err != nil {
		t.Fatalf("PlayTracks with later batches held: %v", err)
	}
	select {
	case <-sink.started:
	case <-ctx.Done():
		t.Fatal("no audio while the later batches were held")
	}
	if n := h.held.Load(); n == 0 {
		t.Fatal("no batch held while the first track played: the test shows nothing")
	}
	if n := tbed.Goroutines(fillFunc); n != 1 {
		t.Fatalf("%d background fills running, want 1", n)
	}
	if err := e.PlayTrack(ctx, tb.tracks[0]); err != nil {
		t.Fatal(err)
	}
	if n := tbed.Goroutines(fillFunc); n != 0 {
		t.Fatalf("%d background fills still running after the queue was replaced", n)
	}
	h.pass.Store(1) // the batch from entry 500 on
	if err := e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "big"}, ids, 500); err != nil {
		t.Fatal(err)
	}
	if n := tbed.Goroutines(fillFunc); n != 1 {
		t.Fatalf("%d background fills running, want 1", n)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := tbed.Goroutines(fillFunc); n != 0 {
		t.Fatalf("%d background fills still running after Close", n)
	}
}

// firstAudio is a sink that reports, once armed, its next Write on
// wrote.
type firstAudio struct {
	armed atomic.Bool
	wrote chan struct{}
}

func (s *firstAudio) Format() (int, int) { return 44100, 2 }
func (s *firstAudio) Write(ctx context.Context, _ []float32) error {
	if s.armed.CompareAndSwap(true, false) {
		s.wrote <- struct{}{}
	}
	return ctx.Err()
}
func (s *firstAudio) Close() error { return nil }

// BenchmarkPlayTracksFirstAudio: the time from PlayTracks of a
// playlist's entries to the first block at the sink, from a real relay
// (Badger on disk) on 127.0.0.1, no downloads; the first track's audio is
// in the engine's cache after the first iteration, so the metadata is
// what differs between sizes.
func BenchmarkPlayTracksFirstAudio(b *testing.B) {
	tb := newTestbed(b)
	ctx := context.Background()
	e := tb.openEngine(b, core.DefaultOptions(), tb.url)
	sink := &firstAudio{wrote: make(chan struct{}, 1)}
	p, err := e.OpenPlayer(sink, noGain(model.TierHigh))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{2000, 100000} {
		ids := make([]model.TrackID, n)
		for i := range ids {
			ids[i] = tb.tracks[i%len(tb.tracks)]
		}
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			for b.Loop() {
				sink.armed.Store(true)
				if err := e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "big"}, ids, 0); err != nil {
					b.Fatal(err)
				}
				<-sink.wrote
				b.StopTimer()
				if err := p.Stop(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
