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
