package access_test

import (
	"context"
	"fmt"
	"time"

	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/store"
)

func Example() {
	ctx := context.Background()
	st := store.NewMemory()
	w := access.NewStoreWriter(st, access.DefaultOptions())
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	w.Write(access.Record{Kind: access.KindChunk, Time: at.UnixMilli(), Device: "d1",
		Track: "t1", Tier: "high", First: 4, Last: 4, Bytes: 81920})
	w.Close() // flushes
	access.NewStoreReader(st).Scan(ctx, at.Add(-time.Hour), at.Add(time.Hour), func(r access.Record) error {
		fmt.Println(r.Kind, r.Device, r.Track, r.Tier, r.First, r.Bytes)
		return nil
	})
	// Output: chunk d1 t1 high 4 81920
}
