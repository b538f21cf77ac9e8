package catalog_test

import (
	"context"
	"fmt"

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
