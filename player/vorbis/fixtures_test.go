package vorbis

import (
	"bytes"
	"context"
	"errors"
	"io"
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
			res, err := DecodeWAV(context.Background(), &out, bytes.NewReader(in), wav.S16, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if res.Damage.Damaged() {
				t.Errorf("intact file reported damaged: %+v", res.Damage)
			}
			info, frames := res.Info, res.Frames
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

// TestChained decodes chained streams: two links of the same format
// through DecodeWAV, and links of different rates through a StreamReader,
// which reports each link's Info.
func TestChained(t *testing.T) {
	a, err := os.ReadFile(filepath.Join("testdata", "stereo22k.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "ffmpeg.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := DecodeWAV(context.Background(), &out, bytes.NewReader(append(append([]byte(nil), a...), a...)), wav.F32, DefaultOptions())
	if err != nil || res.Frames != 2*11025 {
		t.Fatalf("same-format chain: %d frames, %v; want %d", res.Frames, err, 2*11025)
	}
	_, err = DecodeWAV(context.Background(), &bytes.Buffer{}, bytes.NewReader(append(append([]byte(nil), a...), b...)), wav.F32, DefaultOptions())
	if !errors.Is(err, ErrFormatChange) {
		t.Fatalf("rate-changing chain to WAV: %v, want ErrFormatChange", err)
	}
	sr := NewStreamReader(bytes.NewReader(append(append([]byte(nil), a...), b...)), DefaultOptions())
	perLink := map[int]int{}
	rates := map[int]int{}
	for {
		pcm, err := sr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		perLink[sr.Link()] += len(pcm[0])
		rates[sr.Link()] = sr.Info().SampleRate
	}
	whole, err := wav.Read(mustRead(t, "ffmpeg.oggdec.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if perLink[0] != 11025 || perLink[1] != whole.Frames() || rates[0] != 22050 || rates[1] != 44100 {
		t.Errorf("links %v at rates %v, want [11025 %d] at [22050 44100]", perLink, whole.Frames(), rates)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
