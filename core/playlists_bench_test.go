package core_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/benchlat"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
)

// BenchmarkBigPlaylist measures Playlists.Add, Move, Remove and Get on a
// playlist of 10,000 and 100,000 entries through the engine as an app
// calls it: each edit is one Automerge commit persisted to the engine's
// Badger store (on disk, in a temp dir) before it returns, compaction
// included. It reports per-op wall latency p50/p99/max and the calling
// thread's CPU time (internal/benchlat). Run with:
//
//	go test -run '^$' -bench BigPlaylist -benchtime 500x ./core/
func BenchmarkBigPlaylist(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		ctx := b.Context()
		// No relay: the edits are local (sync is not started).
		e := tbed.Engine(b, core.DefaultOptions().WithOrigins("http://127.0.0.1:9"))
		d, err := e.OpenDocs(ctx, "alice")
		if err != nil {
			b.Fatal(err)
		}
		pl := d.Playlists()
		id, err := pl.Create(ctx, "Big")
		if err != nil {
			b.Fatal(err)
		}
		tr := make([]model.TrackID, n)
		for i := range tr {
			tr[i] = model.TrackID(fmt.Sprintf("trk%06d", i))
		}
		if _, err := pl.Add(ctx, id, docs.AtEnd(), tr...); err != nil {
			b.Fatal(err)
		}
		for _, op := range []string{"Add", "Move", "Remove", "Get"} {
			b.Run(fmt.Sprintf("%dk/%s", n/1000, op), func(b *testing.B) {
				v, err := pl.Get(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				es := v.Entries
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				rec := benchlat.New(b.N)
				for i := range b.N {
					rec.Start()
					switch op {
					case "Add":
						_, err = pl.Add(ctx, id, docs.AtIndex((i*7919)%len(es)), model.TrackID(fmt.Sprintf("new%d", i)))
					case "Move":
						err = pl.Move(ctx, id, es[(i*104729)%len(es)].ID, docs.AtIndex((i*7919)%(len(es)-1)))
					case "Remove":
						err = pl.Remove(ctx, id, es[len(es)-1-i].ID)
					case "Get":
						_, err = pl.Get(ctx, id)
					}
					rec.Stop()
					if err != nil {
						b.Fatal(err)
					}
				}
				rec.Report(b)
			})
		}
	}
}
