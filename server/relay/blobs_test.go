package relay_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// TestNewWithBlobs: relay.New opens its data directory with the blob
// store of Options.WithBlobs (the directory records it), and refuses to
// start on that directory without it.
func TestNewWithBlobs(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "relay")
	bs := blobstore.NewKV(store.NewMemory())
	srv, err := relay.New(ctx, relay.DefaultOptions(dir).WithLogger(nil).WithBlobs(bs, "kv:test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.New(ctx, relay.DefaultOptions(dir).WithLogger(nil)); !errors.Is(err, catalog.ErrBlobsNotOpened) {
		t.Fatalf("relay without its blob store: %v, want ErrBlobsNotOpened", err)
	}
	dd, err := catalog.OpenDataDirWith(ctx, dir, catalog.DefaultDataDirOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	if dd.BlobStore != "kv:test" {
		t.Fatalf("recorded blob store %q, want kv:test", dd.BlobStore)
	}
}
