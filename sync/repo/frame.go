package repo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A document's snapshot (doc/<id>/snap) and increments
// (doc/<id>/inc/<seq>) are written framed: recMagic, the CRC-32C of the
// record's store key followed by the payload (u32 big-endian), the
// payload's length (uvarint), then the payload (automerge's save, or
// concatenated change chunks). automerge keeps the whole chunks before a
// cut and loads them as a shorter history, and a cut at a chunk boundary
// leaves valid chunks; the recorded length and checksum catch every cut
// and every changed byte, and, the key being covered, a record stored
// under another key (another document's, which loaded as that document's
// contents, or mixed into this one's). A record that starts with
// anything else (automerge's magic) is a bare payload, as written before
// the frame (store schema 1): it is read as it is, so such a record cut
// at a chunk boundary or moved still loads (docs/ARCHITECTURE.md §5).
var recMagic = [4]byte{'s', 'g', 'i', 1}

// errFrame is wrapped by openRecord for a record whose frame does not
// hold its payload under its key.
var errFrame = errors.New("record frame")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSum is the frame's checksum of payload stored under key.
func recordSum(key, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
}

// frameRecord returns the record that stores payload under key.
func frameRecord(key, payload []byte) []byte {
	out := make([]byte, 8, 8+binary.MaxVarintLen64+len(payload))
	copy(out, recMagic[:])
	binary.BigEndian.PutUint32(out[4:], recordSum(key, payload))
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...)
}

// openRecord returns the payload of record v stored under key (a
// subslice of v): a framed record's after checking its length and
// checksum, an unframed one as it is, for automerge or msync.CheckChunks
// to judge. A framed record that does not check wraps errFrame.
func openRecord(key, v []byte) ([]byte, error) {
	if len(v) < 4 || [4]byte(v[:4]) != recMagic {
		return v, nil
	}
	if len(v) < 9 {
		return nil, fmt.Errorf("%w: header cut short (%d bytes)", errFrame, len(v))
	}
	n, k := binary.Uvarint(v[8:])
	if k <= 0 {
		return nil, fmt.Errorf("%w: bad length", errFrame)
	}
	payload := v[8+k:]
	if n != uint64(len(payload)) {
		return nil, fmt.Errorf("%w: %d bytes of payload, recorded %d", errFrame, len(payload), n)
	}
	if recordSum(key, payload) != binary.BigEndian.Uint32(v[4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch (damaged, or another key's record)", errFrame)
	}
	return payload, nil
}
