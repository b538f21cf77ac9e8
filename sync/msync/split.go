package msync

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/segue-fm/segue/sync/wire"
)

// Limits of SplitChunks: a compressed chunk inflates to at most
// MaxChangeBody bytes of body, and one input to at most MaxInflated
// bytes of inflated chunks in all (a small input of compressed chunks
// cannot make it allocate more). automerge clients' changes are far
// smaller; a bulk import of 10,000 playlist entries is one change of
// ≈ 0.9 MB.
const (
	MaxChangeBody = 16 << 20
	MaxInflated   = 64 << 20
)

// chunkCompressedChange is the chunk type of a change whose body is
// DEFLATE-compressed; its checksum and hash are those of the
// uncompressed chunk (type 1).
const chunkCompressedChange = 2

// ErrNotChange is returned by SplitChunks for a chunk that is valid
// framing but not a change: a document chunk (type 0, which automerge's
// LoadIncremental also reads but SaveIncremental never writes) or an
// unknown type.
var ErrNotChange = errors.New("msync: not a change chunk")

// SplitChunks splits inc — concatenated automerge change chunks, what
// automerge's SaveIncremental returns and LoadIncremental reads (the
// repo's doc/<id>/inc/<seq> values) — into its changes and their
// encoded chunks, in order. A compressed chunk (type 2) is inflated and
// returned as the uncompressed chunk (type 1) with the same hash: the
// bytes Change.Save returns and a sync message carries. Uncompressed
// chunks alias inc; inflated ones are new. Anything else fails the
// whole input: bad framing, a bad checksum or dependency list
// (ErrMalformed), a document or unknown chunk (ErrNotChange), a chunk
// over MaxChangeBody or inflated chunks over MaxInflated in all
// (ErrMalformed). Operations are not read (ParseChange). It never
// panics.
func SplitChunks(inc []byte) ([]Change, [][]byte, error) {
	var (
		changes  []Change
		raws     [][]byte
		inflated int
	)
	for off := 0; off < len(inc); {
		rest := inc[off:]
		if len(rest) < 9 || [4]byte(rest[:4]) != magic {
			return nil, nil, fmt.Errorf("%w: chunk at byte %d: no chunk magic", ErrMalformed, off)
		}
		n, k := wire.ReadULEB(rest[9:])
		if k <= 0 || n > uint64(len(rest)-9-k) {
			return nil, nil, fmt.Errorf("%w: chunk at byte %d: bad length", ErrMalformed, off)
		}
		end := 9 + k + int(n)
		raw := rest[:end:end]
		switch rest[8] {
		case chunkChange:
			if n > MaxChangeBody {
				return nil, nil, fmt.Errorf("%w: chunk at byte %d: body of %d bytes over %d", ErrMalformed, off, n, MaxChangeBody)
			}
		case chunkCompressedChange:
			var err error
			if raw, err = inflateChunk(raw[:4:4], raw[4:8], raw[9+k:], MaxInflated-inflated); err != nil {
				return nil, nil, fmt.Errorf("%w: chunk at byte %d: %w", ErrMalformed, off, err)
			}
			inflated += len(raw)
		default:
			return nil, nil, fmt.Errorf("%w: chunk at byte %d has type %d", ErrNotChange, off, rest[8])
		}
		c, err := ParseChange(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("chunk at byte %d: %w", off, err)
		}
		changes = append(changes, c)
		raws = append(raws, raw)
		off += end
	}
	return changes, raws, nil
}

// inflateChunk returns the uncompressed change chunk (magic, sum, type
// 1, length, body) whose body is the DEFLATE data deflated, at most
// min(MaxChangeBody, budget) bytes of body.
func inflateChunk(magic, sum, deflated []byte, budget int) ([]byte, error) {
	limit := min(MaxChangeBody, budget)
	fr := flate.NewReader(bytes.NewReader(deflated))
	body, err := io.ReadAll(io.LimitReader(fr, int64(limit)+1))
	if cerr := fr.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if len(body) > limit {
		return nil, fmt.Errorf("inflated body over %d bytes", limit)
	}
	out := make([]byte, 0, 9+binary.MaxVarintLen64+len(body))
	out = append(append(append(out, magic...), sum...), chunkChange)
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...), nil
}

// CheckChunks returns nil when inc — concatenated automerge chunks, a
// stored increment — is whole: chunk headers (magic, checksum, type,
// LEB128 length) that tile it exactly, and each chunk's checksum
// matching its bytes, for a compressed chunk (type 2) those of the
// uncompressed chunk it inflates to (type 1, the inflated length and
// body), which is what automerge's checksum covers. Anything else wraps
// ErrMalformed naming the byte offset. automerge's LoadIncremental
// keeps the whole chunks before a bad one and drops the rest without an
// error, so a record cut short or damaged on disk would load as a
// shorter history; this catches a cut inside a chunk, not one at a
// chunk boundary. A compressed chunk is inflated within SplitChunks'
// limits (MaxChangeBody, MaxInflated); nothing else is allocated.
func CheckChunks(inc []byte) error {
	inflated := 0
	for off := 0; off < len(inc); {
		rest := inc[off:]
		if len(rest) < 9 || [4]byte(rest[:4]) != magic {
			return fmt.Errorf("%w: chunk at byte %d: no chunk magic", ErrMalformed, off)
		}
		n, k := wire.ReadULEB(rest[9:])
		if k <= 0 || n > uint64(len(rest)-9-k) {
			return fmt.Errorf("%w: chunk at byte %d: cut short (%d bytes left)", ErrMalformed, off, len(rest))
		}
		end := 9 + k + int(n)
		chunk := rest[8:end]
		if rest[8] == chunkCompressedChange {
			raw, err := inflateChunk(rest[:4], rest[4:8], rest[9+k:end], MaxInflated-inflated)
			if err != nil {
				return fmt.Errorf("%w: chunk at byte %d: %w", ErrMalformed, off, err)
			}
			inflated += len(raw)
			chunk = raw[8:]
		}
		if sum := sha256.Sum256(chunk); [4]byte(rest[4:8]) != [4]byte(sum[:4]) {
			return fmt.Errorf("%w: chunk at byte %d: checksum mismatch", ErrMalformed, off)
		}
		off += end
	}
	return nil
}
