package msync_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/msync/spilltest"
)

// fakeChunk returns a change chunk in automerge's layout — magic bytes,
// the hash's first four bytes, type 1, body length, the dependencies'
// hashes, then body — which a graph stores stripped once frozen.
func fakeChunk(h automerge.ChangeHash, deps []automerge.ChangeHash, body []byte) []byte {
	b := []byte{0x85, 0x6f, 0x4a, 0x83}
	b = append(b, h[:4]...)
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(len(body)+1+32*len(deps)))
	b = binary.AppendUvarint(b, uint64(len(deps)))
	for _, d := range deps {
		b = append(b, d[:]...)
	}
	return append(b, body...)
}

// dagChanges returns n changes of a history with concurrent branches:
// each depends on one to three of the last 60 changes, one in 40 on any
// earlier change (a device back from a long time offline), and one in
// 25 has a chunk automerge would not write (kept whole when frozen).
func dagChanges(seed uint64, n int) ([]msync.Change, [][]byte) {
	rnd := rand.New(rand.NewPCG(seed, 7))
	var cs []msync.Change
	var raws [][]byte
	for i := range n {
		h := automerge.ChangeHash(sha256.Sum256(fmt.Appendf(nil, "%d/%d", seed, i)))
		var deps []automerge.ChangeHash
		for k := 0; i > 0 && k < 1+rnd.IntN(3); k++ {
			j := i - 1 - rnd.IntN(min(i, 60))
			if rnd.IntN(40) == 0 {
				j = rnd.IntN(i)
			}
			if d := cs[j].Hash; !slices.Contains(deps, d) {
				deps = append(deps, d)
			}
		}
		body := make([]byte, 60+rnd.IntN(200))
		for k := range body {
			body[k] = byte(rnd.IntN(8)) // compressible, as real changes are
		}
		raw := fakeChunk(h, deps, body)
		if rnd.IntN(25) == 0 {
			raw = append([]byte("not a chunk"), body...)
		}
		cs = append(cs, msync.Change{Hash: h, Deps: deps, Actor: []byte{byte(i % 5)}, Seq: uint64(i/5 + 1)})
		raws = append(raws, raw)
	}
	return cs, raws
}

// coldPair returns the graph of the changes kept in memory and the same
// graph spilling to sp from its start (every change but the newest few
// slabs' worth cold).
func coldPair(t *testing.T, cs []msync.Change, raws [][]byte, sp msync.Spill) (hot, cold *msync.Graph) {
	t.Helper()
	hot, cold = msync.NewGraph(), msync.NewGraph()
	cold.SpillTo(sp)
	for i := range cs {
		hot.Add(cs[i], raws[i])
		cold.Add(cs[i], raws[i])
	}
	if u := cold.Spilled(); u.Cold < len(cs)*8/10 {
		t.Fatalf("%d of %d changes cold", u.Cold, len(cs))
	}
	return hot, cold
}

// peerState returns a sync state of a peer holding heads (and what they
// descend from), as after its message with a Bloom filter of bloomed
// and a need list.
func peerState(heads, bloomed, need []automerge.ChangeHash) msync.State {
	return msync.State{
		SharedHeads:   slices.Clone(heads),
		TheirHeads:    slices.Clone(heads),
		HasTheirHeads: true,
		TheirHave:     []msync.Have{{LastSync: slices.Clone(heads), Bloom: msync.NewBloom(bloomed)}},
		HasTheirHave:  true,
		TheirNeed:     slices.Clone(need),
		HasTheirNeed:  true,
	}
}

// TestColdGraphAgrees: a graph whose history is cold — nodes, dependency
// lists and chunks in its spill — answers like one holding everything
// in memory: every hash found and every stranger not, every chunk and
// increment, and the sync messages and received-message bookkeeping of
// peers at random points of a history with concurrent branches (walks
// that cross into the cold prefix, Bloom filters over it, old changes
// needed).
func TestColdGraphAgrees(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			cs, raws := dagChanges(seed, 3000)
			hot, cold := coldPair(t, cs, raws, spilltest.NewMem())
			rnd := rand.New(rand.NewPCG(seed, 9))
			for i, c := range cs {
				if !cold.Has(c.Hash) || !bytes.Equal(rawOf(t, cold, c.Hash), raws[i]) || !bytes.Equal(rawAt(t, cold, i), raws[i]) {
					t.Fatalf("change %d not read back", i)
				}
				stranger := c.Hash
				stranger[31] ^= 0x55
				if cold.Has(stranger) {
					t.Fatalf("a stranger hash found as change %d", i)
				}
			}
			for from := 0; from <= len(cs); from += 101 {
				if !bytes.Equal(appendRaw(t, cold, nil, from), appendRaw(t, hot, nil, from)) {
					t.Fatalf("increment from %d differs", from)
				}
			}
			pick := func(k int) []automerge.ChangeHash {
				var hs []automerge.ChangeHash
				for range k {
					hs = append(hs, cs[rnd.IntN(len(cs))].Hash)
				}
				return hs
			}
			for step := range 60 {
				// A peer whose heads lie anywhere in the history, most
				// of them far back, with a filter of changes it holds
				// since (and false positives of its own) and old
				// changes it asks for.
				heads := pick(1 + rnd.IntN(3))
				if step%3 == 0 {
					heads = slices.Clone(hot.Heads())
				}
				a := peerState(heads, pick(rnd.IntN(200)), pick(rnd.IntN(3)))
				b := peerState(heads, nil, a.TheirNeed)
				b.TheirHave = a.TheirHave
				ma, mb := generate(t, hot, &a), generate(t, cold, &b)
				if !reflect.DeepEqual(ma, mb) {
					t.Fatalf("step %d: messages differ: %d changes from memory, %d from the cold graph", step, len(ma.Changes), len(mb.Changes))
				}
				// The peer's reply shows heads elsewhere: SentHashes
				// loses what they descend from.
				reply := &msync.Message{Heads: pick(1 + rnd.IntN(2))}
				a.SentHashes, b.SentHashes = setOf(pick(40)), setOf(nil)
				maps.Copy(b.SentHashes, a.SentHashes)
				if err := msync.Receive(hot, &a, reply, nil); err != nil {
					t.Fatal(err)
				}
				if err := msync.Receive(cold, &b, reply, nil); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("step %d: states differ after a reply: %d sent hashes left in memory, %d cold", step, len(a.SentHashes), len(b.SentHashes))
				}
			}
		})
	}
}

