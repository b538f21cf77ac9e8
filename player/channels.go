package player

import "math"

// Position is a loudspeaker position of one channel of a frame.
type Position uint8

// The positions of the Vorbis I channel layouts (VorbisLayout).
const (
	FrontLeft Position = iota + 1
	FrontRight
	FrontCentre
	LFE
	RearLeft
	RearRight
	SideLeft
	SideRight
	RearCentre
)

// vorbisLayouts[n-1] is the Vorbis I layout of n channels (§4.3.9).
var vorbisLayouts = [8][]Position{
	{FrontCentre},
	{FrontLeft, FrontRight},
	{FrontLeft, FrontCentre, FrontRight},
	{FrontLeft, FrontRight, RearLeft, RearRight},
	{FrontLeft, FrontCentre, FrontRight, RearLeft, RearRight},
	{FrontLeft, FrontCentre, FrontRight, RearLeft, RearRight, LFE},
	{FrontLeft, FrontCentre, FrontRight, SideLeft, SideRight, RearCentre, LFE},
	{FrontLeft, FrontCentre, FrontRight, SideLeft, SideRight, RearLeft, RearRight, LFE},
}

// VorbisLayout returns the positions of the channels of an n-channel
// frame in the order the player writes them to a Sink: the Vorbis I order
// (specification §4.3.9; L C R for 3, FL FR RL RR for 4, FL C FR RL RR
// for 5, then LFE; 7 is FL C FR SL SR RC LFE and 8 FL C FR SL SR RL RR
// LFE), mono as FrontCentre. It returns nil for n outside 1 to 8, which
// has no layout. The slice is shared: callers must not modify it. A Sink
// whose device orders channels otherwise (ALSA, WAV files) reorders them.
func VorbisLayout(n int) []Position {
	if n < 1 || n > len(vorbisLayouts) {
		return nil
	}
	return vorbisLayouts[n-1]
}

// ChannelOrder returns, for each channel of a device whose channels sit
// at the positions device lists, the index of the channel of a frame of
// as many channels in Vorbis order (VorbisLayout) that plays there: the
// one at the same position, else a side channel at the rear of a device
// without sides and back, else (for a device channel of unknown position,
// 0) the first Vorbis channel nothing else took; −1 marks a device channel
// none plays at, left silent. It returns nil when the device's order is
// the Vorbis order, and for a count with no Vorbis layout (the order is
// kept). A mono device channel is FrontCentre.
func ChannelOrder(device []Position) []int {
	vorbis := VorbisLayout(len(device))
	if vorbis == nil {
		return nil
	}
	order := make([]int, len(device))
	used := make([]bool, len(vorbis))
	// take returns the first unused Vorbis channel at p (any, for p 0),
	// marking it used, or −1.
	take := func(p Position) int {
		for i, q := range vorbis {
			if !used[i] && (q == p || p == 0) {
				used[i] = true
				return i
			}
		}
		return -1
	}
	pair := map[Position]Position{SideLeft: RearLeft, RearLeft: SideLeft, SideRight: RearRight, RearRight: SideRight}
	for d, p := range device {
		order[d] = -1
		if p != 0 {
			order[d] = take(p)
		}
	}
	for d, p := range device {
		if order[d] < 0 && pair[p] != 0 {
			order[d] = take(pair[p])
		}
	}
	for d, p := range device {
		if order[d] < 0 && p == 0 {
			order[d] = take(0)
		}
	}
	if inOrder(order) {
		return nil
	}
	return order
}

// inOrder reports whether order keeps every channel where it is.
func inOrder(order []int) bool {
	for d, i := range order {
		if d != i {
			return false
		}
	}
	return true
}

// Reorder writes the frames of src (Vorbis order) to dst in a device's
// order (order from ChannelOrder; a device channel at −1 is silent) and
// returns dst, grown as needed: the caller owns both. A Sink whose
// device orders channels otherwise calls it on each Write.
func Reorder(dst, src []float32, order []int) []float32 {
	ch := len(order)
	if cap(dst) < len(src) {
		dst = make([]float32, len(src))
	}
	dst = dst[:len(src)]
	clear(dst)
	for f := 0; f+ch <= len(src); f += ch {
		for d, i := range order {
			if i >= 0 {
				dst[f+d] = src[f+i]
			}
		}
	}
	return dst
}

// mapChannels writes len(dst)/outCh frames of src (inCh channels) to dst
// scaled by gain: equal counts copy; between counts of 1 to 8 each output
// channel is a weighted sum of the input channels (mixes); other counts
// copy the first channels and leave the rest silent (a mono track fills
// the first two).
func mapChannels(dst, src []float32, inCh, outCh int, gain float32) {
	n := len(dst) / outCh
	if inCh == outCh {
		for i, v := range src[:n*inCh] {
			dst[i] = v * gain
		}
		return
	}
	if inCh <= len(mixes) && outCh <= len(mixes) {
		w := mixes[inCh-1][outCh-1]
		for f := range n {
			in := src[f*inCh : (f+1)*inCh]
			for c := range outCh {
				var v float32
				for i, x := range in {
					v += x * w[c][i]
				}
				dst[f*outCh+c] = v * gain
			}
		}
		return
	}
	for f := range n {
		for c := range outCh {
			var v float32
			switch {
			case c < inCh:
				v = src[f*inCh+c]
			case inCh == 1 && c == 1:
				v = src[f]
			}
			dst[f*outCh+c] = v * gain
		}
	}
}

