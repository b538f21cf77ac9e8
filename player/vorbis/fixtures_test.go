package vorbis

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/player/wav"
)

// TestFixturesMatchOggdec decodes the committed fixtures to 16-bit WAV and
// compares them with oggdec's output: identical frame counts and every
// sample within one step. It needs no external tools, so it also runs
// under GOOS=js and GOOS=wasip1.
func TestFixturesMatchOggdec(t *testing.T) {
	for _, name := range []string{"stereo22k", "surround", "ffmpeg"} {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", name+".ogg"))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := os.ReadFile(filepath.Join("testdata", name+".oggdec.wav"))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			info, frames, err := DecodeWAV(context.Background(), &out, bytes.NewReader(in), wav.S16, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			got, err := wav.Read(out.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			want, err := wav.Read(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rate != want.Rate || got.Channels != want.Channels || info.Channels != want.Channels {
				t.Fatalf("%d Hz × %d, oggdec %d Hz × %d", got.Rate, got.Channels, want.Rate, want.Channels)
			}
			if int64(got.Frames()) != frames || got.Frames() != want.Frames() {
				t.Fatalf("%d frames (reported %d), oggdec %d", got.Frames(), frames, want.Frames())
			}
			ch := got.Channels
			ours, theirs := WAVOrder(ch), oggdecOrder(ch)
			for f := range got.Frames() {
				for j := range ch {
					// Compare the same Vorbis channel in both files.
					k := 0
					for theirs[k] != ours[j] {
						k++
					}
					g, w := got.Samples[f*ch+j], want.Samples[f*ch+k]
					if d := g - w; d > 1.0/32768 || d < -1.0/32768 {
						t.Fatalf("frame %d Vorbis channel %d: %v, oggdec %v", f, ours[j], g, w)
					}
				}
			}
		})
	}
}

// oggdecOrder is the Vorbis channel that oggdec (vorbis-tools 1.4)
// writes at each WAV position. For 6 channels it applies the inverse of
// the Vorbis→WAV permutation (FL FR FC RR LFE RL instead of FL FR FC LFE
// RL RR), so the comparison maps channels explicitly.
func oggdecOrder(channels int) []int {
	if channels == 6 {
		return []int{0, 2, 1, 4, 5, 3}
	}
	return WAVOrder(channels)
}
