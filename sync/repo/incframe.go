package repo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// An increment record (doc/<id>/inc/<seq>) is written framed: incMagic,
// the CRC-32C of the change chunks that follow (u32 big-endian) and
// their length (uvarint), then the chunks. automerge keeps the whole
// chunks before a cut and loads them as a shorter history, and a cut at
// a chunk boundary leaves valid chunks; the recorded length and
// checksum catch every cut and every changed byte. A record that starts
// with anything else (automerge's chunk magic) is bare chunks, as
// written before the frame (store schema 1): it is read as it is, so
// such a record cut at a chunk boundary still loads short
// (docs/ARCHITECTURE.md §5).
var incMagic = [4]byte{'s', 'g', 'i', 1}

// errIncFrame is wrapped by openIncrement for a record whose frame does
// not hold its chunks.
var errIncFrame = errors.New("increment frame")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameIncrement returns the record that stores chunks (SaveIncremental's
// output, or a bundle of such outputs).
func frameIncrement(chunks []byte) []byte {
	out := make([]byte, 8, 8+binary.MaxVarintLen64+len(chunks))
	copy(out, incMagic[:])
	binary.BigEndian.PutUint32(out[4:], crc32.Checksum(chunks, castagnoli))
	out = binary.AppendUvarint(out, uint64(len(chunks)))
	return append(out, chunks...)
}

// openIncrement returns the change chunks an increment record v holds
// (a subslice of v): a framed record's after checking their length and
// CRC-32C, an unframed one as it is, for msync.CheckChunks to judge. A
// framed record that does not check wraps errIncFrame.
func openIncrement(v []byte) ([]byte, error) {
	if len(v) < 4 || [4]byte(v[:4]) != incMagic {
		return v, nil
	}
	if len(v) < 9 {
		return nil, fmt.Errorf("%w: header cut short (%d bytes)", errIncFrame, len(v))
	}
	n, k := binary.Uvarint(v[8:])
	if k <= 0 {
		return nil, fmt.Errorf("%w: bad length", errIncFrame)
	}
	chunks := v[8+k:]
	if n != uint64(len(chunks)) {
		return nil, fmt.Errorf("%w: %d bytes of chunks, recorded %d", errIncFrame, len(chunks), n)
	}
	if crc32.Checksum(chunks, castagnoli) != binary.BigEndian.Uint32(v[4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errIncFrame)
	}
	return chunks, nil
}
