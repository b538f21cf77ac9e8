package player

import (
	"context"

	"github.com/segue-fm/segue/core/model"
)

// Source opens tracks for the pipeline. The engine (package core) implements
// it over its fetcher: local blobs or relay/edge, verified against the
// signed manifest and decrypted in memory.
type Source interface {
	// OpenTrack returns the (track, tier) stream. The TrackSource belongs to
	// the caller, who closes it.
	OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (TrackSource, error)
}

// TrackSource is one (track, tier) stream: its manifest and its plaintext
// Ogg Vorbis bytes, which are clear audio: the player keeps them in memory
// only, as every implementation must (DESIGN §4).
type TrackSource interface {
	// Manifest returns the verified manifest (format, exact TotalSamples,
	// loudness, chunks). The caller must not modify it.
	Manifest() *model.Manifest
	// Header returns the plaintext Vorbis header pages; the caller owns the
	// returned bytes.
	Header(ctx context.Context) ([]byte, error)
	// Chunk returns the plaintext of chunk i (primer page included, see
	// model.Chunk); the caller owns the returned bytes.
	Chunk(ctx context.Context, i int) ([]byte, error)
	// Close releases the stream.
	Close() error
}

// NetworkSource is an optional interface of a TrackSource that knows
// which chunk reads crossed the network. The player's bandwidth estimate
// (behind the ErrTierUnsustainable warning) counts only those: a read
// from local storage (a download, a cache) says nothing about the
// network, and in a browser an IndexedDB read on a busy page can take
// longer than the tier's bit rate allows. Every chunk read of a
// TrackSource without it counts.
type NetworkSource interface {
	TrackSource
	// ChunkFrom is Chunk that also reports whether the bytes were
	// fetched over the network for this call.
	ChunkFrom(ctx context.Context, i int) (b []byte, network bool, err error)
}

// HeadSource is an optional interface of a TrackSource that already holds
// its track's first frames decoded (DecodeHead), as a prefetch leaves
// them: a decoder starting at sample 0 hands them to the output before it
// reads the header, then decodes on from the frame after them. The
// output is the same; only the first frames wait for no read or decode.
type HeadSource interface {
	TrackSource
	// Head returns the track's first frames as DecodeHead returned them
	// (interleaved at the track's rate and channels), or nil. The slice
	// is shared and read-only: neither side modifies it.
	Head() []float32
}

// ReadySource is an optional interface of a Source that can open some
// tracks from memory, without waiting for anything (no I/O, no other
// goroutine), as a prefetch leaves them. The player opens a track this
// way when it can, in the same step as the request that loads it, so
// that a track with a head (HeadSource) has its first block ready at
// once (see Player.PlayNow); otherwise it opens the track with OpenTrack
// on a goroutine of its own.
type ReadySource interface {
	Source
	// OpenReady returns the track opened from memory, or false when it
	// cannot be opened without waiting. It must not block.
	OpenReady(id model.TrackID, tier model.Tier) (TrackSource, bool)
}
