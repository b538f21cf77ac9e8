package player

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/player/wav"
)

// WAVSink is a Sink that writes a WAV file (via package player/wav), its
// channels in WAV order (the player's frames are in Vorbis order,
// VorbisLayout: a 5.1 frame's centre is its second channel, a WAV file's
// third), as its header's speaker mask says. It is safe for concurrent
// use. Close patches the header sizes when the
// destination can seek; it does not close the destination.
type WAVSink struct {
	mu             sync.Mutex
	w              *wav.Writer
	rate, channels int
	order          []int     // vorbis.WAVOrder, nil when it keeps the order (Reorder)
	buf            []float32 // frames in WAV order
	closed         bool
}

// NewWAVSink returns a sink writing rate Hz, channels-channel audio in
// format f (wav.S16, wav.S24 or wav.F32) to dst.
func NewWAVSink(dst io.Writer, rate, channels int, f wav.Format) (*WAVSink, error) {
	w, err := wav.NewWriter(dst, rate, channels, f)
	if err != nil {
		return nil, fmt.Errorf("open wav sink: %w", err)
	}
	s := &WAVSink{w: w, rate: rate, channels: channels}
	if order := vorbis.WAVOrder(channels); !inOrder(order) {
		s.order = order
	}
	return s, nil
}

// Format implements Sink.
func (s *WAVSink) Format() (int, int) { return s.rate, s.channels }

// Write implements Sink.
func (s *WAVSink) Write(ctx context.Context, frames []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(frames)%s.channels != 0 {
		return fmt.Errorf("%w: %d samples is not a whole number of frames", ErrFormat, len(frames))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.order != nil {
		s.buf = Reorder(s.buf, frames, s.order)
		frames = s.buf
	}
	return s.w.WriteFloat32(frames)
}

// Frames returns the number of frames written.
func (s *WAVSink) Frames() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Frames()
}

// Close implements Sink.
func (s *WAVSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.w.Close()
}