// mixes[inCh-1][outCh-1][c] holds the weight of each input channel in
// output channel c, for counts of 1 to 8 that differ: a mono or stereo
// output gets stereoDownmix (a mono track is duplicated to stereo), a
// wider one surroundMix.
var mixes = func() (t [8][8][][]float32) {
	for in := 1; in <= 8; in++ {
		for out := 1; out <= 8; out++ {
			switch {
			case in == out:
			case in == 1 && out == 2:
				t[0][1] = [][]float32{{1}, {1}}
			case out <= 2:
				l, r := stereoDownmix(in)
				if out == 2 {
					t[in-1][1] = [][]float32{l, r}
					continue
				}
				mono := make([]float32, in)
				for i := range mono {
					mono[i] = (l[i] + r[i]) / 2
				}
				t[in-1][0] = [][]float32{mono}
			default:
				t[in-1][out-1] = surroundMix(in, out)
			}
		}
	}
	return t
}()

// surroundMix returns the weights of an in-channel track played to an
// output of 3 to 8 channels, both in Vorbis order: each input channel goes
// to the output channel of its position; one the output lacks goes where
// the nearest speakers are (a side channel to the rear one and back, a
// rear centre to both rears or sides at 1/√2, the front centre to both
// fronts at 1/√2, the LFE nowhere); a mono track plays from the centre,
// or from both fronts at full level without one. An output channel whose
// weights sum above 1 is scaled to sum to 1, so the mix never clips; the
// channels nothing maps to stay silent (a stereo track on 5.1 plays from
// the two fronts only).
func surroundMix(in, out int) [][]float32 {
	const a = math.Sqrt2 / 2
	outPos := VorbisLayout(out)
	at := func(p Position) int {
		for i, q := range outPos {
			if q == p {
				return i
			}
		}
		return -1
	}
	w := make([][]float64, out)
	for c := range w {
		w[c] = make([]float64, in)
	}
	add := func(i int, weight float64, ps ...Position) bool {
		for _, p := range ps {
			if at(p) < 0 {
				return false
			}
		}
		for _, p := range ps {
			w[at(p)][i] += weight
		}
		return true
	}
	for i, p := range VorbisLayout(in) {
		if in == 1 {
			_ = add(i, 1, FrontCentre) || add(i, 1, FrontLeft, FrontRight)
			continue
		}
		switch p {
		case FrontCentre:
			_ = add(i, 1, p) || add(i, a, FrontLeft, FrontRight)
		case SideLeft, RearLeft: // SideLeft+RearLeft-p: the other of the pair
			_ = add(i, 1, p) || add(i, 1, SideLeft+RearLeft-p) || add(i, a, FrontLeft)
		case SideRight, RearRight:
			_ = add(i, 1, p) || add(i, 1, SideRight+RearRight-p) || add(i, a, FrontRight)
		case RearCentre:
			_ = add(i, 1, p) || add(i, a, RearLeft, RearRight) || add(i, a, SideLeft, SideRight) || add(i, a, FrontLeft, FrontRight)
		default: // the fronts, and the LFE where the output has one
			add(i, 1, p)
		}
	}
	m := make([][]float32, out)
	for c, row := range w {
		var sum float64
		for _, x := range row {
			sum += x
		}
		scale := 1.0
		if sum > 1 {
			scale = 1 / sum
		}
		m[c] = make([]float32, in)
		for i, x := range row {
			m[c][i] = float32(x * scale)
		}
	}
	return m
}

// stereoDownmix returns the left and right weights of the input channels
// of a track of 2 to 8 channels in Vorbis I order (§4.3.9: L C R for 3,
// FL FR RL RR for 4, FL C FR RL RR for 5, then LFE; 7 adds a rear centre,
// 8 side and rear pairs): each front side at 1, the centre and every
// surround at 1/√2 into its side (a rear centre into both), the LFE
// left out (ITU-R BS.775), each output's weights then scaled to sum to 1
// so the downmix never clips (as ffmpeg's default). A track played to a
// stereo output keeps its centre, surrounds and right channel instead of
// just its first two channels (front left and, in Vorbis order, centre).
func stereoDownmix(channels int) (l, r []float32) {
	const a = math.Sqrt2 / 2
	var lw, rw []float64
	switch channels {
	case 2:
		lw, rw = []float64{1, 0}, []float64{0, 1}
	case 3:
		lw, rw = []float64{1, a, 0}, []float64{0, a, 1}
	case 4:
		lw, rw = []float64{1, 0, a, 0}, []float64{0, 1, 0, a}
	case 5:
		lw, rw = []float64{1, a, 0, a, 0}, []float64{0, a, 1, 0, a}
	case 6:
		lw, rw = []float64{1, a, 0, a, 0, 0}, []float64{0, a, 1, 0, a, 0}
	case 7:
		lw, rw = []float64{1, a, 0, a, 0, a, 0}, []float64{0, a, 1, 0, a, a, 0}
	default:
		lw, rw = []float64{1, a, 0, a, 0, a, 0, 0}, []float64{0, a, 1, 0, a, 0, a, 0}
	}
	norm := func(w []float64) []float32 {
		var sum float64
		for _, x := range w {
			sum += x
		}
		out := make([]float32, len(w))
		for i, x := range w {
			out[i] = float32(x / sum)
		}
		return out
	}
	return norm(lw), norm(rw)
}
