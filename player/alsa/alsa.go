//go:build alsa && cgo

package alsa

/*
#cgo LDFLAGS: -lasound
#include <alsa/asoundlib.h>

// segue_setup negotiates interleaved access, a sample format (fmt_pref: 0
// float then S16, 1 float only, 2 S16 only), the nearest channel count and
// rate, and buffer/period sizes; it writes back what the device granted.
static int segue_setup(snd_pcm_t *pcm, int fmt_pref, unsigned int *rate, unsigned int *channels,
		snd_pcm_uframes_t *buffer, snd_pcm_uframes_t *period, int *fmt_out) {
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	int err;
	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	if ((err = snd_pcm_hw_params_any(pcm, hw)) < 0) return err;
	if ((err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0) return err;
	*fmt_out = 0;
	if (fmt_pref != 2 && snd_pcm_hw_params_test_format(pcm, hw, SND_PCM_FORMAT_FLOAT_LE) == 0) {
		*fmt_out = 1;
	} else if (fmt_pref != 1 && snd_pcm_hw_params_test_format(pcm, hw, SND_PCM_FORMAT_S16_LE) == 0) {
		*fmt_out = 2;
	} else {
		return -EINVAL;
	}
	if ((err = snd_pcm_hw_params_set_format(pcm, hw, *fmt_out == 1 ? SND_PCM_FORMAT_FLOAT_LE : SND_PCM_FORMAT_S16_LE)) < 0) return err;
	if ((err = snd_pcm_hw_params_set_channels_near(pcm, hw, channels)) < 0) return err;
	if ((err = snd_pcm_hw_params_set_rate_near(pcm, hw, rate, 0)) < 0) return err;
	if ((err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, buffer)) < 0) return err;
	if ((err = snd_pcm_hw_params_set_period_size_near(pcm, hw, period, 0)) < 0) return err;
	if ((err = snd_pcm_hw_params(pcm, hw)) < 0) return err;
	if ((err = snd_pcm_hw_params_get_buffer_size(hw, buffer)) < 0) return err;
	if ((err = snd_pcm_hw_params_get_period_size(hw, period, 0)) < 0) return err;
	if ((err = snd_pcm_sw_params_current(pcm, sw)) < 0) return err;
	// Start as soon as one period is buffered (the player renders faster
	// than real time, so the rest of the buffer fills at once); Close's
	// drain starts a stream shorter than a period.
	if ((err = snd_pcm_sw_params_set_start_threshold(pcm, sw, *period)) < 0) return err;
	if ((err = snd_pcm_sw_params_set_avail_min(pcm, sw, *period)) < 0) return err;
	return snd_pcm_sw_params(pcm, sw);
}

// segue_chmap writes the device's channel positions (SND_CHMAP_*) to pos
// and returns 0, or -1 when the device reports no map of n channels.
static int segue_chmap(snd_pcm_t *pcm, unsigned int *pos, unsigned int n) {
	snd_pcm_chmap_t *m = snd_pcm_get_chmap(pcm);
	if (m == NULL) return -1;
	int rc = -1;
	if (m->channels == n) {
		for (unsigned int i = 0; i < n; i++) pos[i] = m->pos[i];
		rc = 0;
	}
	free(m);
	return rc;
}

static void segue_quiet(const char *file, int line, const char *function, int err, const char *fmt, ...) {}

// segue_open opens a playback PCM; alsa-lib's own messages on stderr are
// silenced (its errors are returned and reported by the caller).
static int segue_open(snd_pcm_t **pcm, const char *name) {
	snd_lib_error_set_handler(segue_quiet);
	return snd_pcm_open(pcm, name, SND_PCM_STREAM_PLAYBACK, 0);
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"sync"
	"syscall"
	"unsafe"

	"github.com/segue-fm/segue/player"
)

// Sink is an ALSA playback device as a player.Sink. It is safe for
// concurrent use; Write blocks while the device buffer is full.
type Sink struct {
	mu       sync.Mutex
	pcm      *C.snd_pcm_t
	device   string
	rate     int
	channels int
	format   SampleFormat
	period   int       // frames per device period: the unit of each writei
	order    []int     // player.ChannelOrder of the device's map; nil keeps the order
	ordered  []float32 // a Write's frames in the device's order (player.Reorder)
	f32      []float32
	s16      []int16
	frames   int64
	xruns    int
	closed   bool
}

// Open opens the named PCM device for playback and negotiates its
// parameters (see the package doc). It fails with an error matching
// ErrUnavailable when the device cannot be opened, and with a descriptive
// error when it refuses every supported configuration. ctx is checked
// before the device is opened; opening itself does not block.
func Open(ctx context.Context, o Options) (*Sink, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.rate < 1000 || o.rate > 768000 || o.channels < 1 || o.channels > 255 || o.periods < 2 {
		return nil, fmt.Errorf("alsa: open %q: invalid request %d Hz × %d (start from DefaultOptions)", o.device, o.rate, o.channels)
	}
	name := C.CString(o.device)
	defer C.free(unsafe.Pointer(name))
	var pcm *C.snd_pcm_t
	if rc := C.segue_open(&pcm, name); rc < 0 {
		return nil, fmt.Errorf("%w: open %q: %s", ErrUnavailable, o.device, strerror(rc))
	}
	rate, channels := C.uint(o.rate), C.uint(o.channels)
	buffer := C.snd_pcm_uframes_t(o.latency.Seconds() * float64(o.rate))
	period := buffer / C.snd_pcm_uframes_t(o.periods)
	var fmtOut C.int
	if rc := C.segue_setup(pcm, C.int(o.format), &rate, &channels, &buffer, &period, &fmtOut); rc < 0 {
		C.snd_pcm_close(pcm)
		return nil, fmt.Errorf("alsa: configure %q (%s, %d Hz × %d): %s", o.device, o.format, o.rate, o.channels, strerror(rc))
	}
	s := &Sink{pcm: pcm, device: o.device, rate: int(rate), channels: int(channels), period: max(int(period), 1)}
	s.order = deviceOrder(s.channels, channelMap(pcm, s.channels))
	if fmtOut == 1 {
		s.format = FormatFloat32
		s.f32 = make([]float32, s.period*s.channels)
	} else {
		s.format = FormatS16
		s.s16 = make([]int16, s.period*s.channels)
	}
	return s, nil
}

// Format implements player.Sink: the negotiated rate and channel count.
func (s *Sink) Format() (rate, channels int) { return s.rate, s.channels }

// SampleFormat returns the negotiated sample format (FormatFloat32 or
// FormatS16).
func (s *Sink) SampleFormat() SampleFormat { return s.format }

// Device returns the PCM name the sink was opened on.
func (s *Sink) Device() string { return s.device }

// Frames returns the number of frames handed to the device.
func (s *Sink) Frames() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// Xruns returns how many underruns the sink recovered from.
func (s *Sink) Xruns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.xruns
}

// Write implements player.Sink: it converts frames (interleaved, clamped
// to [−1, 1], a NaN as silence) to the device format and writes them a period at a time,
// blocking while the device buffer is full, recovering from underruns
// and suspends. It returns ctx's error between periods once ctx is done.
// It does not retain frames.
func (s *Sink) Write(ctx context.Context, frames []float32) error {
	if len(frames)%s.channels != 0 {
		return fmt.Errorf("alsa: write %d samples: not a whole number of %d-channel frames", len(frames), s.channels)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for len(frames) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(frames)/s.channels, s.period)
		p := s.convert(frames[:n*s.channels])
		for off := 0; off < n; {
			rc := C.snd_pcm_writei(s.pcm, unsafe.Add(p, off*s.frameBytes()), C.snd_pcm_uframes_t(n-off))
			if rc < 0 {
				if err := s.recover(int(rc)); err != nil {
					return err
				}
				continue
			}
			off += int(rc)
			s.frames += int64(rc)
		}
		frames = frames[n*s.channels:]
	}
	return nil
}

func (s *Sink) frameBytes() int {
	if s.format == FormatFloat32 {
		return 4 * s.channels
	}
	return 2 * s.channels
}

// alsaPositions maps ALSA's channel positions (SND_CHMAP_*) to the
// player's; a mono channel is the front centre.
var alsaPositions = map[C.uint]player.Position{
	C.SND_CHMAP_MONO: player.FrontCentre, C.SND_CHMAP_FC: player.FrontCentre,
	C.SND_CHMAP_FL: player.FrontLeft, C.SND_CHMAP_FR: player.FrontRight,
	C.SND_CHMAP_RL: player.RearLeft, C.SND_CHMAP_RR: player.RearRight,
	C.SND_CHMAP_LFE: player.LFE, C.SND_CHMAP_SL: player.SideLeft,
	C.SND_CHMAP_SR: player.SideRight, C.SND_CHMAP_RC: player.RearCentre,
}

// channelMap returns the positions of the device's n channels from its
// channel map, or nil when it reports none.
func channelMap(pcm *C.snd_pcm_t, n int) []player.Position {
	pos := make([]C.uint, n)
	if C.segue_chmap(pcm, &pos[0], C.uint(n)) < 0 {
		return nil
	}
	out := make([]player.Position, n)
	for i, p := range pos {
		out[i] = alsaPositions[p] // 0, unknown, for the rest
	}
	return out
}

// convert copies in to the sink's device buffer, in the device's channel
// order, and returns its address.
func (s *Sink) convert(in []float32) unsafe.Pointer {
	if s.order != nil {
		s.ordered = player.Reorder(s.ordered, in, s.order)
		in = s.ordered
	}
	if s.format == FormatFloat32 {
		for i, v := range in {
			s.f32[i] = clamp(v)
		}
		return unsafe.Pointer(&s.f32[0])
	}
	for i, v := range in {
		s.s16[i] = int16(math.Round(float64(clamp(v)) * 32767))
	}
	return unsafe.Pointer(&s.s16[0])
}

// recover handles a negative writei result (a negated errno): an underrun
// (EPIPE), a suspend (ESTRPIPE) or a signal (EINTR) is recovered with
// snd_pcm_recover (underruns are counted); anything else fails. Called
// with s.mu held.
func (s *Sink) recover(code int) error {
	if rc := C.snd_pcm_recover(s.pcm, C.int(code), 1); rc < 0 {
		return fmt.Errorf("alsa: write %q: %s (recovery failed: %s)", s.device, strerror(C.int(code)), strerror(rc))
	}
	if code == -int(syscall.EPIPE) {
		s.xruns++
	}
	return nil
}

// state returns the PCM state name, for tests.
func (s *Sink) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return C.GoString(C.snd_pcm_state_name(C.snd_pcm_state(s.pcm)))
}

// Close drains the frames still buffered (they are played) and closes
// the device. Later Writes fail with ErrClosed; Close is idempotent.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if rc := C.snd_pcm_drain(s.pcm); rc < 0 {
		err = fmt.Errorf("alsa: drain %q: %s", s.device, strerror(rc))
	}
	if rc := C.snd_pcm_close(s.pcm); rc < 0 && err == nil {
		err = fmt.Errorf("alsa: close %q: %s", s.device, strerror(rc))
	}
	s.pcm = nil
	return err
}

func strerror(rc C.int) string { return C.GoString(C.snd_strerror(rc)) }
