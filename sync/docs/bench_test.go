package docs

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/benchlat"
)

// BenchmarkPlaylistOps measures one Add, Move, Remove or Entries call on
// a playlist of 10,000 and 100,000 entries (per-op wall latency p50/p99
// and the thread's CPU time per op, see internal/benchlat):
//
//   - view: one Playlist kept across calls, as sync/repo's Handle keeps
//     its EntryView (the path since issue 10).
//   - fresh: a new Playlist (empty view) per call, so every call reads
//     every entry through cgo first, as every call did before.
//
// Run with:
//
//	go test -run '^$' -bench PlaylistOps -benchtime 200x ./sync/docs/
//
// The fresh variants stop after 5 ops (each costs a full read).
func BenchmarkPlaylistOps(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		p := newPlaylistB(b, n)
		for _, mode := range []string{"view", "fresh"} {
			for _, op := range []string{"Add", "Move", "Remove", "Entries"} {
				b.Run(fmt.Sprintf("%dk/%s/%s", n/1000, mode, op), func(b *testing.B) {
					es, err := p.Entries()
					if err != nil {
						b.Fatal(err)
					}
					iters := b.N
					if mode == "fresh" {
						iters = min(iters, 5)
					}
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					rec := benchlat.New(iters)
					for i := range iters {
						q := p
						if mode == "fresh" {
							q = &Playlist{doc: p.doc, opts: p.opts, view: NewEntryView()}
						}
						rec.Start()
						switch op {
						case "Add":
							_, err = q.Add(AtIndex((i*7919)%len(es)), "alice", model.TrackID(fmt.Sprintf("new%d", i)))
						case "Move":
							err = q.Move(es[(i*104729)%len(es)].ID, AtIndex((i*7919)%(len(es)-1)))
						case "Remove":
							err = q.Remove(es[len(es)-1-i].ID)
						case "Entries":
							_, err = q.Entries()
						}
						rec.Stop()
						if err != nil {
							b.Fatal(err)
						}
					}
					// Keep p's own view current for the next sub-benchmark.
					if _, err := p.Entries(); err != nil {
						b.Fatal(err)
					}
					rec.Report(b)
				})
			}
		}
	}
}

func newPlaylistB(b *testing.B, n int) *Playlist {
	p, err := CreatePlaylist(newDoc(), "alice", "Big", testOpts(1))
	if err != nil {
		b.Fatal(err)
	}
	tr := make([]model.TrackID, n)
	for i := range tr {
		tr[i] = model.TrackID(fmt.Sprintf("trk%06d", i))
	}
	if _, err := p.Add(AtEnd(), "alice", tr...); err != nil {
		b.Fatal(err)
	}
	return p
}
