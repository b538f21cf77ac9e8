package alsa

import (
	"errors"
	"time"
)

// ErrUnavailable is returned by Open when this build has no ALSA support
// (built without the `alsa` tag or without cgo) or the device cannot be
// opened for playback.
var ErrUnavailable = errors.New("alsa: no playback device")

// ErrClosed is returned by a Sink used after Close.
var ErrClosed = errors.New("alsa: sink closed")

// SampleFormat is the sample encoding used on the device.
type SampleFormat int

// Sample formats. FormatAuto prefers FormatFloat32 and falls back to
// FormatS16 when the device refuses float.
const (
	FormatAuto    SampleFormat = iota
	FormatFloat32              // little-endian IEEE float, [−1, 1]
	FormatS16                  // little-endian signed 16-bit
)

// String returns the ALSA name of the format.
func (f SampleFormat) String() string {
	switch f {
	case FormatFloat32:
		return "FLOAT_LE"
	case FormatS16:
		return "S16_LE"
	default:
		return "auto"
	}
}

// Options configure Open. Start from DefaultOptions and chain WithX
// methods; each returns a modified copy.
type Options struct {
	device   string
	rate     int
	channels int
	format   SampleFormat
	latency  time.Duration
	periods  int
}

// DefaultOptions returns: device "default", 44,100 Hz, 2 channels,
// FormatAuto, a 100 ms device buffer in 4 periods.
func DefaultOptions() Options {
	return Options{device: "default", rate: 44100, channels: 2, latency: 100 * time.Millisecond, periods: 4}
}

// WithDevice sets the ALSA PCM name (default "default"; e.g. "hw:0,0",
// "plughw:1", or "null" which discards audio).
func (o Options) WithDevice(name string) Options { o.device = name; return o }

// WithRate sets the requested sample rate (default 44,100 Hz); the device
// may grant the nearest rate it supports, which Sink.Format reports.
func (o Options) WithRate(hz int) Options { o.rate = hz; return o }

// WithChannels sets the requested channel count (default 2); the device
// may grant the nearest count it supports.
func (o Options) WithChannels(n int) Options { o.channels = n; return o }

// WithSampleFormat forces a sample format (default FormatAuto).
func (o Options) WithSampleFormat(f SampleFormat) Options { o.format = f; return o }

// WithLatency sets the requested device buffer duration (default 100 ms,
// clamped to [10 ms, 2 s]); smaller is more responsive, larger is more
// robust against scheduling delays.
func (o Options) WithLatency(d time.Duration) Options {
	o.latency = min(max(d, 10*time.Millisecond), 2*time.Second)
	return o
}
