package fetch

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

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

// StreamOrigin is an Origin that can stream a body into w instead of
// buffering it, for callers that write blobs straight to files (offline
// downloads). Implementations stop and fail with an error wrapping
// ErrTooLarge as soon as more than r.MaxSize bytes arrive; bytes already
// written to w are then garbage the caller discards.
type StreamOrigin interface {
	Origin
	// FetchTo writes the body of r to w and returns its length. Errors
	// are those of Origin.Fetch, plus w's write errors.
	FetchTo(ctx context.Context, r Request, w io.Writer) (int64, error)
}

// FetchTo implements StreamOrigin with a GET of r.Path(), copying the
// body to w as it arrives (never more than r.MaxSize+1 bytes are read).
func (o *HTTPOrigin) FetchTo(ctx context.Context, r Request, w io.Writer) (int64, error) {
	resp, err := o.get(ctx, r)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	n, err := io.CopyBuffer(onlyWriter{w}, io.LimitReader(resp.Body, r.MaxSize+1), *bp)
	if err != nil {
		return n, fmt.Errorf("read body: %w", err)
	}
	if n > r.MaxSize {
		return n, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.MaxSize)
	}
	return n, nil
}

// copyBufs holds 128 KiB copy buffers for FetchTo.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// onlyWriter hides w's ReadFrom so io.CopyBuffer uses the given buffer.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

var _ StreamOrigin = (*HTTPOrigin)(nil)
