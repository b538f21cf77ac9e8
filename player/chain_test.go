package player

import (
	"fmt"
	"math"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

// runManifests returns the low-tier manifests (timing only) of an album
// of masters at 44.1 kHz cut at cuts, resampled once to 16 kHz.
func runManifests(cuts []int64) []*model.Manifest {
	var ms []*model.Manifest
	for i := range len(cuts) - 1 {
		t := &model.Timing{SourceRate: 44100, RunOffset: cuts[i], SourceSamples: cuts[i+1] - cuts[i]}
		if i > 0 {
			t.Follows = model.TrackID(fmt.Sprint("t", i-1))
		}
		_, n := model.ResampledSpan(t.RunOffset, t.SourceSamples, 44100, 16000)
		ms = append(ms, &model.Manifest{TrackID: model.TrackID(fmt.Sprint("t", i)), SampleRate: 16000, Channels: 2, TotalSamples: n, Timing: t})
	}
	return ms
}

// The frame ranges the chain gives an album's tracks tile its output, and
// each track starts at the output frame nearest its true position: exactly
// at the master's rate; elsewhere within 0.5 frame of the chain's grid,
// which is set within 1/(2M) frame of the first track's true start.
func TestChainSpansTileTheRun(t *testing.T) {
	cuts := []int64{0, 617_003, 1_299_709, 1_979_993, 2_645_999}
	for _, out := range []int{44100, 48000, 22050, 96000, 16000} {
		for start := range 4 {
			t.Run(fmt.Sprintf("%d Hz from track %d", out, start+1), func(t *testing.T) {
				c, err := newChain(16000, out, 2)
				if err != nil {
					t.Fatal(err)
				}
				ms := runManifests(cuts)
				in := c.startIn(ms[start])
				origin, prev := int64(0), int64(0)
				bound := 0.5 + 0.5/float64(c.m)
				if out == 44100 {
					bound = 0 // integer positions: exact
				}
				for j := start; j < 4; j++ {
					first, end := c.span(in, ms[j])
					if j == start {
						origin = first
					} else if first != prev {
						t.Fatalf("track %d starts at %d, the previous ends at %d", j+1, first, prev)
					}
					truth := float64(cuts[j]-cuts[start]) * float64(out) / 44100
					if d := math.Abs(float64(first-origin) - truth); d > bound+1e-9 {
						t.Errorf("track %d starts %.3f frames from its true position (bound %.3f)", j+1, d, bound)
					}
					prev = end
					in += ms[j].TotalSamples
				}
				truth := float64(cuts[4]-cuts[start]) * float64(out) / 44100
				if d := math.Abs(float64(prev-origin) - truth); d > bound+1e-9 {
					t.Errorf("the run lasts %d frames, truly %.3f", prev-origin, truth)
				}
			})
		}
	}
}

func TestContinues(t *testing.T) {
	ms := runManifests([]int64{0, 1000, 2000, 3000})
	plain := &model.Manifest{TrackID: "p", SampleRate: 16000, Channels: 2, TotalSamples: 10}
	tests := []struct {
		name string
		a, b *model.Manifest
		want bool
	}{
		{"next in run", ms[0], ms[1], true},
		{"skips one", ms[0], ms[2], false},
		{"backwards", ms[1], ms[0], false},
		{"repeat", ms[1], ms[1], false},
		{"untimed pair", plain, plain, true},
		{"timed after untimed", plain, ms[0], false},
		{"untimed after timed", ms[2], plain, false},
	}
	for _, tc := range tests {
		if got := continues(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: continues = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMapChannelsDownmix: a track with more channels than a mono or
// stereo output is downmixed from its Vorbis channel order, never cut to
// its first channels (which for 5.1 are front left and centre).
func TestMapChannelsDownmix(t *testing.T) {
	const a = math.Sqrt2 / 2
	tests := []struct {
		name    string
		in      []float32 // one frame
		outCh   int
		want    []float64
		comment string
	}{
		// FL C FR RL RR LFE
		{"5.1 to stereo", []float32{1, 0, 0, 0, 0, 0}, 2, []float64{1 / (1 + 2*a), 0}, "front left only on the left"},
		{"5.1 centre", []float32{0, 1, 0, 0, 0, 0}, 2, []float64{a / (1 + 2*a), a / (1 + 2*a)}, "centre on both sides"},
		{"5.1 front right", []float32{0, 0, 1, 0, 0, 0}, 2, []float64{0, 1 / (1 + 2*a)}, "front right on the right"},
		{"5.1 rear right", []float32{0, 0, 0, 0, 1, 0}, 2, []float64{0, a / (1 + 2*a)}, "rear right on the right"},
		{"5.1 LFE", []float32{0, 0, 0, 0, 0, 1}, 2, []float64{0, 0}, "LFE left out"},
		{"5.1 full scale", []float32{1, 1, 1, 1, 1, 1}, 2, []float64{1, 1}, "never above full scale"},
		// L C R
		{"3.0 to stereo", []float32{0, 0, 1}, 2, []float64{0, 1 / (1 + a)}, "right on the right"},
		{"stereo to mono", []float32{1, 0}, 1, []float64{0.5}, "both sides"},
		{"5.1 to mono", []float32{0, 0, 1, 0, 0, 0}, 1, []float64{0.5 / (1 + 2*a)}, "front right in the mono"},
		{"9 channels keep the first", []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 2, []float64{1, 2}, "no layout"},
		{"mono to stereo", []float32{1}, 2, []float64{1, 1}, "duplicated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, tc.outCh)
			mapChannels(dst, tc.in, len(tc.in), tc.outCh, 1)
			for c, w := range tc.want {
				if math.Abs(float64(dst[c])-w) > 1e-6 {
					t.Fatalf("%s: output %v, want %v", tc.comment, dst, tc.want)
				}
			}
		})
	}
}
