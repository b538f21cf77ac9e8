package vorbis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/segue-fm/segue/player/ogg"
	"github.com/segue-fm/segue/player/vorbis"
)

func ExampleNewStreamReader() {
	f, err := os.Open("testdata/stereo22k.ogg")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	sr := vorbis.NewStreamReader(f, vorbis.DefaultOptions())
	frames := 0
	for {
		pcm, err := sr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		frames += len(pcm[0])
	}
	info := sr.Info()
	fmt.Println(info.SampleRate, info.Channels, frames)
	// Output: 22050 2 11025
}

func ExampleDecoder() {
	b, err := os.ReadFile("testdata/surround.ogg")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := ogg.NewReader(bytes.NewReader(b))
	d := vorbis.NewDecoder(vorbis.DefaultOptions())
	produced := 0
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		if !d.Ready() {
			if err := d.ReadHeader(p.Data); err != nil {
				fmt.Println(err)
				return
			}
			continue
		}
		pcm, err := d.Decode(p.Data)
		if err != nil {
			fmt.Println(err)
			return
		}
		produced += len(pcm[0]) // before end trimming
	}
	fmt.Println(d.Info().Channels, produced >= 4800)
	// Output: 6 true
}
