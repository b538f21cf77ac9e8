package vorbis

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/player/ogg"
)

// fixturePackets returns the packets of a committed fixture.
func fixturePackets(tb testing.TB, name string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	r := ogg.NewReader(bytes.NewReader(b))
	var ps [][]byte
	for {
		p, err := r.Next()
		if err != nil {
			return ps
		}
		ps = append(ps, append([]byte(nil), p.Data...))
	}
}

// fuzzOptions keeps fuzzed setups small so the fuzzer stays fast.
var fuzzOptions = DefaultOptions().WithMaxSetupBytes(4 << 20)

func FuzzHeaders(f *testing.F) {
	for _, name := range []string{"stereo22k.ogg", "surround.ogg", "ffmpeg.ogg"} {
		ps := fixturePackets(f, name)
		f.Add(ps[0], ps[1], ps[2])
	}
	f.Fuzz(func(t *testing.T, id, comment, setup []byte) {
		d := NewDecoder(fuzzOptions)
		for _, p := range [][]byte{id, comment, setup} {
			if d.ReadHeader(p) != nil {
				return
			}
		}
		// A setup that parses must decode any packet without panicking.
		d.Decode([]byte{0, 0xff, 0x13, 0x77, 0, 0, 0, 1, 2, 3})
		d.Decode(bytes.Repeat([]byte{0x5a}, 300))
	})
}

func FuzzDecodePacket(f *testing.F) {
	type stream struct {
		d   *Decoder
		max int
	}
	var streams []stream
	for _, name := range []string{"stereo22k.ogg", "surround.ogg", "ffmpeg.ogg"} {
		ps := fixturePackets(f, name)
		d := NewDecoder(DefaultOptions())
		for _, p := range ps[:3] {
			if err := d.ReadHeader(p); err != nil {
				f.Fatal(err)
			}
		}
		streams = append(streams, stream{d, d.Info().BlockSizes[1]})
		for _, p := range ps[3:min(len(ps), 10)] {
			f.Add(uint8(len(streams)-1), p)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, pkt []byte) {
		s := streams[int(which)%len(streams)]
		for range 2 { // once to prime, once overlapping
			pcm, err := s.d.Decode(pkt)
			if err != nil {
				return
			}
			for _, c := range pcm {
				if len(c) != len(pcm[0]) || len(c) > s.max/2 {
					t.Fatalf("channel of %d samples (first %d, block %d)", len(c), len(pcm[0]), s.max)
				}
			}
		}
	})
}

func FuzzStream(f *testing.F) {
	for _, name := range []string{"stereo22k.ogg", "surround.ogg", "ffmpeg.ogg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sr := NewStreamReader(bytes.NewReader(b), fuzzOptions)
		for range 5000 {
			if _, err := sr.Next(context.Background()); err != nil {
				return
			}
		}
	})
}
