package msync

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/sync/wire"

	"github.com/automerge/automerge-go"
)

// ErrMalformed is returned for bytes that are not a valid change chunk,
// sync message or sync state.
var ErrMalformed = errors.New("msync: malformed input")

// magic starts every automerge chunk.
var magic = [4]byte{0x85, 0x6f, 0x4a, 0x83}

// chunkChange is the chunk type of an uncompressed change, the only kind
// a sync message carries.
const chunkChange = 1

// Change is what the sync protocol needs of one change: its hash (the
// SHA-256 of the chunk type, the body's length and the body) and its
// dependencies, and what a Graph's sequence index needs: its actor and
// sequence number.
type Change struct {
	Hash automerge.ChangeHash
	Deps []automerge.ChangeHash
	// Actor is the id of the change's author; it aliases the chunk it
	// was parsed from.
	Actor []byte
	// Seq is the change's sequence number among its actor's changes.
	Seq uint64
}

// ParseChange reads the header of one uncompressed automerge change
// chunk: magic bytes, checksum, chunk type 1, body length, then the
// body's dependency list, actor and sequence number. The chunk must be
// exactly raw (no trailing bytes) and its checksum must be the first 4
// bytes of its hash. The operations after the sequence number are not
// read (automerge.LoadChanges validates them when the change is
// applied). Deps do not alias raw; Actor does.
func ParseChange(raw []byte) (Change, error) {
	if len(raw) < 9 || [4]byte(raw[:4]) != magic {
		return Change{}, fmt.Errorf("%w: change: no chunk magic", ErrMalformed)
	}
	if raw[8] != chunkChange {
		return Change{}, fmt.Errorf("%w: change: chunk type %d", ErrMalformed, raw[8])
	}
	n, k := wire.ReadULEB(raw[9:])
	if k <= 0 {
		return Change{}, fmt.Errorf("%w: change: bad length", ErrMalformed)
	}
	body := raw[9+k:]
	if n != uint64(len(body)) {
		return Change{}, fmt.Errorf("%w: change: length %d, %d bytes follow", ErrMalformed, n, len(body))
	}
	// The hash covers the chunk type, the LEB128 length and the body:
	// raw from its type byte on.
	c := Change{Hash: sha256.Sum256(raw[8:])}
	if [4]byte(raw[4:8]) != [4]byte(c.Hash[:4]) {
		return Change{}, fmt.Errorf("%w: change: checksum mismatch", ErrMalformed)
	}
	nd, k := wire.ReadULEB(body)
	if k <= 0 || nd > uint64(len(body)-k)/32 {
		return Change{}, fmt.Errorf("%w: change: bad dependency count", ErrMalformed)
	}
	body = body[k:]
	if nd > 0 {
		c.Deps = make([]automerge.ChangeHash, nd)
		for i := range c.Deps {
			c.Deps[i] = automerge.ChangeHash(body[32*i : 32*i+32])
		}
	}
	body = body[32*nd:]
	na, k := wire.ReadULEB(body)
	if k <= 0 || na > uint64(len(body)-k) {
		return Change{}, fmt.Errorf("%w: change: bad actor", ErrMalformed)
	}
	c.Actor = body[k : k+int(na)]
	body = body[k+int(na):]
	if c.Seq, k = wire.ReadULEB(body); k <= 0 {
		return Change{}, fmt.Errorf("%w: change: bad sequence number", ErrMalformed)
	}
	return c, nil
}
