package catalog

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/store"
)

// TestDataDirWithBlobs: a directory opened with an external blob store
// records it and keeps no blob in Badger; reopening with another store
// id is refused, and without one the directory opens but every blob
// access fails with ErrBlobsNotOpened; a directory whose own store holds
// blobs refuses an external store.
func TestDataDirWithBlobs(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	bs := blobstore.NewKV(store.NewMemory())
	d, err := OpenDataDirWith(ctx, dir, quietDD().WithInit(InitNew).WithBlobs(bs, "s3:bucket/a/"))
	if err != nil {
		t.Fatal(err)
	}
	if d.BlobStore != "s3:bucket/a/" {
		t.Fatalf("BlobStore %q", d.BlobStore)
	}
	r, hashes := newFixture(8).release(t, d.Catalog, "Ext", 1)
	if err := d.Catalog.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	own := 0
	d.Store.Iterate(ctx, []byte(blobstore.KVPrefix), false, func(_, _ []byte) error { own++; return nil })
	if ok, _ := bs.Has(ctx, hashes[0]); !ok || own != 0 {
		t.Fatalf("blob in the external store %v, %d in Badger", ok, own)
	}
	d.Close()

	if _, err := OpenDataDirWith(ctx, dir, quietDD().WithBlobs(bs, "s3:other/")); !errors.Is(err, ErrBlobStore) {
		t.Fatalf("reopen with another blob store: %v, want ErrBlobStore", err)
	}
	d, err = OpenDataDirWith(ctx, dir, quietDD())
	if err != nil {
		t.Fatal(err)
	}
	if d.BlobStore != "s3:bucket/a/" {
		t.Fatalf("BlobStore without WithBlobs: %q", d.BlobStore)
	}
	if _, err := d.Catalog.Blob(ctx, hashes[0]); !errors.Is(err, ErrBlobsNotOpened) {
		t.Fatalf("blob of an unopened external store: %v", err)
	}
	if _, err := d.Catalog.PutBlob(ctx, []byte("x")); !errors.Is(err, ErrBlobsNotOpened) {
		t.Fatalf("put into an unopened external store: %v", err)
	}
	if _, err := d.Catalog.Track(ctx, r.Tracks[0].Track.ID); err != nil {
		t.Fatalf("metadata without the blob store: %v", err)
	}
	d.Close()
	d, err = OpenDataDirWith(ctx, dir, quietDD().WithBlobs(bs, "s3:bucket/a/"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Catalog.Blob(ctx, hashes[0]); err != nil {
		t.Fatal(err)
	}
	d.Close()

	badgerDir, _ := initDir(t) // blobs in its own store
	if _, err := OpenDataDirWith(ctx, badgerDir, quietDD().WithBlobs(bs, "s3:bucket/b/")); !errors.Is(err, ErrBlobStore) {
		t.Fatalf("external store for a directory with its own blobs: %v, want ErrBlobStore", err)
	}
	d, err = OpenDataDirWith(ctx, badgerDir, quietDD())
	if err != nil || d.BlobStore != "" {
		t.Fatalf("the refused open changed the directory: %v %q", err, d.BlobStore)
	}
	d.Close()
}
