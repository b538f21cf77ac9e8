package msync_test

import (
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
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
	chs, err := d.Changes()
	if err != nil {
		tb.Fatal(err)
	}
	cs, raws := make([]msync.Change, len(chs)), make([][]byte, len(chs))
	for i, c := range chs {
		raws[i] = c.Save()
		if cs[i], err = msync.ParseChange(raws[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return cs, raws
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
	m := msync.Generate(a.g, a.s)
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
// covers the whole region. One change is sent.
func BenchmarkGenerateBloomHits(b *testing.B) {
	for _, region := range []int{10, 1000} {
		b.Run(fmt.Sprintf("region=%d", region), func(b *testing.B) {
			const history = 2000
			cs, raws := chain(b, history)
			g := msync.NewGraph()
			for i := range cs {
				g.Add(cs[i], raws[i])
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
				if m := msync.Generate(g, s); m == nil || len(m.Changes) != 1 || m.Changes[0].Hash != cs[history-1].Hash {
					b.Fatalf("generated %+v, want the last change alone", m)
				}
			}
		})
	}
}
