package msync

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/segue-fm/segue/sync/wire"

	"github.com/automerge/automerge-go"
)

// stateType is the first byte of an encoded sync state.
const stateType = 0x43

// Have is one "have" of a sync message: the heads its sender last knew
// it shared and a Bloom filter of the changes it holds since.
type Have struct {
	LastSync []automerge.ChangeHash
	Bloom    Bloom
}

// State is the sync state with one peer for one document, automerge's
// sync::State: what both sides are known to share, what was last sent,
// and what the peer's last message said. The zero value is a fresh
// state (automerge's State::new); DecodeState resumes a persisted one.
//
// Its hash slices are never modified in place, by Generate, Receive or
// anyone else: they are replaced. That lets them share backing arrays
// with each other, with Graph.Heads and with the messages Generate
// returns and Receive was given, without copies on the per-message path.
type State struct {
	SharedHeads   []automerge.ChangeHash
	LastSentHeads []automerge.ChangeHash
	// TheirHeads, TheirNeed and TheirHave are the peer's last message's
	// fields; the Has… flags tell an empty list from none received.
	TheirHeads, TheirNeed       []automerge.ChangeHash
	HasTheirHeads, HasTheirNeed bool
	TheirHave                   []Have
	HasTheirHave                bool
	// SentHashes holds the changes sent that the peer has not shown it
	// holds yet (nil: none).
	SentHashes map[automerge.ChangeHash]struct{}
	InFlight   bool
}

// Encode returns the persisted form of the state, automerge's
// State::encode: type byte 0x43 and the shared heads.
func (s *State) Encode() []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+32*len(s.SharedHeads))
	b = append(b, stateType)
	return appendHashes(b, s.SharedHeads)
}

// DecodeState reads a persisted state (automerge's State::decode):
// the shared heads, no message received from the peer yet but an empty
// "have" list, nothing sent. Bytes after the heads are ignored.
func DecodeState(raw []byte) (*State, error) {
	if len(raw) == 0 || raw[0] != stateType {
		return nil, fmt.Errorf("%w: sync state type", ErrMalformed)
	}
	heads, _, err := readHashes(raw[1:])
	if err != nil {
		return nil, fmt.Errorf("sync state: %w", err)
	}
	return &State{SharedHeads: heads, HasTheirHave: true, TheirHave: []Have{}}, nil
}

func appendHashes(b []byte, hs []automerge.ChangeHash) []byte {
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for i := range hs {
		b = append(b, hs[i][:]...)
	}
	return b
}

// readHashes reads a LEB128 count and that many hashes from b, returning
// the rest of b.
func readHashes(b []byte) ([]automerge.ChangeHash, []byte, error) {
	n, k := wire.ReadULEB(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad hash count", ErrMalformed)
	}
	b = b[k:]
	if n > uint64(len(b))/32 {
		return nil, nil, fmt.Errorf("%w: %d hashes in %d bytes", ErrMalformed, n, len(b))
	}
	var hs []automerge.ChangeHash
	if n > 0 {
		hs = make([]automerge.ChangeHash, n)
		for i := range hs {
			hs[i] = automerge.ChangeHash(b[32*i : 32*i+32])
		}
	}
	return hs, b[32*n:], nil
}

func equalHashes(a, b []automerge.ChangeHash) bool { return slices.Equal(a, b) }
