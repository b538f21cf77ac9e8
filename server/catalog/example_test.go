package catalog_test

import (
	"context"
	"fmt"
	"time"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

func ExampleCatalog_PutBlob() {
	ctx := context.Background()
	c := catalog.New(store.NewMemory(), catalog.AtRestKey{})
	h, err := c.PutBlob(ctx, []byte("encrypted bytes"))
	if err != nil {
		panic(err)
	}
	b, _ := c.Blob(ctx, h)
	fmt.Println(string(b))
	// Until a published manifest references it, the blob is an orphan.
	n, _ := c.GC(ctx)
	fmt.Println("removed", n)
	// Output:
	// encrypted bytes
	// removed 1
}

func ExampleTrackIDFromMaster() {
	fmt.Println(catalog.TrackIDFromMaster([32]byte{}))
	fmt.Println(catalog.ArtistIDFor("Segue Ensemble") == catalog.ArtistIDFor("segue ensemble"))
	// Output:
	// traaaaaaaaaaaaaaaa
	// true
}

// GC over an external blob store spares unreferenced blobs younger than
// the grace period (an ingest that has not published yet).
func ExampleCatalog_GCWith() {
	ctx := context.Background()
	put := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	blobs := blobstore.NewKVWithClock(store.NewMemory(), func() time.Time { return put })
	c := catalog.NewWithBlobs(store.NewMemory(), catalog.AtRestKey{}, blobs)
	if _, err := c.PutBlob(ctx, []byte("encrypted bytes of an unfinished ingest")); err != nil {
		panic(err)
	}
	for _, now := range []time.Time{put.Add(30 * time.Minute), put.Add(2 * time.Hour)} {
		opts := catalog.DefaultGCOptions().WithGrace(time.Hour).WithClock(func() time.Time { return now })
		n, err := c.GCWith(ctx, opts)
		fmt.Println(now.Sub(put), "removed", n, err)
	}
	// Output:
	// 30m0s removed 0 <nil>
	// 2h0m0s removed 1 <nil>
}
