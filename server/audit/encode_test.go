package audit

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAppendRecordMatchesMarshal: the hand-written record encoding is
// byte for byte what the core deterministic CBOR encoder gives, at every
// integer width boundary, for negative times and with each omitempty
// field empty or set.
func TestAppendRecordMatchesMarshal(t *testing.T) {
	ints := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	sints := []int64{0, 1, -1, -24, -25, -256, -257, -65537, math.MinInt64, math.MaxInt64, 1_800_000_000_000}
	strs := []string{"", "a", strings.Repeat("x", 23), strings.Repeat("y", 24), strings.Repeat("z", 300), "ünïcode", strings.Repeat("w", 70000)}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(n int) int { return rng.IntN(n) }
	for i := range 5000 {
		r := Record{Index: ints[pick(len(ints))], Kind: strs[pick(3)], Time: sints[pick(len(sints))],
			Device: strs[pick(len(strs))], User: strs[pick(len(strs))], Seq: ints[pick(len(ints))],
			Track: strs[pick(len(strs))], Started: sints[pick(len(sints))], Played: sints[pick(len(sints))],
			Reason: strs[pick(len(strs))], Offset: ints[pick(len(ints))]}
		for j := range r.Prev {
			r.Prev[j] = byte(rng.Uint32())
		}
		want, err := enc.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte{0xde, 0xad}
		got := appendRecord(bytes.Clone(prefix), &r)
		if !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], want) {
			t.Fatalf("record %d %+v:\n got %x\nwant %x", i, r, got[2:], want)
		}
	}
}
