package catalog

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/store"
)

// TestExternalBlobStore: a catalog over an external blob store keeps no
// blob in its own store, serves them from the blob store, refuses a
// release whose blob is missing there (nothing published), and GC keeps
// every referenced blob.
func TestExternalBlobStore(t *testing.T) {
	ctx := context.Background()
	meta, blobs := store.NewMemory(), blobstore.NewKV(store.NewMemory())
	c := NewWithBlobs(meta, AtRestKey{4}, blobs)
	f := newFixture(4)
	r, hashes := f.release(t, c, "External", 1, 2)
	missing := r.Tracks[1].Track.ID
	gone := hashes[len(hashes)-1]
	keep, err := blobs.Get(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, r); !errors.Is(err, ErrMissingBlob) {
		t.Fatalf("publish with a missing blob: %v, want ErrMissingBlob", err)
	}
	if _, err := c.Track(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused release is visible: %v", err)
	}
	if err := blobs.Put(ctx, gone, keep); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, h := range hashes {
		b, err := c.Blob(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		direct, _ := blobs.Get(ctx, h)
		if !bytes.Equal(b, direct) {
			t.Fatal("catalog blob differs from the blob store's")
		}
	}
	n := 0
	meta.Iterate(ctx, []byte(blobstore.KVPrefix), false, func(_, _ []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs in the catalog's own store, want 0", n)
	}
	if _, err := c.Blob(ctx, [32]byte{9}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown blob: %v", err)
	}
	if n, err := c.GCWith(ctx, DefaultGCOptions().WithGrace(0)); err != nil || n != 0 {
		t.Fatalf("GC of a fully referenced store: removed %d, %v", n, err)
	}
}
