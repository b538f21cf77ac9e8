//go:build alsa && cgo

package alsa_test

import (
	"context"
	"fmt"

	"github.com/segue-fm/segue/player/alsa"
)

func ExampleOpen() {
	ctx := context.Background()
	// "null" discards the audio; use DefaultOptions() for the speakers.
	sink, err := alsa.Open(ctx, alsa.DefaultOptions().WithDevice("null").WithSampleFormat(alsa.FormatS16))
	if err != nil {
		fmt.Println(err)
		return
	}
	rate, ch := sink.Format()
	silence := make([]float32, 4410*ch) // 100 ms
	if err := sink.Write(ctx, silence); err != nil {
		fmt.Println(err)
	}
	fmt.Println(rate, ch, sink.SampleFormat(), sink.Frames())
	if err := sink.Close(); err != nil { // drains: the last frames are played
		fmt.Println(err)
	}
	// Output: 44100 2 S16_LE 4410
}
