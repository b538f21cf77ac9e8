package alsa

import (
	"math"
	"slices"
	"testing"

	"github.com/segue-fm/segue/player"
)

// TestDeviceOrder: the player's Vorbis-order frames reach each ALSA
// speaker at its position, from the device's channel map or, without
// one, ALSA's surround order. Before, a 5.1 frame was written as it came:
// the centre played from the front right and the rears from the centre
// and the LFE.
func TestDeviceOrder(t *testing.T) {
	const (
		fl, fr, fc, lfe = player.FrontLeft, player.FrontRight, player.FrontCentre, player.LFE
		rl, rr, sl, sr  = player.RearLeft, player.RearRight, player.SideLeft, player.SideRight
	)
	tests := []struct {
		name      string
		n         int
		positions []player.Position
		want      []int
	}{
		{"stereo, no map", 2, nil, nil},
		{"mono, no map", 1, nil, nil},
		{"5.1, no map: ALSA's surround51", 6, nil, []int{0, 2, 3, 4, 1, 5}},
		{"7.1, no map: ALSA's surround71", 8, nil, []int{0, 2, 5, 6, 1, 7, 3, 4}},
		{"3.0, no map", 3, nil, []int{0, 2, 1}},
		{"5.1 map in WAV order", 6, []player.Position{fl, fr, fc, lfe, rl, rr}, []int{0, 2, 1, 5, 3, 4}},
		{"5.1 with sides", 6, []player.Position{fl, fr, fc, lfe, sl, sr}, []int{0, 2, 1, 5, 3, 4}},
		{"map of unknowns is no map", 6, make([]player.Position, 6), []int{0, 2, 3, 4, 1, 5}},
		{"map of the wrong length is no map", 4, []player.Position{fl, fr}, nil},
		{"12 channels kept", 12, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := deviceOrder(tc.n, tc.positions); !slices.Equal(got, tc.want) {
				t.Fatalf("deviceOrder(%d, %v) = %v, want %v", tc.n, tc.positions, got, tc.want)
			}
		})
	}
}

// TestClamp: samples reach the device within [−1, 1], a NaN as silence.
// Before, min and max passed a NaN through: to a float device as NaN, to
// an S16 one through an integer conversion Go leaves undefined.
func TestClamp(t *testing.T) {
	for _, tc := range []struct{ in, want float32 }{
		{0.5, 0.5}, {2, 1}, {-2, -1}, {float32(math.Inf(1)), 1}, {float32(math.Inf(-1)), -1}, {float32(math.NaN()), 0},
	} {
		if got := clamp(tc.in); got != tc.want {
			t.Errorf("clamp(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
