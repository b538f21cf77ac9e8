package vorbis

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/segue-fm/segue/player/wav"
)

// ErrFormatChange reports a chained stream whose links differ in sample
// rate or channel count where the output cannot follow (WAV).
var ErrFormatChange = errors.New("vorbis: chained stream changes rate or channels")

// WAVOrder returns, for a stream of the given channel count, the Vorbis
// channel index to place at each WAV channel position (Vorbis I §4.3.9
// order to WAVE_FORMAT_EXTENSIBLE order: FL FR FC LFE BL BR …). For 1, 2
// and over 8 channels the order is unchanged. The result is newly
// allocated.
func WAVOrder(channels int) []int {
	perms := map[int][]int{
		3: {0, 2, 1},
		5: {0, 2, 1, 3, 4},
		6: {0, 2, 1, 5, 3, 4},
		7: {0, 2, 1, 6, 5, 3, 4},
		8: {0, 2, 1, 7, 5, 6, 3, 4},
	}
	if p, ok := perms[channels]; ok {
		return p
	}
	p := make([]int, channels)
	for i := range p {
		p[i] = i
	}
	return p
}

// WAVResult sums up a DecodeWAV call.
type WAVResult struct {
	// Info describes the stream (its first link).
	Info Info
	// Frames counts the frames written.
	Frames int64
	// Damage is what was skipped of a damaged stream: its audio is
	// missing from the output (libvorbisfile's choice: decode what is
	// intact).
	Damage Damage
	// Clamped counts the samples that decoded to NaN or beyond ±16 and
	// were written as 0 or ±16 (StreamReader.Clamped).
	Clamped int64
}

// DecodeWAV decodes the Ogg Vorbis stream src with a StreamReader and
// writes it to dst as a WAV file in format f, with channels in WAV order.
// Chained links must share rate and channel count (else ErrFormatChange).
// dst is finished (sizes patched when it can seek) but not closed. A
// stream cut short after its headers is written up to its last whole
// packet, with Damage.Truncated set. On error the result tells how far it
// got.
func DecodeWAV(ctx context.Context, dst io.Writer, src io.Reader, f wav.Format, opts Options) (WAVResult, error) {
	sr := NewStreamReader(src, opts)
	if err := sr.ReadHeaders(ctx); err != nil {
		return WAVResult{Damage: sr.Damage()}, err
	}
	res := WAVResult{Info: sr.Info()}
	w, err := wav.NewWriter(dst, res.Info.SampleRate, res.Info.Channels, f)
	if err != nil {
		return res, err
	}
	order := WAVOrder(res.Info.Channels)
	perm := make([][]float32, res.Info.Channels)
	var buf []float32
	for {
		pcm, err := sr.Next(ctx)
		res.Frames, res.Damage, res.Clamped = w.Frames(), sr.Damage(), sr.Clamped()
		if errors.Is(err, io.EOF) || res.Damage.Truncated {
			break
		}
		if err != nil {
			return res, err
		}
		if li := sr.Info(); li.SampleRate != res.Info.SampleRate || li.Channels != res.Info.Channels {
			return res, fmt.Errorf("%w: link %d is %d Hz × %d", ErrFormatChange, sr.Link(), li.SampleRate, li.Channels)
		}
		for i, c := range order {
			perm[i] = pcm[c]
		}
		buf = Interleave(buf[:0], perm)
		if err := w.WriteFloat32(buf); err != nil {
			return res, err
		}
	}
	err = w.Close()
	res.Frames = w.Frames()
	return res, err
}
