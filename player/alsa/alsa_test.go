//go:build alsa && cgo

package alsa

import (
	"context"
	"errors"
	"math"
	"syscall"
	"testing"
	"time"
)

// tone returns n frames of a 440 Hz sine on every channel.
func tone(n, rate, channels int) []float32 {
	out := make([]float32, n*channels)
	for i := range n {
		v := float32(0.5 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for c := range channels {
			out[i*channels+c] = v
		}
	}
	return out
}

// TestNullDevice opens ALSA's "null" PCM (part of alsa-lib, present on
// every system) with each sample format and rate, and writes a second of
// audio through the sink in player-sized blocks.
func TestNullDevice(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		format   SampleFormat
		rate, ch int
		want     SampleFormat
	}{
		{"auto prefers float", FormatAuto, 44100, 2, FormatFloat32},
		{"float 48k mono", FormatFloat32, 48000, 1, FormatFloat32},
		{"s16 44.1k stereo", FormatS16, 44100, 2, FormatS16},
		{"s16 22.05k 6ch", FormatS16, 22050, 6, FormatS16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, DefaultOptions().WithDevice("null").WithSampleFormat(tc.format).
				WithRate(tc.rate).WithChannels(tc.ch).WithLatency(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if r, c := s.Format(); r != tc.rate || c != tc.ch {
				t.Fatalf("negotiated %d Hz × %d, want %d × %d", r, c, tc.rate, tc.ch)
			}
			if s.SampleFormat() != tc.want {
				t.Fatalf("sample format %s, want %s", s.SampleFormat(), tc.want)
			}
			if s.period < 1 || s.period*4 > tc.rate/10 {
				t.Fatalf("period %d frames for a 50 ms buffer of 4 periods", s.period)
			}
			audio := tone(tc.rate, tc.rate, tc.ch)
			for off := 0; off < len(audio); off += 1024 * tc.ch {
				if err := s.Write(ctx, audio[off:min(off+1024*tc.ch, len(audio))]); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Frames(); got != int64(tc.rate) {
				t.Fatalf("%d frames written, want %d", got, tc.rate)
			}
			if st := s.state(); st != "RUNNING" {
				t.Fatalf("state %s after more than a period, want RUNNING", st)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestXrunRecovery puts the device through the error paths writei
// reports: an underrun (EPIPE) and a signal (EINTR) are recovered with
// snd_pcm_recover, the stream is prepared again and later writes play; an
// error recovery cannot handle fails the write.
func TestXrunRecovery(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, DefaultOptions().WithDevice("null"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	audio := tone(8192, 44100, 2)
	if err := s.Write(ctx, audio); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	err = s.recover(-int(syscall.EPIPE))
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("recover from an underrun: %v", err)
	}
	if st := s.state(); st != "PREPARED" {
		t.Fatalf("state %s after recovery, want PREPARED", st)
	}
	if s.Xruns() != 1 {
		t.Fatalf("xruns %d, want 1", s.Xruns())
	}
	s.mu.Lock()
	err = s.recover(-int(syscall.EINTR))
	s.mu.Unlock()
	if err != nil || s.Xruns() != 1 {
		t.Fatalf("recover from EINTR: %v (xruns %d)", err, s.Xruns())
	}
	if err := s.Write(ctx, audio); err != nil {
		t.Fatal(err)
	}
	if s.Frames() != 16384 {
		t.Fatalf("%d frames, want 16384", s.Frames())
	}
	s.mu.Lock()
	err = s.recover(-int(syscall.EINVAL))
	s.mu.Unlock()
	if err == nil {
		t.Fatal("EINVAL was recovered, want an error")
	}
}

// TestCloseDrains checks Close drains (returns after the buffered frames
// are consumed), is idempotent, and that later writes fail.
func TestCloseDrains(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, DefaultOptions().WithDevice("null"))
	if err != nil {
		t.Fatal(err)
	}
	// Less than one buffer: the stream has not started; drain starts it.
	if err := s.Write(ctx, tone(1000, 44100, 2)); err != nil {
		t.Fatal(err)
	}
	if st := s.state(); st != "PREPARED" {
		t.Fatalf("state %s with less than a period buffered, want PREPARED", st)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := s.Write(ctx, tone(10, 44100, 2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}
}

// TestOpenErrors checks an unknown device maps to ErrUnavailable, a bad
// request is refused before touching ALSA, and partial frames and a
// cancelled context fail the write.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, DefaultOptions().WithDevice("segue_no_such_device")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown device: %v, want ErrUnavailable", err)
	}
	if _, err := Open(ctx, DefaultOptions().WithDevice("null").WithRate(10)); err == nil {
		t.Fatal("10 Hz accepted")
	}
	s, err := Open(ctx, DefaultOptions().WithDevice("null"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(ctx, make([]float32, 3)); err == nil {
		t.Fatal("partial frame accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Write(cctx, make([]float32, 4)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v", err)
	}
}

// TestNullDeviceChannelOrder: a 5.1 frame in the player's Vorbis order
// reaches the device in its order; ALSA's null PCM reports no channel
// map, so that is ALSA's surround51 order (FL FR RL RR FC LFE). Before,
// the frame was written as it came.
func TestNullDeviceChannelOrder(t *testing.T) {
	ctx := context.Background()
	for _, f := range []SampleFormat{FormatFloat32, FormatS16} {
		s, err := Open(ctx, DefaultOptions().WithDevice("null").WithSampleFormat(f).WithChannels(6))
		if err != nil {
			t.Fatal(err)
		}
		// FL C FR RL RR LFE
		frame := []float32{0.1, 0.5, 0.2, 0.3, 0.4, 0.6}
		s.convert(frame)
		want := []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}
		for d, v := range want {
			got := float64(0)
			if f == FormatFloat32 {
				got = float64(s.f32[d])
			} else {
				got = float64(s.s16[d]) / 32767
			}
			if math.Abs(got-float64(v)) > 1e-4 {
				t.Fatalf("%s: device channel %d holds %v, want %v", f, d, got, v)
			}
		}
		if err := s.Write(ctx, frame); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