func setOf(hs []automerge.ChangeHash) map[automerge.ChangeHash]struct{} {
	m := map[automerge.ChangeHash]struct{}{}
	for _, h := range hs {
		m[h] = struct{}{}
	}
	return m
}

// TestColdReadFailures: with the spill failing every read, a cold change
// is still found (its fingerprint), a stranger is not, the newest
// changes are read and a peer in step is served from memory; a peer far
// behind fails Generate with ErrSpillRead and its state unchanged, a
// reply whose walk reaches the cold prefix fails Receive with it; once
// the spill reads again both work.
func TestColdReadFailures(t *testing.T) {
	cs, raws := dagChanges(11, 2000)
	sp := spilltest.NewMem()
	hot, cold := coldPair(t, cs, raws, sp)
	sp.FailGets(true)
	for i, c := range cs {
		stranger := c.Hash
		stranger[0] ^= 1
		if !cold.Has(c.Hash) || cold.Has(stranger) {
			t.Fatalf("change %d: Has without reads", i)
		}
	}
	last := len(cs) - 1
	if !bytes.Equal(rawAt(t, cold, last), raws[last]) {
		t.Fatal("the newest change not read from memory")
	}
	inStep := peerState(hot.Heads(), nil, nil)
	if m := generate(t, cold, &inStep); m == nil || len(m.Changes) != 0 {
		t.Fatalf("message to a peer in step: %v", m)
	}
	behind := peerState([]automerge.ChangeHash{cs[10].Hash}, nil, nil)
	before := behind
	if m, err := msync.Generate(cold, &behind); !errors.Is(err, msync.ErrSpillRead) || m != nil {
		t.Fatalf("Generate for a peer far behind: %v, %v", m, err)
	}
	if !reflect.DeepEqual(before, behind) {
		t.Fatal("a failed Generate changed the state")
	}
	st := peerState(hot.Heads(), nil, nil)
	st.SentHashes = setOf([]automerge.ChangeHash{cs[5].Hash})
	if err := msync.Receive(cold, &st, &msync.Message{Heads: hot.Heads()}, nil); !errors.Is(err, msync.ErrSpillRead) {
		t.Fatalf("Receive walking into the cold prefix: %v", err)
	}
	sp.FailGets(false)
	want := peerState([]automerge.ChangeHash{cs[10].Hash}, nil, nil)
	if m, mw := generate(t, cold, &behind), generate(t, hot, &want); !reflect.DeepEqual(m, mw) {
		t.Fatal("Generate once the spill reads again differs from memory")
	}
	if err := msync.Receive(cold, &st, &msync.Message{Heads: hot.Heads()}, nil); err != nil || len(st.SentHashes) != 0 {
		t.Fatalf("Receive once the spill reads again: %v, %d sent hashes left", err, len(st.SentHashes))
	}
}

// TestColdPutFailures: pages the spill refuses leave their changes hot,
// and the cold prefix resumes where it stopped once the spill takes them
// again, the graph answering as one in memory throughout.
func TestColdPutFailures(t *testing.T) {
	cs, raws := dagChanges(12, 3000)
	hot := msync.NewGraph()
	sp := spilltest.NewMem()
	cold := msync.NewGraph()
	cold.SpillTo(sp)
	var stalled int
	for i := range cs {
		switch i {
		case 1000:
			sp.FailPuts(true)
			stalled = cold.Spilled().Cold
		case 2000:
			if u := cold.Spilled(); u.Cold != stalled {
				t.Fatalf("cold prefix moved from %d to %d while the spill refused", stalled, u.Cold)
			}
			sp.FailPuts(false)
		}
		hot.Add(cs[i], raws[i])
		cold.Add(cs[i], raws[i])
	}
	if u := cold.Spilled(); stalled == 0 || u.Cold < 2500 {
		t.Fatalf("cold prefix %d at change 1000, %d at the end", stalled, u.Cold)
	}
	if !bytes.Equal(appendRaw(t, cold, nil, 0), appendRaw(t, hot, nil, 0)) {
		t.Fatal("history read back differs")
	}
	a, b := peerState(nil, nil, nil), peerState(nil, nil, nil)
	a.TheirHave, b.TheirHave = []msync.Have{{}}, []msync.Have{{}}
	if !reflect.DeepEqual(generate(t, hot, &a), generate(t, cold, &b)) {
		t.Fatal("a new peer's message differs")
	}
}
