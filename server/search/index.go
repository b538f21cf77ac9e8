package search

import (
	"context"

	"github.com/segue-fm/segue/core/searchindex"
	"github.com/segue-fm/segue/store"
)

// The index lives in core/searchindex, shared with the device's offline
// search; these names keep the relay's code and callers short.
type (
	// Kind is searchindex.Kind.
	Kind = searchindex.Kind
	// Entry is searchindex.Entry.
	Entry = searchindex.Entry
	// Index is searchindex.Index.
	Index = searchindex.Index
	// Options is searchindex.Options.
	Options = searchindex.Options
	// Request is searchindex.Request.
	Request = searchindex.Request
	// Hit is searchindex.Hit.
	Hit = searchindex.Hit
)

// The kinds of entries (searchindex's).
const (
	KindTrack    = searchindex.KindTrack
	KindAlbum    = searchindex.KindAlbum
	KindArtist   = searchindex.KindArtist
	KindPlaylist = searchindex.KindPlaylist
)

// ErrInvalidEntry is searchindex.ErrInvalidEntry.
var ErrInvalidEntry = searchindex.ErrInvalidEntry

// DefaultOptions returns searchindex.DefaultOptions().
func DefaultOptions() Options { return searchindex.DefaultOptions() }

// OpenIndex is searchindex.OpenIndex.
func OpenIndex(ctx context.Context, st store.Store, opts Options) (*Index, error) {
	return searchindex.OpenIndex(ctx, st, opts)
}
