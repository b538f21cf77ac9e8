package msync_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/msync/filespill"
)

// chain returns n real changes of one document, each on top of the
// previous one, as Changes with their encoded chunks.
func chain(tb testing.TB, n int) ([]msync.Change, [][]byte) {
	tb.Helper()
	d := automerge.New()
	for i := range n {
		if err := d.RootMap().Set("k", int64(i)); err != nil {
			tb.Fatal(err)
		}
		if _, err := d.Commit(""); err != nil {
			tb.Fatal(err)
		}
	}
	raws := savedChanges(tb, d)
	cs := make([]msync.Change, len(raws))
	for i, raw := range raws {
		var err error
		if cs[i], err = msync.ParseChange(raw); err != nil {
			tb.Fatal(err)
		}
	}
	return cs, raws
}

// savedChanges returns every change of d, encoded, in its order.
func savedChanges(tb testing.TB, d *automerge.Doc) [][]byte {
	tb.Helper()
	chs, err := d.Changes()
	if err != nil {
		tb.Fatal(err)
	}
	defer automerge.CloseChanges(chs)
	raws := make([][]byte, len(chs))
	for i, c := range chs {
		raws[i] = c.Save()
	}
	return raws
}

// peerSide is one end of an exchange: a graph and its sync state with
// the other end.
type peerSide struct {
	g *msync.Graph
	s *msync.State
}

