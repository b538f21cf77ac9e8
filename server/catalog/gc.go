package catalog

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/store"
)

// GCOptions configure GCWith. Start from DefaultGCOptions.
type GCOptions struct {
	grace time.Duration
	page  int
	now   func() time.Time
	log   *slog.Logger
}

// DefaultGCOptions returns the defaults: a grace period of one hour, pages
// of 256 blobs, time.Now, slog.Default().
func DefaultGCOptions() GCOptions {
	return GCOptions{grace: time.Hour, page: 256, now: time.Now}
}

// WithGrace sets how old (by the blob store's Info.Modified) an
// unreferenced blob in an external blob store must be before GC deletes
// it (default 1 h; negative counts as 0). It spares the blobs of an ingest
// that has put them and not yet published its manifests; it must exceed
// the clock skew between the relay and the object store. A catalog
// keeping its blobs in its own store ignores it.
func (o GCOptions) WithGrace(d time.Duration) GCOptions { o.grace = max(d, 0); return o }

// Grace returns the grace period (WithGrace).
func (o GCOptions) Grace() time.Duration { return o.grace }

// WithPageSize sets how many blobs one GC transaction checks and marks
// (default 256; at least 1).
func (o GCOptions) WithPageSize(n int) GCOptions { o.page = max(n, 1); return o }

// WithClock sets GC's clock (default time.Now).
func (o GCOptions) WithClock(now func() time.Time) GCOptions { o.now = now; return o }

// WithLogger sets where GC reports blobs it could not delete (default
// slog.Default()).
func (o GCOptions) WithLogger(l *slog.Logger) GCOptions { o.log = l; return o }

// GC is GCWith(ctx, DefaultGCOptions()).
func (c *Catalog) GC(ctx context.Context) (removed int, err error) {
	return c.GCWith(ctx, DefaultGCOptions())
}

// GCWith deletes the stored blobs no published manifest references and
// returns how many it removed.
//
// Blobs in the catalog's own store are checked and deleted inside one
// transaction per page, atomically with the reference check; Publish
// checks its blobs inside its transaction, so a GC racing an ingest makes
// that Publish fail with ErrMissingBlob (retry the ingest), never publish
// missing audio.
//
// Blobs in an external store (NewWithBlobs) are collected by mark and
// sweep, page by page:
//
//  1. List the store; a blob is a candidate when its Info.Modified is at
//     least the grace period before now (zero, unknown: a candidate).
//  2. Mark: one transaction per page re-checks that no reference
//     (aud/ref/<hex>/…) exists and writes the blob's tombstone
//     aud/gc/<hex> (the marking time).
//  3. Sweep: delete the marked blobs from the blob store, then remove
//     their tombstones.
//
// Publish reads the tombstone of each of its blobs inside its own
// transaction (refusing a marked blob with ErrMissingBlob), checks the
// blob is in the store after that transaction began, and deletes the
// tombstone key. Each side thus reads a key the other writes, so the
// store's transaction conflicts serialise them: either the mark sees the
// reference and keeps the blob, or Publish sees the tombstone (or, once
// the blob is gone and the tombstone removed, the missing blob) and
// fails. Tombstones of an interrupted GC are swept first by the next one;
// until then Publish refuses those blobs. Cancelling ctx stops GC between
// blobs; marked blobs not yet deleted are unmarked.
func (c *Catalog) GCWith(ctx context.Context, o GCOptions) (removed int, err error) {
	if o.log == nil {
		o.log = slog.Default()
	}
	if c.blobs == nil {
		return c.gcOwn(ctx, o.page)
	}
	return c.gcExternal(ctx, o)
}

// gcPrefix holds the tombstones of blobs an external GC is deleting.
const gcPrefix = "aud/gc/"

func gcKey(h [32]byte) []byte { return []byte(gcPrefix + hex.EncodeToString(h[:])) }

func (c *Catalog) gcExternal(ctx context.Context, o GCOptions) (removed int, err error) {
	var pending [][32]byte
	err = c.s.Iterate(ctx, []byte(gcPrefix), false, func(k, _ []byte) error {
		if h, ok := blobstore.ParseName(string(k[len(gcPrefix):])); ok {
			pending = append(pending, h)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("gc: read tombstones: %w", err)
	}
	for start := 0; start < len(pending); start += o.page {
		n, err := c.sweep(ctx, pending[start:min(start+o.page, len(pending))], o)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	cutoff := o.now().Add(-o.grace)
	page := make([][32]byte, 0, o.page)
	err = c.blobs.List(ctx, func(in blobstore.Info) error {
		if in.Modified.After(cutoff) {
			return nil
		}
		page = append(page, in.Hash)
		if len(page) < o.page {
			return nil
		}
		n, err := c.sweep(ctx, page, o)
		removed += n
		page = page[:0]
		return err
	})
	if err == nil && len(page) > 0 {
		var n int
		n, err = c.sweep(ctx, page, o)
		removed += n
	}
	if err != nil {
		return removed, fmt.Errorf("gc: %w", err)
	}
	return removed, nil
}

// sweep marks the unreferenced blobs of hs, deletes them from the blob
// store and removes their tombstones; it returns how many it deleted.
func (c *Catalog) sweep(ctx context.Context, hs [][32]byte, o GCOptions) (int, error) {
	var marked [][32]byte
	stamp := binary.BigEndian.AppendUint64(nil, uint64(o.now().UnixNano()))
	err := c.s.Update(ctx, func(tx store.Txn) error {
		marked = marked[:0]
		for _, h := range hs {
			referenced, err := isReferenced(tx, h)
			if err != nil {
				return err
			}
			if _, err := tx.Get(gcKey(h)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if referenced {
				// A tombstone of a blob published since is stale: Publish
				// removes it, so none is left here but by corruption.
				continue
			}
			if err := tx.Set(gcKey(h), stamp); err != nil {
				return err
			}
			marked = append(marked, h)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mark blobs: %w", err)
	}
	var deleted [][32]byte
	var derr error
	for i, h := range marked {
		if derr = ctx.Err(); derr == nil {
			derr = c.blobs.Delete(ctx, h)
		}
		if derr != nil {
			// h and the blobs after it stay in the store: unmark the ones
			// not tried; h keeps its tombstone (its delete may have run).
			rest := marked[i+1:]
			if ctx.Err() != nil {
				rest = marked[i:]
			}
			c.unmark(context.WithoutCancel(ctx), rest, o.log)
			break
		}
		deleted = append(deleted, h)
	}
	if len(deleted) > 0 {
		err := c.s.Update(context.WithoutCancel(ctx), func(tx store.Txn) error {
			for _, h := range deleted {
				if err := tx.Delete(gcKey(h)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			// The blobs are gone; the tombstones are swept by the next GC.
			o.log.Warn("gc: remove tombstones", "blobs", len(deleted), "err", err)
		}
	}
	if derr != nil {
		return len(deleted), fmt.Errorf("delete blob: %w", derr)
	}
	return len(deleted), nil
}

// unmark removes the tombstones of blobs GC marked but did not delete.
func (c *Catalog) unmark(ctx context.Context, hs [][32]byte, log *slog.Logger) {
	if len(hs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := c.s.Update(ctx, func(tx store.Txn) error {
		for _, h := range hs {
			if err := tx.Delete(gcKey(h)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Warn("gc: unmark blobs (the next GC sweeps them)", "blobs", len(hs), "err", err)
	}
}
