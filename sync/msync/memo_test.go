package msync

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
)

// TestSinceMemoAcrossAdds: since's answers, memoised and extended as
// changes are added (a follower's shared heads staying put under a
// backlog), equal a fresh walk of the same graph after every Add,
// including for a have naming a change unknown when it was first asked.
func TestSinceMemoAcrossAdds(t *testing.T) {
	hash := func(i int) automerge.ChangeHash {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		return sha256.Sum256(b[:])
	}
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		memo, all := NewGraph(), []automerge.ChangeHash{}
		var haves [][]automerge.ChangeHash
		for i := range 200 {
			// A change depends on one to three earlier changes (a merge),
			// or on none for the first.
			var deps []automerge.ChangeHash
			for k := 0; i > 0 && k < 1+rnd.IntN(3); k++ {
				if d := all[rnd.IntN(len(all))]; !slices.Contains(deps, d) {
					deps = append(deps, d)
				}
			}
			h := hash(i)
			memo.Add(Change{Hash: h, Deps: deps}, nil)
			all = append(all, h)
			if rnd.IntN(10) == 0 {
				haves = append(haves, []automerge.ChangeHash{all[rnd.IntN(len(all))]})
			}
			if i == 50 {
				// Known only from change 150 on.
				haves = append(haves, []automerge.ChangeHash{hash(150)})
			}
			fresh := NewGraph()
			for p := range memo.nodes {
				n := &memo.nodes[p]
				var deps []automerge.ChangeHash
				for _, d := range memo.depsOf(int32(p)) {
					deps = append(deps, memo.nodes[d].hash)
				}
				fresh.Add(Change{Hash: n.hash, Deps: deps}, nil)
			}
			for _, have := range haves {
				got, want := mustSince(t, memo, have), mustSince(t, fresh, have)
				if !slices.Equal(memo.hashesAt(got, nil), fresh.hashesAt(want, nil)) {
					t.Fatalf("seed %d, after change %d: since(%x…) memoised %d changes, walked %d", seed, i, have[0][:4], len(got), len(want))
				}
			}
		}
	}
}

// hashesAt returns the hashes of the changes at ps, which a walk
// returned with err; it panics on err or a hash it cannot read.
func (g *Graph) hashesAt(ps []int32, err error) []automerge.ChangeHash {
	if err != nil {
		panic(err)
	}
	out := make([]automerge.ChangeHash, len(ps))
	for i, p := range ps {
		if out[i], err = g.hashAt(p); err != nil {
			panic(err)
		}
	}
	return out
}

func mustSince(tb testing.TB, g *Graph, have []automerge.ChangeHash) []int32 {
	tb.Helper()
	ps, err := g.since(have)
	if err != nil {
		tb.Fatal(err)
	}
	return ps
}

// TestMemoForMatchesWholeHeads: memoFor's fingerprint only skips
// entries; an entry is returned for the same heads (a copy) and never
// for heads that share the fingerprint's bytes but differ after them,
// nor for a subset or a different order.
func TestMemoForMatchesWholeHeads(t *testing.T) {
	g := NewGraph()
	var a, b, c, d automerge.ChangeHash
	a[0], b[0], c[0], d[0] = 1, 2, 3, 4
	g.Add(Change{Hash: a}, nil)
	g.Add(Change{Hash: b, Deps: []automerge.ChangeHash{a}}, nil)
	g.Add(Change{Hash: c, Deps: []automerge.ChangeHash{a}}, nil)
	g.Add(Change{Hash: d, Deps: []automerge.ChangeHash{b, c}}, nil)
	heads := []automerge.ChangeHash{b, c} // a peer one change behind
	if got := mustSince(t, g, heads); len(got) != 1 {
		t.Fatalf("since(b, c) = %v, want d only", got)
	}
	late := b
	late[31] ^= 1 // same first eight bytes, another hash
	for _, tc := range []struct {
		name string
		have []automerge.ChangeHash
		hit  bool
	}{
		{"same heads", slices.Clone(heads), true},
		{"differs after the fingerprint's bytes", []automerge.ChangeHash{late, c}, false},
		{"subset", []automerge.ChangeHash{b}, false},
		{"other order", []automerge.ChangeHash{c, b}, false},
		{"none", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.memoFor(tc.have) != nil; got != tc.hit {
				t.Fatalf("memoFor hit = %v, want %v", got, tc.hit)
			}
		})
	}
}
