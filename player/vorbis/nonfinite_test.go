//go:build !js && !wasip1

package vorbis

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// A crafted stream that makes libvorbis decode NaN, infinite or absurdly
// large samples decodes to finite samples within ±maxSample: a NaN is 0
// (silence, as the sinks write it), anything beyond the bound the bound
// with its sign, and every other sample is libvorbis'. libvorbis refuses
// none of these streams (oggdec writes them clipped to full scale).
func TestCraftedStreamsFinite(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range craftedStreams(t) {
		t.Run(tc.name, func(t *testing.T) {
			sr := NewStreamReader(bytes.NewReader(tc.b), DefaultOptions())
			var got []float32
			for {
				pcm, err := sr.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = Interleave(got, pcm)
			}
			checkBounded(t, got)
			path := filepath.Join(dir, tc.name+".ogg")
			if err := os.WriteFile(path, tc.b, 0o644); err != nil {
				t.Fatal(err)
			}
			want, _ := reference(t, path)
			if len(got) != len(want) {
				t.Fatalf("%d samples, libvorbis gives %d", len(got), len(want))
			}
			odd := 0
			for i, w := range want {
				var exp float32
				switch {
				case math.IsNaN(float64(w)):
					exp = 0
				case w > maxSample:
					exp = maxSample
				case w < -maxSample:
					exp = -maxSample
				default:
					if math.Abs(float64(got[i]-w)) > 1e-5 {
						t.Fatalf("sample %d is %v, libvorbis gives %v", i, got[i], w)
					}
					continue
				}
				odd++
				if got[i] != exp {
					t.Fatalf("sample %d is %v, want %v (libvorbis gives %v)", i, got[i], exp, w)
				}
			}
			if odd == 0 {
				t.Fatal("libvorbis decodes every sample within the bound: the stream tests nothing")
			}
			if c := sr.Clamped(); c != int64(odd) {
				t.Errorf("Clamped says %d samples, %d were NaN or beyond the bound", c, odd)
			}
			t.Logf("%d of %d samples NaN or beyond ±%v in libvorbis", odd, len(want), maxSample)
		})
	}
}

// An encoder's stream has no sample out of bounds: Clamped is 0.
func TestEncodedStreamNotClamped(t *testing.T) {
	for _, name := range []string{"stereo22k.ogg", "surround.ogg", "ffmpeg.ogg"} {
		sr := NewStreamReader(bytes.NewReader(mustRead(t, name)), DefaultOptions())
		for {
			_, err := sr.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if c := sr.Clamped(); c != 0 {
			t.Errorf("%s: %d samples clamped", name, c)
		}
	}
}

// testdata/crafted.ogg, which other packages' tests read, is the first
// crafted stream byte for byte.
func TestCraftedFixture(t *testing.T) {
	if !bytes.Equal(mustRead(t, "crafted.ogg"), craftedStreams(t)[0].b) {
		t.Fatal("testdata/crafted.ogg is not craftedStreams' first stream: write it again (testdata/README.md)")
	}
}
