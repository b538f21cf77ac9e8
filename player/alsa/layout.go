package alsa

import "github.com/segue-fm/segue/player"

// defaultLayout returns the speaker positions ALSA's surround PCMs give n
// channels (surround40, 50, 51, 71: FL FR RL RR FC LFE SL SR), for a
// device that reports no channel map: the rears before the centre,
// unlike the player's Vorbis order. Three channels are taken as FL FR FC
// and seven as 7.1 without its sides plus a rear centre; other counts get
// unknown positions (their order is kept).
func defaultLayout(n int) []player.Position {
	const (
		fl, fr, fc, lfe = player.FrontLeft, player.FrontRight, player.FrontCentre, player.LFE
		rl, rr, sl, sr  = player.RearLeft, player.RearRight, player.SideLeft, player.SideRight
		rc              = player.RearCentre
	)
	switch n {
	case 1:
		return []player.Position{fc}
	case 2:
		return []player.Position{fl, fr}
	case 3:
		return []player.Position{fl, fr, fc}
	case 4:
		return []player.Position{fl, fr, rl, rr}
	case 5:
		return []player.Position{fl, fr, rl, rr, fc}
	case 6:
		return []player.Position{fl, fr, rl, rr, fc, lfe}
	case 7:
		return []player.Position{fl, fr, rl, rr, fc, lfe, rc}
	case 8:
		return []player.Position{fl, fr, rl, rr, fc, lfe, sl, sr}
	}
	return make([]player.Position, n)
}

// deviceOrder returns the order the sink writes the player's Vorbis-order
// frames in (player.ChannelOrder) for a device whose channel map gave
// positions, or nil positions for a device without one (defaultLayout).
// A map with no known position counts as none. nil keeps the order.
func deviceOrder(n int, positions []player.Position) []int {
	known := false
	for _, p := range positions {
		known = known || p != 0
	}
	if len(positions) != n || !known {
		positions = defaultLayout(n)
	}
	return player.ChannelOrder(positions)
}

// clamp returns v limited to [−1, 1], a NaN as 0 (silence): a crafted or
// damaged stream can decode to NaN, which min and max pass through and
// whose integer conversion is not defined.
func clamp(v float32) float32 {
	if v != v {
		return 0
	}
	return min(max(v, -1), 1)
}
