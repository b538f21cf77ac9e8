package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/store"
)

// TestWarm: the embedded clip decodes to at least warmFrames frames, the
// crypto warm-up succeeds with the engine's identity, the answers'
// warm-up (JSON, a signed manifest) succeeds, the warm-up play of the
// clip (through the fetcher and a player) writes all its frames at the
// output's rate, and the warm-up
// runs once per engine (a Prefetch after it does not decode again).
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
	for _, format := range [][2]int{{44100, 2}, {48000, 2}} {
		got, err := e.warmPath(t.Context(), format[0], format[1])
		if err != nil {
			t.Fatalf("warm-up play at %d Hz: %v", format[0], err)
		}
		if want := w.frames * int64(format[0]) / 44100; got < want-64 || got > want+64 {
			t.Fatalf("warm-up play at %d Hz wrote %d frames, want about %d (the clip's %d at 44.1 kHz)", format[0], got, want, w.frames)
		}
	}
	// The warm-up play parsed the clip's setup into the player's cache
	// (the second play took it from there), and the demo album's high
	// tier, encoded alike, finds it there: a first play at that tier
	// skips the parse.
	setups := e.opts.player.SetupCache()
	if st := setups.Stats(); st.Len != 1 || st.Hits != 1 {
		t.Fatalf("setup cache after two warm-up plays: %+v, want 1 setup, 1 hit", st)
	}
	high, err := demoalbum.FS.ReadFile("data/01.high.ogg")
	if err != nil {
		t.Fatal(err)
	}
	if err := vorbis.NewStreamReader(bytes.NewReader(high), vorbis.DefaultOptions().WithSetupCache(setups)).ReadHeaders(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := setups.Stats(); st.Hits != 2 {
		t.Fatalf("the demo album's high tier missed the warm-up clip's setup: %+v", st)
	}
	e.Warm(t.Context())
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
	if _, err := e.warmPath(ctx, 44100, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled warm-up play returned %v, want context.Canceled", err)
	}
}
