package repo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

func bigPlaylist(b *testing.B, r *Repo, n int) *Handle {
	b.Helper()
	ctx := context.Background()
	h, err := r.CreatePlaylist(ctx, "alice", "Big")
	if err != nil {
		b.Fatal(err)
	}
	tracks := make([]model.TrackID, n)
	for i := range tracks {
		tracks[i] = model.TrackID(fmt.Sprintf("trk%06d", i))
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tracks...); return err }); err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkEditSync10k: one move in a 10,000-entry playlist, then the
// sync exchange that brings the peer up to date. Reports the bytes of all
// sync messages of that exchange (goal < 1 KB) and its messages; ns/op
// covers the edit (including persistence) and the whole exchange.
func BenchmarkEditSync10k(b *testing.B) {
	ctx := context.Background()
	a, c := openRepo(b, store.NewMemory(), 40), openRepo(b, store.NewMemory(), 41)
	h := bigPlaylist(b, a, 10000)
	syncUntilQuiet(b, a, c, "A", "C", h.ID())
	var es []docs.Entry
	_ = h.ReadPlaylist(func(p *docs.Playlist) error { var err error; es, err = p.Entries(); return err })
	rng := rand.New(rand.NewPCG(1, 2))
	totalBytes, totalMsgs := 0, 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := es[rng.IntN(len(es))].ID
		if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.Move(e, docs.AtIndex(rng.IntN(len(es)))) }); err != nil {
			b.Fatal(err)
		}
		msgs, size := syncUntilQuiet(b, a, c, "A", "C", h.ID())
		totalBytes += size
		totalMsgs += msgs
	}
	b.ReportMetric(float64(totalBytes)/float64(b.N), "wire-bytes/edit")
	b.ReportMetric(float64(totalMsgs)/float64(b.N), "msgs/edit")
}

// BenchmarkFirstSync10k: a replica with nothing receives a 10,000-entry
// playlist. Reports bytes and messages of the exchange; ns/op is its time.
func BenchmarkFirstSync10k(b *testing.B) {
	a := openRepo(b, store.NewMemory(), 42)
	h := bigPlaylist(b, a, 10000)
	totalBytes, totalRounds := 0, 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := openRepo(b, store.NewMemory(), 43)
		_, size, rounds := syncRounds(b, a, c, "A", PeerID(fmt.Sprintf("C%d", i)), h.ID())
		totalBytes += size
		totalRounds += rounds
		c.Close()
	}
	b.ReportMetric(float64(totalBytes)/float64(b.N), "wire-bytes/op")
	b.ReportMetric(float64(totalRounds)/float64(b.N), "round-trips/op")
}

// BenchmarkReconnect1000x2: two replicas of a 200-entry playlist make
// 1,000 offline edits each (adds, moves, removes, renames; one commit
// each), then reconnect. Reports round trips and bytes of the
// reconciliation; ns/op is the reconciliation time only.
func BenchmarkReconnect1000x2(b *testing.B) {
	ctx := context.Background()
	totalBytes, totalRounds, totalMsgs := 0, 0, 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a, c := openRepo(b, store.NewMemory(), 44), openRepo(b, store.NewMemory(), 45)
		h := bigPlaylist(b, a, 200)
		syncUntilQuiet(b, a, c, "A", "C", h.ID())
		a.PeerDisconnected("C")
		c.PeerDisconnected("A")
		for k, r := range []*Repo{a, c} {
			hr, err := r.Get(ctx, h.ID())
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(k), uint64(i)))
			for j := range 1000 {
				err := hr.Playlist(ctx, func(p *docs.Playlist) error {
					es, err := p.Entries()
					if err != nil {
						return err
					}
					switch j % 4 {
					case 0:
						_, err = p.Add(docs.AtIndex(rng.IntN(len(es)+1)), "alice", model.TrackID(fmt.Sprintf("new%d-%d", k, j)))
						return err
					case 1:
						return p.Move(es[rng.IntN(len(es))].ID, docs.AtIndex(rng.IntN(len(es))))
					case 2:
						return p.Remove(es[rng.IntN(len(es))].ID)
					default:
						return p.Rename(fmt.Sprintf("name%d-%d", k, j))
					}
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		msgs, size, rounds := syncRounds(b, a, c, "A", "C", h.ID())
		b.StopTimer()
		hc, _ := c.Get(ctx, h.ID())
		if fmt.Sprint(hc.Heads()) != fmt.Sprint(h.Heads()) {
			b.Fatal("replicas differ after reconnection")
		}
		totalBytes += size
		totalRounds += rounds
		totalMsgs += msgs
		a.Close()
		c.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(totalBytes)/float64(b.N), "wire-bytes/op")
	b.ReportMetric(float64(totalRounds)/float64(b.N), "round-trips/op")
	b.ReportMetric(float64(totalMsgs)/float64(b.N), "msgs/op")
}
