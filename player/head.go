package player

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player/vorbis"
)

// MaxHeadFrames bounds the frames DecodeHead decodes.
const MaxHeadFrames = 1 << 16

// PrefetchHeadFrames is how many frames the engines' Prefetch (core and
// the web engine) decode of each track they ready: 279 ms at 44.1 kHz.
// The web player's output waits for 8,192 frames before it plays (PRIME,
// wasm/web/worklet.js); a head this long meets that alone for output
// rates down to 0.9 × the track's, so a prefetched play is heard before
// the decoder has decoded anything. Both engines use it, so native and
// web prefetch the same work.
const PrefetchHeadFrames = 12288

// Limits of the engines' Prefetch (core and the web engine), shared so
// that both ready the same work.
const (
	// PrefetchMaxTracks is the most tracks one Prefetch call readies (the
	// rest of the list is ignored) and the most heads an engine keeps.
	PrefetchMaxTracks = 8
	// PrefetchMaxHeadChannels is the most channels a track may have for
	// its head to be kept: an engine's heads take at most
	// PrefetchMaxTracks × PrefetchHeadFrames × PrefetchMaxHeadChannels ×
	// 4 B = 3 MiB (768 KiB for stereo).
	PrefetchMaxHeadChannels = 8
)

// ErrHeadFrames is returned by DecodeHead for a frame count outside
// [1, MaxHeadFrames].
var ErrHeadFrames = errors.New("player: head frames out of range")

// DecodeHead decodes the first frames (at most n, and at most the
// manifest's TotalSamples) of the track of manifest m from r, its
// plaintext header pages followed by chunk 0 (and on, if chunk 0 holds
// fewer frames), exactly as the player's decoder does (the same Vorbis
// options and opts' setup cache), interleaved. A HeadSource returns the
// result; the caller owns it.
func DecodeHead(ctx context.Context, m *model.Manifest, r io.Reader, n int, opts Options) ([]float32, error) {
	if n < 1 || n > MaxHeadFrames {
		return nil, fmt.Errorf("%w: %d", ErrHeadFrames, n)
	}
	sr, err := openStream(ctx, m, r, opts)
	if err != nil {
		return nil, err
	}
	n = int(min(int64(n), m.TotalSamples))
	out := make([]float32, 0, n*m.Channels)
	for len(out) < n*m.Channels {
		pcm, err := sr.Next(ctx)
		if errors.Is(err, io.EOF) && len(out) > 0 {
			break // r ends (chunk 0) before n frames: these are the first
		}
		if err != nil {
			return nil, fmt.Errorf("player: decode head: %w", err)
		}
		if err := checkFormat(sr, m); err != nil {
			return nil, fmt.Errorf("player: decode head: %w", err)
		}
		if k := n - len(out)/m.Channels; len(pcm[0]) > k {
			for i := range pcm {
				pcm[i] = pcm[i][:k]
			}
		}
		out = vorbis.Interleave(out, pcm)
	}
	return out, nil
}

// openStream reads the Vorbis headers from r with the decoder's options
// and checks them against the manifest.
func openStream(ctx context.Context, m *model.Manifest, r io.Reader, opts Options) (*vorbis.StreamReader, error) {
	sr := vorbis.NewStreamReader(r, vorbis.DefaultOptions().WithMaxChannels(255).WithSetupCache(opts.setups))
	if err := sr.ReadHeaders(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnplayable, err)
	}
	if err := checkFormat(sr, m); err != nil {
		return nil, err
	}
	return sr, nil
}

// checkFormat refuses a stream whose link of the most recent samples
// (a chained stream's link after the first, too) is not of the
// manifest's rate and channel count.
func checkFormat(sr *vorbis.StreamReader, m *model.Manifest) error {
	info := sr.Info()
	if info.SampleRate == m.SampleRate && info.Channels == m.Channels {
		return nil
	}
	what := "stream"
	if sr.Link() > 0 {
		what = fmt.Sprintf("link %d", sr.Link())
	}
	return fmt.Errorf("%w: %s is %d Hz × %d, manifest says %d Hz × %d", ErrUnplayable,
		what, info.SampleRate, info.Channels, m.SampleRate, m.Channels)
}
