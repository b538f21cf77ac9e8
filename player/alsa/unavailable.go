//go:build !alsa || !cgo

package alsa

import (
	"context"
	"fmt"
)

// Sink is an ALSA playback device. This build has no ALSA support, so no
// Sink can be opened; the type exists so that callers compile unchanged.
type Sink struct{}

// Open fails with ErrUnavailable: this build has no ALSA support (build
// with -tags alsa and cgo).
func Open(ctx context.Context, o Options) (*Sink, error) {
	return nil, fmt.Errorf("%w: built without ALSA support (build with -tags alsa)", ErrUnavailable)
}

// Format implements player.Sink.
func (s *Sink) Format() (rate, channels int) { return 0, 0 }

// Write implements player.Sink; it always fails with ErrClosed.
func (s *Sink) Write(ctx context.Context, frames []float32) error { return ErrClosed }

// Close implements player.Sink.
func (s *Sink) Close() error { return nil }

// SampleFormat returns FormatAuto: nothing was negotiated.
func (s *Sink) SampleFormat() SampleFormat { return FormatAuto }

// Device returns the empty string.
func (s *Sink) Device() string { return "" }

// Frames returns 0.
func (s *Sink) Frames() int64 { return 0 }

// Xruns returns 0.
func (s *Sink) Xruns() int { return 0 }
