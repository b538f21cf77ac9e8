package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/store"
)

// logSink counts the frames written at a format, logs its first write
// into a shared log (with the marks), and, when block is set, holds every
// write until block is closed.
type logSink struct {
	rate  int
	log   *eventLog
	block chan struct{}

	mu      sync.Mutex
	frames  int64
	started chan struct{} // closed at the first write
}

func newLogSink(rate int, log *eventLog) *logSink {
	return &logSink{rate: rate, log: log, started: make(chan struct{})}
}

func (s *logSink) Format() (int, int) { return s.rate, 2 }

func (s *logSink) Write(_ context.Context, f []float32) error {
	s.mu.Lock()
	first := s.frames == 0
	s.frames += int64(len(f) / 2)
	s.mu.Unlock()
	if first {
		s.log.add("write")
		close(s.started)
	}
	if s.block != nil {
		<-s.block
	}
	return nil
}

func (s *logSink) Close() error { return nil }

func (s *logSink) written() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// eventLog is a concurrency-safe list of marks and sink events.
type eventLog struct {
	mu  sync.Mutex
	got []string
}

func (l *eventLog) add(name string) { l.mu.Lock(); l.got = append(l.got, name); l.mu.Unlock() }

func (l *eventLog) list() []string { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.got) }

// TestWarm: the embedded clip decodes to at least warmFrames frames, the
// crypto and answers' warm-ups succeed, the warm-up play (a prefetch and
// a play of the clip's album in a shadow engine) writes all the clip's
// frames at the output's rate, its prefetch leaves the clip's track ready
// to open from memory with its head (the prefetched play's path), and
// the warm-up runs once per engine.
func TestWarm(t *testing.T) {
	if n := clipFrames(t); n < warmFrames {
		t.Fatalf("the warm-up clip decodes to %d frames, want ≥ %d", n, warmFrames)
	}
	e, err := Open(t.Context(), "http://127.0.0.1:1", store.NewMemory(), &crypto.MemoryKeyStore{}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.warmCrypto(); err != nil {
		t.Fatal(err)
	}
	if err := warmAnswers(); err != nil {
		t.Fatal(err)
	}
	w, err := newWarmTrack(warmClip)
	if err != nil {
		t.Fatal(err)
	}
	for _, rate := range []int{44100, 48000} {
		log := &eventLog{}
		sink := newLogSink(rate, log)
		if err := e.warmPlay(t.Context(), sink, log.add); err != nil {
			t.Fatalf("warm-up play at %d Hz: %v", rate, err)
		}
		if got, want := sink.written(), w.frames*int64(rate)/44100; got < want-64 || got > want+64 {
			t.Fatalf("warm-up play at %d Hz wrote %d frames, want about %d (the clip's %d at 44.1 kHz)", rate, got, want, w.frames)
		}
		for _, m := range []string{MarkAlbum, MarkManifest, MarkKey, "write"} {
			if !slices.Contains(log.list(), m) {
				t.Fatalf("warm-up play at %d Hz: marks and first write %q, no %s", rate, log.list(), m)
			}
		}
	}
	// The shadow engine's prefetch readies the clip as a listener's
	// prefetch readies a track: its play opens from memory, with its
	// head (the path of a prefetched play).
	s, err := e.warmEngine(t.Context(), w, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Prefetch(t.Context(), s.opts.player.Tier(), []model.TrackID{warmTrackID}); err != nil {
		t.Fatal(err)
	}
	ts, ok := Source{s}.OpenReady(warmTrackID, s.opts.player.Tier())
	if !ok || ts.(*track).head == nil {
		t.Fatal("the warm-up's prefetch left its track not ready to open from memory")
	}
	ts.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The warm-up parsed the clip's setup into the player's cache, and
	// the demo album's high tier, encoded alike, finds it there: a first
	// play at that tier skips the parse.
	setups := e.opts.player.SetupCache()
	st := setups.Stats()
	if st.Len != 1 || st.Hits == 0 {
		t.Fatalf("setup cache after two warm-up plays: %+v, want 1 setup and hits", st)
	}
	high, err := demoalbum.FS.ReadFile("data/01.high.ogg")
	if err != nil {
		t.Fatal(err)
	}
	if err := vorbis.NewStreamReader(bytes.NewReader(high), vorbis.DefaultOptions().WithSetupCache(setups)).ReadHeaders(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := setups.Stats(); got.Hits != st.Hits+1 {
		t.Fatalf("the demo album's high tier missed the warm-up clip's setup: %+v", got)
	}
	e.Warm(t.Context(), player.NewDiscardSink(44100, 2), func(string) {})
	if e.startWarm() {
		t.Fatal("after Warm the warm-up is still to run")
	}
}

// clipFrames returns how many frames the warm-up clip decodes to.
func clipFrames(t *testing.T) int {
	sr := vorbis.NewStreamReader(bytes.NewReader(warmClip), vorbis.DefaultOptions())
	n := 0
	for {
		pcm, err := sr.Next(t.Context())
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n += len(pcm[0])
	}
}

// storeKeys returns every key in st.
func storeKeys(t *testing.T, st store.Store) []string {
	var keys []string
	if err := st.Iterate(t.Context(), nil, false, func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestWarmLeavesNoTrace: a whole warm-up (Warm) writes only into its own
// sink and marks only with its own marker: the engine's player writes
// nothing and publishes no status, the engine's marker is not called,
// no play event is recorded, the engine's store holds the same keys and
// its memory (albums, manifests, heads, keys, streamed blobs) stays
// empty.
func TestWarmLeavesNoTrace(t *testing.T) {
	ctx := t.Context()
	st := store.NewMemory()
	marks := &eventLog{}
	e, err := Open(ctx, "http://127.0.0.1:1", st, &crypto.MemoryKeyStore{}, DefaultOptions().WithMarker(marks.add))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	out := newLogSink(48000, &eventLog{})
	p, err := e.OpenPlayer(out)
	if err != nil {
		t.Fatal(err)
	}
	sub, stop := p.Subscribe()
	defer stop()
	before := <-sub
	keys := storeKeys(t, st)

	warmLog := &eventLog{}
	warm := newLogSink(48000, warmLog)
	e.Warm(ctx, warm, warmLog.add)
	if warm.written() == 0 || !slices.Contains(warmLog.list(), MarkAlbum) {
		t.Fatalf("the warm-up did not play (%d frames, marks %q)", warm.written(), warmLog.list())
	}
	e.History().Flush()
	events, err := e.History().Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-sub:
		t.Fatalf("the warm-up published a status of the engine's player: %+v", s)
	case <-time.After(100 * time.Millisecond):
	}
	now, stopNow := p.Subscribe()
	after := <-now
	stopNow()
	e.mu.Lock()
	memory := []int{e.albums.Len(), e.manifests.Len(), e.heads.Len(), len(e.keys), len(e.streamed)}
	e.mu.Unlock()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"the engine's player wrote nothing", out.written() == 0},
		{"the engine's marker was not called", len(marks.list()) == 0},
		{"no play event", len(events) == 0},
		{"the store holds the same keys", slices.Equal(storeKeys(t, st), keys)},
		{"the engine's memory is empty", slices.Equal(memory, []int{0, 0, 0, 0, 0})},
		{"the player's status is unchanged", after.State == before.State && after.Track == before.Track && after.Frame == before.Frame},
	} {
		if !tc.ok {
			t.Errorf("%s: false (marks %q, %d events, keys %q then %q, memory %v, status %+v then %+v)",
				tc.name, marks.list(), len(events), keys, storeKeys(t, st), memory, before, after)
		}
	}
}

// TestPlayDuringWarm: a listener's prefetched play while the warm-up is
// writing its own play's first block stops the warm-up, and its output
// is sample for sample that of a play on an engine that never warmed up
// (no frame lost, added or repeated); the warm-up ends without playing
// its clip to the end.
func TestPlayDuringWarm(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	open := func(user string) (*Engine, *recordSink) { return prefetchedPlayer(t, r, user, 3) }
	e, sink := open("warming")
	// Prefetch marked the warm-up run; this one is the page's, started
	// before it.
	e.mu.Lock()
	e.warmed = false
	e.mu.Unlock()
	warm := newLogSink(48000, &eventLog{})
	warm.block = make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Warm(ctx, warm, func(string) {})
	}()
	select {
	case <-warm.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the warm-up did not start its play")
	}
	if err := e.PlayAlbum(ctx, r.Album, 0); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	stopped := e.warmStop == nil
	e.mu.Unlock()
	if !stopped {
		t.Fatal("the play did not stop the warm-up")
	}
	close(warm.block)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the warm-up did not end after the play")
	}
	w, err := newWarmTrack(warmClip)
	if err != nil {
		t.Fatal(err)
	}
	if got, full := warm.written(), w.frames*48000/44100; got >= full-64 {
		t.Fatalf("the stopped warm-up wrote %d frames, its whole clip (%d)", got, full)
	}

	cold, coldSink := open("never-warmed")
	if err := cold.PlayAlbum(ctx, r.Album, 0); err != nil {
		t.Fatal(err)
	}
	sameFirst(t, sink, coldSink, 48000*2, "after a warm-up stopped by the play", "without one")
}

// TestPlayStopsWarm: the player's track opening (a play) cancels a
// running warm-up, and a cancelled warm-up play returns at once with the
// context's error.
func TestPlayStopsWarm(t *testing.T) {
	e, err := Open(t.Context(), "http://127.0.0.1:1", store.NewMemory(), &crypto.MemoryKeyStore{}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	e.mu.Lock()
	e.warmStop = cancel
	e.mu.Unlock()
	if _, err := (Source{e}).OpenTrack(t.Context(), "trnone", model.TierHigh); err == nil {
		t.Fatal("opened a track with no relay")
	}
	if ctx.Err() == nil {
		t.Fatal("opening a track for the player did not stop the warm-up")
	}
	if err := e.warmPlay(ctx, player.NewDiscardSink(44100, 2), func(string) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled warm-up play returned %v, want context.Canceled", err)
	}
}