// send generates side a's next message and has b receive it; it reports
// whether there was one.
func send(tb testing.TB, a, b peerSide) bool {
	m := generate(tb, a.g, a.s)
	if m == nil {
		return false
	}
	dm, err := msync.DecodeMessage(m.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	if err := msync.Receive(b.g, b.s, dm, func(m *msync.Message) error {
		for i, c := range m.Changes {
			b.g.Add(c, m.Raw[i])
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return true
}

// exchange runs a and b's protocol until neither has anything to send.
func exchange(tb testing.TB, a, b peerSide) {
	for range 100 {
		if !send(tb, a, b) && !send(tb, b, a) {
			return
		}
	}
	tb.Fatal("no quiet after 100 rounds")
}

// BenchmarkDelivery is the relay's sync-message path for one change of a
// playlist followed by 20 peers, all in Go: each iteration the first
// follower makes a change and sends it to the relay, which brings every
// follower up to date, each exchange encoding and decoding every message
// (Generate, Encode, DecodeMessage, Receive on both ends: the relay's
// message with the change, the follower's acknowledgement, the relay's
// answer). allocs/op are per change delivered to 19 followers plus the
// editor's acknowledgement.
func BenchmarkDelivery(b *testing.B) {
	for _, history := range []int{20, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			const followers = 20
			cs, raws := chain(b, history+b.N)
			relay := msync.NewGraph()
			for i := range history {
				relay.Add(cs[i], raws[i])
			}
			rs, fs := make([]peerSide, followers), make([]peerSide, followers)
			for f := range fs {
				rs[f] = peerSide{relay, &msync.State{}}
				fs[f] = peerSide{msync.NewGraph(), &msync.State{}}
				exchange(b, rs[f], fs[f])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c, raw := cs[history+i], raws[history+i]
				fs[0].g.Add(c, raw)
				for f := range fs {
					exchange(b, rs[f], fs[f])
				}
			}
			b.StopTimer()
			if got, want := fs[followers-1].g.Len(), relay.Len(); got != want {
				b.Fatalf("follower holds %d changes, relay %d", got, want)
			}
		})
	}
}

// BenchmarkGenerateBloomHits is Generate's worst case for the Bloom
// rule: a peer one change behind whose last sync point is region
// changes back (a reconnect from an old persisted state): its filter
// holds the other region-1 changes and its heads are known, so all but
// the last change are Bloom hits and the walk below the peer's heads
// covers the whole region. One change is sent. With spill=file the
// graph spills to a filespill file, as the relay's does: all but its
// newest ≈ 250 changes are cold, so the walks of region=1000 read pages
// back (through the page cache).
func BenchmarkGenerateBloomHits(b *testing.B) {
	for _, region := range []int{10, 1000} {
		for _, spill := range []bool{false, true} {
			name := fmt.Sprintf("region=%d", region)
			if spill {
				name += ",spill=file"
			}
			b.Run(name, func(b *testing.B) { benchBloomHits(b, region, spill) })
		}
	}
}

func benchBloomHits(b *testing.B, region int, spill bool) {
	const history = 2000
	cs, raws := chain(b, history)
	g := msync.NewGraph()
	if spill {
		f, err := filespill.Open(filespill.DefaultOptions(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		g.SpillTo(f)
	}
	for i := range cs {
		g.Add(cs[i], raws[i])
	}
	if u := g.Spilled(); spill && u.Cold < history*3/4 {
		b.Fatalf("%d of %d changes cold", u.Cold, history)
	}
	last := cs[history-region-1].Hash
	hs := make([]automerge.ChangeHash, region-1)
	for i := range hs {
		hs[i] = cs[history-region+i].Hash
	}
	have := []msync.Have{{LastSync: []automerge.ChangeHash{last}, Bloom: msync.NewBloom(hs)}}
	theirs := []automerge.ChangeHash{hs[len(hs)-1]}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s := &msync.State{SharedHeads: theirs, TheirHave: have, HasTheirHave: true, TheirHeads: theirs, HasTheirHeads: true, HasTheirNeed: true}
		if m := generate(b, g, s); m == nil || len(m.Changes) != 1 || m.Changes[0].Hash != cs[history-1].Hash {
			b.Fatalf("generated %+v, want the last change alone", m)
		}
	}
}

// storedIncs returns the increments a repo stores for a document of n
// changes edited one change per message: one change chunk each, the
// playlist's creation then n-1 entries of ≈ 250 bytes each (a map
// entry per track, as a playlist's), and the document.
func storedIncs(tb testing.TB, n int) ([][]byte, *automerge.Doc) {
	tb.Helper()
	d := automerge.New()
	if err := d.RootMap().Set("entries", automerge.NewMap()); err != nil {
		tb.Fatal(err)
	}
	if _, err := d.Commit("create"); err != nil {
		tb.Fatal(err)
	}
	entries := d.Path("entries").Map()
	for i := range n - 1 {
		e := automerge.NewMap()
		if err := entries.Set(fmt.Sprintf("entry-%08d", i), e); err != nil {
			tb.Fatal(err)
		}
		for k, v := range map[string]string{"track": fmt.Sprintf("track-%016d", i), "by": "alice", "pos": fmt.Sprintf("a%08x", i)} {
			if err := e.Set(k, v); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := d.Commit(""); err != nil {
			tb.Fatal(err)
		}
	}
	return savedChanges(tb, d), d
}

// BenchmarkGraphFromInc builds the change graph of a document of 10,000
// changes from its stored increments (Graph.AddChunks: no cgo), against
// building it from the loaded automerge document (Index: Doc.Changes
// and Change.Save through cgo), which is what a relay does today after
// loading the document.
func BenchmarkGraphFromInc(b *testing.B) {
	const n = 10000
	incs, d := storedIncs(b, n)
	defer d.Close()
	b.Run("inc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g := msync.NewGraph()
			for _, inc := range incs {
				if _, err := g.AddChunks(inc); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/change")
	})
	b.Run("automerge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := msync.Index(d); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/change")
	})
}

// BenchmarkGraphBytes reports the Go heap a change graph built from
// stored increments holds per change, its copies of the chunks included
// (deflated past the tail): graph-B/change, and the chunks' own size,
// raw-B/change. changes=10000 is a long history; changes=350 is the
// size of the relay's documents after 5 minutes of synccap's scenario
// (a) at 1,000 edits/s, where a graph's fixed costs (its tail slabs, its
// maps) and its slices' unused room weigh more. With spill=file the
// graph keeps its frozen slabs in a filespill file, as the relay does:
// spilled-B/change is what the file then holds of each change.
func BenchmarkGraphBytes(b *testing.B) {
	for _, n := range []int{350, 10000} {
		for _, spill := range []bool{false, true} {
			name := fmt.Sprintf("changes=%d", n)
			if spill {
				name += ",spill=file"
			}
			b.Run(name, func(b *testing.B) {
				incs, d := storedIncs(b, n)
				d.Close()
				var sp msync.Spill
				if spill {
					f, err := filespill.Open(filespill.DefaultOptions(b.TempDir()))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { f.Close() })
					sp = f
				}
				build := func() *msync.Graph { return spilledGraph(b, incs, sp) }
				var perChange float64
				for b.Loop() {
					runtime.GC()
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					g := build()
					runtime.GC()
					runtime.ReadMemStats(&after)
					perChange = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
					runtime.KeepAlive(g)
				}
				b.ReportMetric(perChange, "graph-B/change")
				g := build()
				b.ReportMetric(float64(g.Bytes())/float64(n), "raw-B/change")
				b.ReportMetric(float64(g.Spilled().Bytes)/float64(n), "spilled-B/change")
			})
		}
	}
}
