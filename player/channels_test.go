package player

import (
	"bytes"
	"context"
	"math"
	"slices"
	"testing"

	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/player/wav"
)

// TestMapChannels: a track with more channels than a mono or stereo
// output is downmixed from its Vorbis channel order, never cut to its
// first channels (which for 5.1 are front left and centre); on a wider
// output each channel plays from the speaker of its position.
func TestMapChannels(t *testing.T) {
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
		// To 3–8 channels each goes to the speaker of its position. Before,
		// every output channel past the track's took its last channel: a
		// stereo track on 5.1 played its right channel from the centre, both
		// rears and the LFE.
		{"stereo to 5.1: fronts only", []float32{1, 0.5}, 6, []float64{1, 0, 0.5, 0, 0, 0}, "by position"},
		{"mono to 5.1: centre", []float32{1}, 6, []float64{0, 1, 0, 0, 0, 0}, "by position"},
		{"mono to 4.0: both fronts", []float32{1}, 4, []float64{1, 1, 0, 0}, "by position"},
		{"stereo to 3.0", []float32{1, 0.5}, 3, []float64{1, 0, 0.5}, "by position"},
		{"5.1 to 7.1: rears stay rears", []float32{0, 0, 0, 1, 0.5, 0.25}, 8, []float64{0, 0, 0, 0, 0, 1, 0.5, 0.25}, "by position"},
		{"7.1 to 5.1: sides join the rears", []float32{0, 0, 0, 1, 0, 1, 0, 0}, 6, []float64{0, 0, 0, 1, 0, 0}, "by position"},
		{"6.1 to 5.1: rear centre on both rears", []float32{0, 0, 0, 0, 0, 1, 0}, 6, []float64{0, 0, 0, a / (1 + a), a / (1 + a), 0}, "by position"},
		{"5.1 to 4.0: centre on both fronts, no LFE", []float32{0, 1, 0, 0, 0, 1}, 4, []float64{a / (1 + a), a / (1 + a), 0, 0}, "by position"},
		{"4.0 to 6.1: rears to sides", []float32{0, 0, 1, 0.5}, 7, []float64{0, 0, 0, 1, 0.5, 0, 0}, "by position"},
		{"9 to 6: the first six", []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 6, []float64{1, 2, 3, 4, 5, 6}, "by position"},
		{"stereo to 10: the first two", []float32{1, 2}, 10, []float64{1, 2, 0, 0, 0, 0, 0, 0, 0, 0}, "by position"},
		{"mono to 9: both fronts", []float32{1}, 9, []float64{1, 1, 0, 0, 0, 0, 0, 0, 0}, "by position"},
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

// TestMapChannelsNeverClip: for every pair of channel counts with a
// layout, a full-scale frame maps to nothing above full scale.
func TestMapChannelsNeverClip(t *testing.T) {
	for in := 1; in <= 8; in++ {
		for out := 1; out <= 8; out++ {
			src := make([]float32, in)
			for i := range src {
				src[i] = 1
			}
			dst := make([]float32, out)
			mapChannels(dst, src, in, out, 1)
			for c, v := range dst {
				if v > 1+1e-6 {
					t.Errorf("%d → %d channels: output %d is %v", in, out, c, v)
				}
			}
		}
	}
}

// TestChannelOrder: a device's channel positions give the order the
// player's Vorbis-order frames are written in.
func TestChannelOrder(t *testing.T) {
	tests := []struct {
		name   string
		device []Position
		want   []int
	}{
		{"stereo keeps", []Position{FrontLeft, FrontRight}, nil},
		{"Vorbis 5.1 keeps", VorbisLayout(6), nil},
		{"ALSA 5.1", []Position{FrontLeft, FrontRight, RearLeft, RearRight, FrontCentre, LFE}, []int{0, 2, 3, 4, 1, 5}},
		{"ALSA 7.1", []Position{FrontLeft, FrontRight, RearLeft, RearRight, FrontCentre, LFE, SideLeft, SideRight}, []int{0, 2, 5, 6, 1, 7, 3, 4}},
		{"6.1 on rears", []Position{FrontLeft, FrontRight, RearLeft, RearRight, FrontCentre, LFE, RearCentre}, []int{0, 2, 3, 4, 1, 6, 5}},
		{"4.0 on sides", []Position{FrontLeft, FrontRight, SideLeft, SideRight}, nil},
		{"unknown takes what is left", []Position{FrontRight, 0, FrontLeft}, []int{2, 1, 0}},
		{"a position no channel has is silent", []Position{FrontLeft, FrontRight, RearCentre}, []int{0, 2, -1}},
		{"no layout", make([]Position, 9), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ChannelOrder(tc.device); !slices.Equal(got, tc.want) {
				t.Fatalf("ChannelOrder(%v) = %v, want %v", tc.device, got, tc.want)
			}
		})
	}
}

// TestWAVSinkChannelOrder: a WAVSink writes the player's Vorbis-order
// frames in WAV order, the order its header's speaker mask declares and
// oggdec writes (vorbis.WAVOrder is checked against oggdec). Before, a
// 5.1 file held the centre where its mask says front right.
func TestWAVSinkChannelOrder(t *testing.T) {
	for ch := 1; ch <= 8; ch++ {
		var buf bytes.Buffer
		s, err := NewWAVSink(&buf, 48000, ch, wav.F32)
		if err != nil {
			t.Fatal(err)
		}
		frame := make([]float32, ch)
		for i := range frame {
			frame[i] = float32(i+1) / 10
		}
		if err := s.Write(context.Background(), frame); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		a, err := wav.Read(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		got := a.Samples
		if want := wav.ChannelMask(ch); ch > 2 && a.ChannelMask != want {
			t.Fatalf("%d channels: mask %#x, want %#x", ch, a.ChannelMask, want)
		}
		for d, i := range vorbis.WAVOrder(ch) {
			if got[d] != frame[i] {
				t.Fatalf("%d channels: WAV channel %d holds %v, want Vorbis channel %d's %v (file %v)", ch, d, got[d], i, frame[i], got)
			}
		}
	}
}
