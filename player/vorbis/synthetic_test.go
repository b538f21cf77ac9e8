//go:build !js && !wasip1

package vorbis

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// syntheticConfigs are the stream shapes of TestSyntheticMatchesLibvorbis:
// every floor × residue × lookup combination that matters for issue #3
// (floor 0, residue 0 and lookup type 2 are not emitted by oggenc or
// ffmpeg), mono and coupled stereo, both common block size pairs.
func syntheticConfigs() []genConfig {
	kinds := [][3]int{ // floor, residue, lookup
		{0, 0, 1}, {1, 0, 2}, {0, 2, 2}, {0, 1, 1}, {0, 1, 2}, {1, 2, 2}, {1, 1, 2}, {0, 0, 2},
	}
	var cfgs []genConfig
	for _, k := range kinds {
		for _, ch := range []int{1, 2} {
			for _, bs := range [][2]int{{256, 2048}, {512, 4096}} {
				cfgs = append(cfgs, genConfig{floor: k[0], residue: k[1], lookup: k[2], channels: ch, bs: bs})
			}
		}
	}
	return cfgs
}

// TestSyntheticMatchesLibvorbis builds streams with the test builder
// (gen_test.go), decodes them with libvorbisfile and with StreamReader,
// and requires the same sample count and max abs error ≤ 1e-5, RMS ≤ 1e-6.
// Each stream mixes meaningful packets (all fields in range), packets cut
// short (end of packet inside floors and residue partitions) and random
// bits after a valid mode; its last page trims the end.
func TestSyntheticMatchesLibvorbis(t *testing.T) {
	oracle(t)
	dir := t.TempDir()
	for _, cfg := range syntheticConfigs() {
		for seed := range uint64(3) {
			name := fmt.Sprintf("%v-seed%d", cfg, seed)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s, hdr, packets, stream, err := genStream(seed, cfg, 40, int(seed)*37)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, name+".ogg")
				if err := os.WriteFile(path, stream, 0o644); err != nil {
					t.Fatal(err)
				}
				want, ch := reference(t, path)
				if ch != cfg.channels {
					t.Fatalf("libvorbis reports %d channels, want %d", ch, cfg.channels)
				}
				got, _ := decodeFile(t, path)
				compare(t, name, got, want, 1e-5, 1e-6)
				checkSignal(t, s, hdr, packets, want)
			})
		}
	}
}

// checkSignal requires the stream to be audible, not trivially silent:
// over a third of the packets decode to nonzero samples (a quarter when
// one mode's residue has no books), and the peak is large enough for the
// absolute error bounds to mean something and small enough for float32
// rounding to stay below them.
func checkSignal(t *testing.T, s *gSetup, hdr [3][]byte, packets [][]byte, ref []float32) {
	t.Helper()
	d := NewDecoder(DefaultOptions())
	for _, h := range hdr {
		if err := d.ReadHeader(h); err != nil {
			t.Fatalf("header: %v", err)
		}
	}
	nonzero, outputs := 0, 0
	for _, p := range packets {
		pcm, err := d.Decode(p)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(pcm[0]) == 0 {
			continue
		}
		outputs++
	scan:
		for _, c := range pcm {
			for _, v := range c {
				if v != 0 {
					nonzero++
					break scan
				}
			}
		}
	}
	peak := 0.0
	for _, v := range ref {
		peak = max(peak, math.Abs(float64(v)))
	}
	t.Logf("%d of %d outputs nonzero, peak %.3g", nonzero, outputs, peak)
	need := 3
	for _, r := range s.residues {
		if !slices.ContainsFunc(r.cascade, func(c int) bool { return c != 0 }) {
			need = 4
		}
	}
	if nonzero*need <= outputs {
		t.Errorf("only %d of %d packets decode to nonzero samples", nonzero, outputs)
	}
	if peak < 1e-3 || peak > 10 {
		t.Errorf("peak %.3g outside [1e-3, 10]: tune the builder's value ranges", peak)
	}
}
