package events

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// TestAppendChunkMatchesMarshal: the hand-written chunk encoding is byte
// for byte what the core deterministic CBOR encoder gives, at every
// integer width boundary, for negative times, empty and long strings and
// chunks of 1 to BlockEvents events.
func TestAppendChunkMatchesMarshal(t *testing.T) {
	ints := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	sints := []int64{0, 1, -1, -24, -25, -256, -257, -65537, math.MinInt64, math.MaxInt64, 1_800_000_000_000}
	strs := []string{"", "a", strings.Repeat("x", 23), strings.Repeat("y", 24), strings.Repeat("z", 300), "ünïcode", strings.Repeat("w", 70000)}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(n int) int { return rng.IntN(n) }
	for i := range 300 {
		c := chunkRec{Batch: ints[pick(len(ints))], Device: model.DeviceID(strs[pick(len(strs))]),
			User: model.UserID(strs[pick(len(strs))]), Received: sints[pick(len(sints))]}
		for range 1 + pick(BlockEvents) {
			c.Events = append(c.Events, api.PlayWire{Seq: ints[pick(len(ints))], Track: model.TrackID(strs[pick(6)]),
				Tier: model.Tier(strs[pick(3)]), CtxKind: strs[pick(6)], CtxID: strs[pick(6)], StartedAt: sints[pick(len(sints))],
				PlayedMs: sints[pick(len(sints))], EndReason: model.EndReason(strs[pick(3)]), Source: model.PlaySource(strs[pick(3)]),
				Flags: uint8(ints[pick(6)])})
		}
		want, err := enc.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte{0xde, 0xad}
		got := appendChunk(bytes.Clone(prefix), &c)
		if !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], want) {
			t.Fatalf("chunk %d:\n got %x\nwant %x", i, got[2:min(len(got), 200)], want[:min(len(want), 198)])
		}
	}
}
