package events

import (
	"bytes"
	"testing"

	"github.com/segue-fm/segue/core/api"
)

// FuzzDecodeBlock: a de-duplication block that decodes re-encodes to the
// same bytes, its lookups agree with its bitmap, and adding a new seq
// keeps it decodable; anything else is ErrCorrupt, never a panic.
func FuzzDecodeBlock(f *testing.F) {
	d := &dedupBlock{}
	for _, s := range []uint64{0, 5, 63, 64, 255} {
		d.add(s, s*7)
	}
	f.Add(d.encode())
	f.Add(make([]byte, 32))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		blk, err := decodeBlock(b)
		if err != nil {
			return
		}
		if !bytes.Equal(blk.encode(), b) {
			t.Fatalf("re-encoding differs")
		}
		n := 0
		for s := range uint64(BlockEvents) {
			if _, ok := blk.lookup(s); ok {
				n++
			} else if n == 0 || s%3 == 0 {
				blk.add(s, s)
				if h, ok := blk.lookup(s); !ok || h != s {
					t.Fatalf("seq %d not found after add", s)
				}
				n++
			}
		}
		if len(blk.hashes) != n {
			t.Fatalf("%d hashes for %d seqs", len(blk.hashes), n)
		}
		if _, err := decodeBlock(blk.encode()); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecodeChunk: a chunk that decodes holds 1–256 events inside one
// 256-offset block and yields one entry per event from any offset in it.
func FuzzDecodeChunk(f *testing.F) {
	c, _ := enc.Marshal(chunkRec{Batch: 3, Device: "d", User: "u", Received: 1,
		Events: []api.PlayWire{api.WireOf(api.PlayRecord{Seq: 1, Track: "t"}), api.WireOf(api.PlayRecord{Seq: 2, Track: "t"})}})
	f.Add(uint64(0), c)
	f.Add(uint64(255), c)
	f.Add(uint64(7), []byte{0x80})
	f.Fuzz(func(t *testing.T, start uint64, b []byte) {
		c, err := decodeChunk(start, b)
		if err != nil {
			return
		}
		n := uint64(len(c.Events))
		if n == 0 || n > BlockEvents || start/BlockEvents != (start+n-1)/BlockEvents {
			t.Fatalf("chunk of %d events at %d accepted", n, start)
		}
		out, err := c.entries(nil, start, start+n/2, BlockEvents)
		if err == nil && uint64(len(out)) != n-n/2 {
			t.Fatalf("%d entries from the middle of %d", len(out), n)
		}
	})
}
