package player

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrClosed is returned by a Sink used after Close.
var ErrClosed = errors.New("player: sink closed")

// Sink receives the player's output: interleaved float32 frames in [−1, 1]
// at the fixed format Format returns, channels in Vorbis order
// (VorbisLayout; a sink whose device orders them otherwise reorders them,
// ChannelOrder). Write blocks until the frames are
// accepted (a device sink paces playback this way) and must not retain
// frames after returning. The app may implement Sink; built-ins are
// DiscardSink, WAVSink and the ALSA device sink of package player/alsa.
type Sink interface {
	// Format returns the sample rate and channel count, constant for the
	// sink's life.
	Format() (rate, channels int)
	// Write consumes len(frames)/channels whole frames.
	Write(ctx context.Context, frames []float32) error
	// Close flushes and releases the sink; later Writes fail with ErrClosed.
	Close() error
}

// BufferedSink is a Sink that holds written audio before it is heard
// and can drop it (the web player's output ring). The player calls
// DropBuffered when it handles a jump — a play, Seek, Next, Previous or
// Stop — after the last frame written before the jump and before the
// first one after it, so none of the old audio is heard after the jump,
// however the jump raced the writes. Gapless and crossfaded track
// changes inside a play are not jumps.
type BufferedSink interface {
	Sink
	DropBuffered()
}

// DiscardSink is a Sink that drops audio and counts frames; it is safe for
// concurrent use.
type DiscardSink struct {
	rate, channels int
	mu             sync.Mutex
	frames         int64
	closed         bool
}

// NewDiscardSink returns a discarding sink of the given format.
func NewDiscardSink(rate, channels int) *DiscardSink {
	return &DiscardSink{rate: rate, channels: channels}
}

// Format implements Sink.
func (d *DiscardSink) Format() (int, int) { return d.rate, d.channels }

// Write implements Sink. It fails for a partial frame or after Close.
func (d *DiscardSink) Write(ctx context.Context, frames []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(frames)%d.channels != 0 {
		return fmt.Errorf("%w: %d samples is not a whole number of frames", ErrFormat, len(frames))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.frames += int64(len(frames) / d.channels)
	return nil
}

// Frames returns the number of frames written.
func (d *DiscardSink) Frames() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frames
}

// Close implements Sink.
func (d *DiscardSink) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return nil
}
