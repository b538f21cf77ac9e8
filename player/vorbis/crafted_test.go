package vorbis

import (
	"math"
	"math/rand/v2"
	"testing"
)

// craftedStream returns a stream of the test builder (gen_test.go) whose
// setup craft changes before the headers and audio packets are written.
func craftedStream(tb testing.TB, seed uint64, cfg genConfig, craft func(*gSetup)) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5e9e))
	s := newSetup(rng, cfg)
	craft(s)
	hdr := s.headers()
	var packets [][]byte
	for range 24 {
		packets = append(packets, s.packet(rng, rng.IntN(len(s.modes)), meaningful))
	}
	b, err := oggStream(rng, s, hdr, packets, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// craftedStreams are valid Vorbis streams whose setup makes libvorbis
// decode NaN or absurdly large samples: floor 0 LSP coefficients on a
// root of the curve (an infinite floor times a zero residue), a floor 0
// curve past the float32 range, and residue vectors of 2^90.
func craftedStreams(tb testing.TB) []struct {
	name string
	b    []byte
} {
	tb.Helper()
	lsp := func(minV, delta float64) func(*gSetup) {
		return func(s *gSetup) {
			for _, f := range s.floors {
				for _, bi := range f.f0.books {
					s.books[bi].minV, s.books[bi].deltaV = minV, delta
				}
				f.f0.ampOffset = 255
			}
		}
	}
	huge := func(s *gSetup) {
		for _, r := range s.residues {
			for _, bk := range r.books {
				for _, bi := range bk {
					if bi >= 0 {
						s.books[bi].minV, s.books[bi].deltaV = math.Ldexp(-1, 90), math.Ldexp(1, 85)
					}
				}
			}
		}
	}
	return []struct {
		name string
		b    []byte
	}{
		{"floor 0 on an LSP root", craftedStream(tb, 1, genConfig{floor: 0, residue: 1, lookup: 1, channels: 1, bs: [2]int{256, 2048}}, lsp(0, 0))},
		{"floor 0 past float32", craftedStream(tb, 3, genConfig{floor: 0, residue: 2, lookup: 2, channels: 2, bs: [2]int{256, 2048}}, lsp(exact(0.02), exact(0.0001)))},
		{"residue of 2^90", craftedStream(tb, 2, genConfig{floor: 1, residue: 1, lookup: 1, channels: 2, bs: [2]int{256, 2048}}, huge)},
	}
}
