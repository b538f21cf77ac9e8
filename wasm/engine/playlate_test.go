package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// firstWrite is a sink that reports its first Write on started.
type firstWrite struct {
	started chan struct{}
	once    sync.Once
}

func (s *firstWrite) Format() (int, int) { return 44100, 2 }
func (s *firstWrite) Write(ctx context.Context, _ []float32) error {
	s.once.Do(func() { close(s.started) })
	return ctx.Err()
}
func (s *firstWrite) Close() error { return nil }

// fillFunc is the function a background metadata fill (player.Late)
// runs, counted with testbed.Goroutines.
const fillFunc = "segue/player.(*Late).Replace.func"

// TestPlayTracksBeforeMetadata: as core's, for the web engine: a
// 1,000-entry play starts (PlayTracks returns, the first block reaches
// the sink) while the relay holds every metadata batch after the first;
// the background fill ends when the next play replaces the queue, at
// Stop and at Close. Before, PlayTracks waited for every batch.
func TestPlayTracksBeforeMetadata(t *testing.T) {
	var pass, held atomic.Int32
	release := make(chan struct{})
	hold := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.Method == http.MethodPost && r.URL.Path == "/v1/tracks/batch" && pass.Add(-1) < 0 {
				held.Add(1)
				defer held.Add(-1)
				select {
				case <-r.Context().Done():
				case <-release:
				}
				return c.NoContent(http.StatusServiceUnavailable)
			}
			return next(c)
		}
	}
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
		srv.Echo().Pre(hold)
	}))
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	e, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.SignUp(ctx, "late", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "late", testbed.Password); err != nil {
		t.Fatal(err)
	}
	sink := &firstWrite{started: make(chan struct{})}
	if _, err := e.OpenPlayer(sink); err != nil {
		t.Fatal(err)
	}
	// Distinct ids (TrackInfos asks each once): the album's tracks at
	// the two starts, ids the relay does not know elsewhere.
	ids := make([]model.TrackID, 1000)
	for i := range ids {
		ids[i] = model.TrackID(fmt.Sprintf("unknown-%d", i))
	}
	copy(ids, r.Tracks)
	copy(ids[500:], r.Tracks)
	pass.Store(1)
	if err := e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "big"}, ids, 0); err != nil {
		t.Fatalf("PlayTracks with later batches held: %v", err)
	}
	select {
	case <-sink.started:
	case <-ctx.Done():
		t.Fatal("no audio while the later batches were held")
	}
	if held.Load() == 0 {
		t.Fatal("no batch held while the first track played: the test shows nothing")
	}
	if n := testbed.Goroutines(fillFunc); n != 1 {
		t.Fatalf("%d background fills running, want 1", n)
	}
	pass.Store(1)
	if err := e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "big"}, ids, 500); err != nil {
		t.Fatal(err)
	}
	if n := testbed.Goroutines(fillFunc); n != 1 {
		t.Fatalf("%d background fills running after the queue was replaced, want 1 (the new one)", n)
	}
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := testbed.Goroutines(fillFunc); n != 0 {
		t.Fatalf("%d background fills still running after Stop", n)
	}
	pass.Store(1)
	if err := e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "big"}, ids, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := testbed.Goroutines(fillFunc); n != 0 {
		t.Fatalf("%d background fills still running after Close", n)
	}
}
