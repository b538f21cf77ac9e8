package engine

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestHeadCoversWorkletPrime: a prefetched track's head holds at least the
// frames the worklet waits for before it plays (PRIME in
// wasm/web/worklet.js) at an output rate of 0.9 × the track's (a 48 kHz
// track into a 44.1 kHz context), so a prefetched play starts from the
// head alone instead of waiting for the decoder to redo the head and go on.
func TestHeadCoversWorkletPrime(t *testing.T) {
	js, err := os.ReadFile("../web/worklet.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`PRIME = (\d+)`).FindSubmatch(js)
	if m == nil {
		t.Fatal("worklet.js: no PRIME constant")
	}
	prime, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if out := headFrames * 44100 / 48000; out < prime {
		t.Fatalf("a head of %d frames gives %d output frames at 44.1/48 kHz, below the worklet's PRIME %d", headFrames, out, prime)
	}
}
