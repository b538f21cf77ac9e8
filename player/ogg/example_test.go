package ogg_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/segue-fm/segue/player/ogg"
)

// Three one-packet pages of one logical stream, with junk before the
// first: the Reader finds the capture pattern, counts the bytes it
// skipped, and returns the packets with their granule positions and the
// stream's first and last flags.
func ExampleReader() {
	stream := []byte("junk")
	for i, pkt := range []string{"header", "audio 1", "audio 2"} {
		flags, granule := byte(0), int64(1024*i)
		switch i {
		case 0:
			flags = ogg.FlagBOS
		case 2:
			flags = ogg.FlagEOS
		}
		page, err := ogg.SinglePacketPage(7, uint32(i), granule, flags, []byte(pkt))
		if err != nil {
			log.Fatal(err)
		}
		stream = append(stream, page...)
	}

	r := ogg.NewReader(bytes.NewReader(stream))
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q serial %d granule %d bos %t eos %t\n", p.Data, p.Serial, p.Granule, p.BOS, p.EOS)
	}
	fmt.Println("skipped", r.Lost)
	// Output:
	// "header" serial 7 granule 0 bos true eos false
	// "audio 1" serial 7 granule 1024 bos false eos false
	// "audio 2" serial 7 granule 2048 bos false eos true
	// skipped 4
}
