package player_test

import (
	"fmt"

	"github.com/segue-fm/segue/player"
)

// A device whose 5.1 channels are in ALSA's surround order (rears before
// the centre) takes the player's Vorbis-order channels in this order:
// its first channel is the frame's channel 0 (front left), its fifth
// the frame's channel 1 (centre).
func ExampleChannelOrder() {
	device := []player.Position{
		player.FrontLeft, player.FrontRight, player.RearLeft, player.RearRight, player.FrontCentre, player.LFE,
	}
	fmt.Println(player.ChannelOrder(device))
	fmt.Println(player.ChannelOrder(player.VorbisLayout(6)) == nil)
	// Output:
	// [0 2 3 4 1 5]
	// true
}
