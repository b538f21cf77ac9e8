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
	return fixturePacketsOf(tb, b)
}

// fixturePacketsOf returns the packets of Ogg stream b (copied).
func fixturePacketsOf(tb testing.TB, b []byte) [][]byte {
	tb.Helper()
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

// builderSeeds returns streams of the test builder (gen_test.go) in the
// shapes no encoder emits: floor 0, residue 0 and lookup type 2.
func builderSeeds(tb testing.TB) (hdrs [][3][]byte, packets [][][]byte, streams [][]byte) {
	tb.Helper()
	for i, cfg := range []genConfig{
		{floor: 0, residue: 0, lookup: 1, channels: 2, bs: [2]int{256, 2048}},
		{floor: 1, residue: 0, lookup: 2, channels: 1, bs: [2]int{512, 4096}},
		{floor: 0, residue: 2, lookup: 2, channels: 2, bs: [2]int{256, 2048}},
		{floor: 0, residue: 1, lookup: 2, channels: 1, bs: [2]int{512, 4096}},
	} {
		_, hdr, ps, b, err := genStream(uint64(i), cfg, 8, 0)
		if err != nil {
			tb.Fatal(err)
		}
		hdrs, packets, streams = append(hdrs, hdr), append(packets, ps), append(streams, b)
	}
	return hdrs, packets, streams
}

func FuzzHeaders(f *testing.F) {
	for _, name := range []string{"stereo22k.ogg", "surround.ogg", "ffmpeg.ogg"} {
		ps := fixturePackets(f, name)
		f.Add(ps[0], ps[1], ps[2])
	}
	hdrs, _, _ := builderSeeds(f)
	for _, h := range hdrs {
		f.Add(h[0], h[1], h[2])
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
	hdrs, packets, _ := builderSeeds(f)
	for _, c := range craftedStreams(f) {
		ps := fixturePacketsOf(f, c.b)
		hdrs, packets = append(hdrs, [3][]byte(ps[:3])), append(packets, ps[3:])
	}
	for i, h := range hdrs {
		d := NewDecoder(DefaultOptions())
		for _, p := range h {
			if err := d.ReadHeader(p); err != nil {
				f.Fatal(err)
			}
		}
		streams = append(streams, stream{d, d.Info().BlockSizes[1]})
		for _, p := range packets[i] {
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
				checkBounded(t, c)
			}
		}
	})
}

// addStreamSeeds seeds f with the test streams in testdata and the
// builder's streams.
func addStreamSeeds(f *testing.F) {
	for _, name := range []string{"stereo22k.ogg", "surround.ogg", "ffmpeg.ogg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	_, _, streams := builderSeeds(f)
	for _, b := range streams {
		f.Add(b)
	}
	for _, c := range craftedStreams(f) {
		f.Add(c.b)
	}
}

// checkBounded fails t on a sample that is NaN, infinite or beyond
// ±maxSample.
func checkBounded(t *testing.T, s []float32) {
	t.Helper()
	for i, v := range s {
		if !(v >= -maxSample && v <= maxSample) {
			t.Fatalf("sample %d is %v", i, v)
		}
	}
}

func FuzzStream(f *testing.F) {
	addStreamSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		sr := NewStreamReader(bytes.NewReader(b), fuzzOptions)
		for range 5000 {
			pcm, err := sr.Next(context.Background())
			if err != nil {
				return
			}
			for _, c := range pcm {
				checkBounded(t, c)
			}
		}
	})
}
