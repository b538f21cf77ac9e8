package player

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/segue-fm/segue/player/wav"
)

func TestWAVSinkRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewWAVSink(f, 44100, 2, wav.F32)
	if err != nil {
		t.Fatal(err)
	}
	sig := sine(44100, 2, 10000, 440, 0.5)
	ctx := context.Background()
	for i := 0; i < len(sig); i += 2 * 999 {
		if err := s.Write(ctx, sig[i:min(len(sig), i+2*999)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(ctx, sig[:3]); !errors.Is(err, ErrFormat) {
		t.Errorf("partial frame: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, sig[:2]); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	f.Close()
	b, _ := os.ReadFile(path)
	a, err := wav.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Samples, sig) || a.Rate != 44100 || a.Channels != 2 {
		t.Fatalf("round trip: %d samples at %d Hz × %d", len(a.Samples), a.Rate, a.Channels)
	}
}

func TestDiscardSink(t *testing.T) {
	s := NewDiscardSink(48000, 2)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := s.Write(ctx, make([]float32, 2*480)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Frames() != 4800 {
		t.Errorf("frames %d", s.Frames())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Write(cctx, make([]float32, 2)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
	s.Close()
	if err := s.Write(ctx, make([]float32, 2)); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
}
