package fetch

import (
	"context"
	"encoding/hex"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// PinnedFunc looks a blob up by SHA-256 among blobs kept outside the
// cache's bound (offline downloads). It returns the encrypted bytes,
// caller-owned, or ok=false when the blob is not pinned.
type PinnedFunc func(ctx context.Context, hash [32]byte) (b []byte, ok bool, err error)

// SetPinned makes the Fetcher consult fn before its cache for every blob
// (nil removes it). Pinned blobs are verified against the manifest like
// any other, and never evicted by the cache. Safe to call at any time.
func (f *Fetcher) SetPinned(fn PinnedFunc) { f.pinned.Store(&fn) }

// fromPinned returns the pinned blob for ref when it exists and matches
// ref's size and hash.
func (f *Fetcher) fromPinned(ctx context.Context, req Request, ref model.BlobRef) ([]byte, bool) {
	p := f.pinned.Load()
	if p == nil || *p == nil {
		return nil, false
	}
	b, ok, err := (*p)(ctx, ref.SHA256)
	if err != nil || !ok {
		return nil, false
	}
	if int64(len(b)) != ref.Size || crypto.BlobHash(b) != ref.SHA256 {
		f.opts.logger.Warn("fetch: pinned blob does not match its manifest", "request", req.String(), "hash", hex.EncodeToString(ref.SHA256[:]))
		return nil, false
	}
	f.observe(Event{Request: req, Cached: true, Bytes: len(b)})
	return b, true
}
