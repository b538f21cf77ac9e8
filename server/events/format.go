package events

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
)

// The StoreLog's format 2 keeps no key per event (docs/ARCHITECTURE.md
// §5, "Play counting"):
//
//   - ev/c/<u64 start>: a chunk, the accepted events of one batch at the
//     consecutive offsets start, start+1, …, never crossing a multiple of
//     BlockEvents, so the chunk holding offset o is found under the 7-byte
//     prefix of o's big-endian form (at most BlockEvents chunks).
//   - ev/s/<u16 len><device><u64 seq/256>: the de-duplication block of a
//     device's seqs 256·k … 256·k+255: a 256-bit bitmap of the seqs in the
//     log, then the first 8 bytes of each one's content hash (CheckBatch)
//     in ascending seq order. A retry of an event is found by its bit; the
//     hash tells Duplicate from Conflict (two different contents share 8
//     hash bytes with probability 2⁻⁶⁴, and both outcomes add nothing).
//
// An append of a batch of n events with consecutive seqs therefore writes
// about n/256 chunks and n/256 blocks (plus the batch's claim and the
// head) instead of 2n keys and n reads.
var (
	chunkPfx = []byte("ev/c/")
	blockPfx = []byte("ev/s/")
	fmtKey   = []byte("ev/fmt")
)

// BlockEvents is the alignment of chunks in the offset space and the
// number of seqs per de-duplication block.
const BlockEvents = 256

// format is the value of ev/fmt this code writes and reads.
const format = 2

func chunkKey(start uint64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(chunkPfx), start)
}

// chunkBlockPrefix is the prefix shared by the keys of every chunk that
// can hold offset off.
func chunkBlockPrefix(off uint64) []byte { return chunkKey(off)[:len(chunkPfx)+7] }

func blockKey(dev model.DeviceID, seq uint64) []byte {
	k := binary.BigEndian.AppendUint16(bytes.Clone(blockPfx), uint16(len(dev)))
	k = append(k, dev...)
	return binary.BigEndian.AppendUint64(k, seq/BlockEvents)
}

// chunkRec is a chunk's stored form.
type chunkRec struct {
	_        struct{} `cbor:",toarray"`
	Batch    uint64
	Device   model.DeviceID
	User     model.UserID
	Received int64
	Events   []api.PlayWire
}

// appendChunk appends the encoding of c to b: the bytes enc.Marshal
// gives (core deterministic CBOR, arrays as the toarray tags say),
// written without reflection (TestAppendChunkMatchesMarshal).
func appendChunk(b []byte, c *chunkRec) []byte {
	b = append(b, 0x85) // an array of the 5 fields
	b = cborx.AppendHead(b, 0, c.Batch)
	b = cborx.AppendText(b, string(c.Device))
	b = cborx.AppendText(b, string(c.User))
	b = cborx.AppendInt(b, c.Received)
	b = cborx.AppendHead(b, 4, uint64(len(c.Events)))
	for i := range c.Events {
		e := &c.Events[i]
		b = append(b, 0x8a) // an array of the 10 fields
		b = cborx.AppendHead(b, 0, e.Seq)
		b = cborx.AppendText(b, string(e.Track))
		b = cborx.AppendText(b, string(e.Tier))
		b = cborx.AppendText(b, e.CtxKind)
		b = cborx.AppendText(b, e.CtxID)
		b = cborx.AppendInt(b, e.StartedAt)
		b = cborx.AppendInt(b, e.PlayedMs)
		b = cborx.AppendText(b, string(e.EndReason))
		b = cborx.AppendText(b, string(e.Source))
		b = cborx.AppendHead(b, 0, uint64(e.Flags))
	}
	return b
}

var chunkDec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: BlockEvents, MaxMapPairs: 16}.DecMode()

func decodeChunk(start uint64, b []byte) (chunkRec, error) {
	var c chunkRec
	if err := chunkDec.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: chunk %d: %v", ErrCorrupt, start, err)
	}
	n := uint64(len(c.Events))
	if n == 0 || start/BlockEvents != (start+n-1)/BlockEvents {
		return c, fmt.Errorf("%w: chunk %d of %d events", ErrCorrupt, start, n)
	}
	return c, nil
}

// entries appends the chunk's entries from offset from (≥ start) on, at
// most limit in all, to out.
func (c chunkRec) entries(out []Entry, start, from uint64, limit int) ([]Entry, error) {
	for i := from - start; i < uint64(len(c.Events)) && len(out) < limit; i++ {
		e, ok := c.Events[i].Record()
		if !ok {
			return out, fmt.Errorf("%w: entry %d: unknown flags", ErrCorrupt, start+i)
		}
		out = append(out, Entry{Offset: start + i, Batch: c.Batch, Device: c.Device, User: c.User, Received: c.Received, Event: e})
	}
	return out, nil
}

// dedupBlock is a decoded de-duplication block.
type dedupBlock struct {
	set    [BlockEvents / 64]uint64
	hashes []uint64 // one per set bit, ascending seq
	dirty  bool
}

func decodeBlock(b []byte) (*dedupBlock, error) {
	d := &dedupBlock{}
	if len(b) < 32 {
		return nil, fmt.Errorf("%w: dedup block of %d bytes", ErrCorrupt, len(b))
	}
	n := 0
	for i := range d.set {
		d.set[i] = binary.BigEndian.Uint64(b[8*i:])
		n += bits.OnesCount64(d.set[i])
	}
	if len(b) != 32+8*n {
		return nil, fmt.Errorf("%w: dedup block of %d bytes for %d seqs", ErrCorrupt, len(b), n)
	}
	d.hashes = make([]uint64, n, n+1)
	for i := range d.hashes {
		d.hashes[i] = binary.BigEndian.Uint64(b[32+8*i:])
	}
	return d, nil
}

func (d *dedupBlock) encode() []byte {
	b := make([]byte, 0, 32+8*len(d.hashes))
	for _, w := range d.set {
		b = binary.BigEndian.AppendUint64(b, w)
	}
	for _, h := range d.hashes {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b
}

// rank returns how many seqs below bit i of the block are set.
func (d *dedupBlock) rank(i uint) int {
	r := 0
	for w := range i / 64 {
		r += bits.OnesCount64(d.set[w])
	}
	return r + bits.OnesCount64(d.set[i/64]&(1<<(i%64)-1))
}

// lookup returns the stored hash of seq's slot and whether it is set.
func (d *dedupBlock) lookup(seq uint64) (uint64, bool) {
	i := uint(seq % BlockEvents)
	if d.set[i/64]&(1<<(i%64)) == 0 {
		return 0, false
	}
	return d.hashes[d.rank(i)], true
}

// add marks seq (not set) as in the log with hash h.
func (d *dedupBlock) add(seq, h uint64) {
	i := uint(seq % BlockEvents)
	r := d.rank(i)
	d.set[i/64] |= 1 << (i % 64)
	d.hashes = append(d.hashes, 0)
	copy(d.hashes[r+1:], d.hashes[r:])
	d.hashes[r] = h
	d.dirty = true
}

func hash8(h [32]byte) uint64 { return binary.BigEndian.Uint64(h[:8]) }
