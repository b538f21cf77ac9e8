package ingest_test

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest"
	"github.com/segue-fm/segue/store"
)

// Ingest the demo album's pre-encoded tiers: no encoder is needed.
func ExampleIngest() {
	ctx := context.Background()
	cat := catalog.New(store.NewMemory(), catalog.AtRestKey{})
	_, signer, _ := ed25519.GenerateKey(nil)
	req, err := ingest.LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		panic(err)
	}
	res, err := ingest.Ingest(ctx, cat, signer, req, ingest.DefaultOptions())
	if err != nil {
		panic(err)
	}
	for _, t := range res.Tracks {
		fmt.Println(t.Track.TrackNumber, t.Track.Title, t.Track.Samples, t.Track.Tiers)
	}
	// Output:
	// 1 Arrival 617003 [low normal high very_high]
	// 2 Crossing 682706 [low normal high very_high]
	// 3 Harbour Lights 680284 [low normal high very_high]
	// 4 Segue 666006 [low normal high very_high]
}
