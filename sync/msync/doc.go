// Package msync is the automerge sync protocol (message format v1, as
// automerge-rs 0.5 implements it in sync.rs) in Go, for the side of a
// sync session whose document is indexed by a Graph: a peer's State,
// Generate and Receive follow automerge's generate_sync_message and
// receive_sync_message step by step, so a relay can answer and feed its
// peers without crossing cgo for every message. Three rules are Segue's
// own: Generate sends a change the peer's Bloom filter only falsely
// contains (when it knows the peer's heads), AskForSkipped, run after
// Receive, asks for a change the peer skipped, and GenerateWithin keeps
// a message within a byte limit (one frame), leaving the changes that do
// not fit for the next messages. Changes are still
// applied to the automerge document by the caller (Receive's apply
// function), once per message that brings changes.
//
// The byte formats are automerge's: a sync message is type byte 0x42,
// the sender's heads, the hashes it needs, its haves (last-sync heads and
// a Bloom filter of the changes since) and length-prefixed change
// chunks, every integer an unsigned LEB128 that automerge's rules accept
// (no overlong encoding, at most 64 bits); a persisted State is type byte 0x43
// and the shared heads; a change chunk starts with automerge's magic
// bytes, a checksum (the first 4 bytes of its hash), chunk type 1, its
// length and, first in its body, its dependencies, actor and sequence
// number (ParseChange); a stored increment is such chunks concatenated,
// compressed ones (type 2) among them allowed (SplitChunks). The
// Bloom filter uses 10 bits per entry and 7 probes derived from the
// change hash bytes, exactly as automerge computes them, so filters
// built here answer automerge's queries and the other way round.
//
// Differences from automerge, all on input only a hostile or broken peer
// sends, make the message fail to decode: a change chunk whose checksum
// does not match its hash, whose chunk type is not 1 or whose declared
// length is not the bytes the message gives it (automerge 0.5 reads any
// chunk's body as a change, checks no checksum in a sync message and
// ignores bytes after the body), a Bloom filter with entries but no bits (automerge would
// panic) or with more than MaxProbes probes. FuzzDecodeAgreesWithAutomerge
// holds the decoder to automerge's otherwise.
package msync
