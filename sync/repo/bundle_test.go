package repo

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/segue-fm/segue/store"
)

// TestBundleRuns: each run of consecutive unsealed increments becomes one
// bundle under its first key, the run's other keys deleted; a sealed
// increment ends a run and stays; a run of one is left alone; a bundle
// below the seal stays counted.
func TestBundleRuns(t *testing.T) {
	inc := func(tag byte, n int) []byte { return bytes.Repeat([]byte{tag}, n) }
	key := func(seq uint64) []byte { return []byte(fmt.Sprint("k", seq)) }
	const seal = 100
	for _, tc := range []struct {
		name      string
		seqs      []uint64
		incs      [][]byte
		set       []string // key=tags
		del       []string
		kept      int32
		keptBytes int32
	}{
		{name: "none"},
		{name: "one increment", seqs: []uint64{3}, incs: [][]byte{inc('a', 10)}, kept: 1, keptBytes: 10},
		{name: "one run sealed", seqs: []uint64{3, 4, 6}, incs: [][]byte{inc('a', 40), inc('b', 40), inc('c', 40)},
			set: []string{"k3=abc"}, del: []string{"k4", "k6"}},
		{name: "one run below the seal", seqs: []uint64{1, 2}, incs: [][]byte{inc('a', 10), inc('b', 20)},
			set: []string{"k1=ab"}, del: []string{"k2"}, kept: 1, keptBytes: 30},
		{name: "sealed ends runs", seqs: []uint64{1, 2, 3, 4, 5, 6},
			incs: [][]byte{inc('a', 60), inc('b', 60), inc('S', 100), inc('c', 10), inc('d', 10), inc('e', 10)},
			set:  []string{"k1=ab", "k4=cde"}, del: []string{"k2", "k5", "k6"}, kept: 1, keptBytes: 30},
		{name: "sealed only", seqs: []uint64{1, 2}, incs: [][]byte{inc('S', 100), inc('T', 500)}},
		{name: "lone between sealed", seqs: []uint64{1, 2, 3}, incs: [][]byte{inc('S', 100), inc('a', 5), inc('T', 100)},
			kept: 1, keptBytes: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := make([][]byte, len(tc.incs))
			for i, b := range tc.incs {
				orig[i] = bytes.Clone(b)
			}
			out := bundleRuns(tc.seqs, tc.incs, seal, key)
			var set, del []string
			for _, kv := range out.set {
				var tags []byte
				for i, b := range kv.v {
					if i == 0 || b != kv.v[i-1] {
						tags = append(tags, b)
					}
				}
				set = append(set, string(kv.k)+"="+string(tags))
			}
			for _, k := range out.del {
				del = append(del, string(k))
			}
			if !slices.Equal(set, tc.set) || !slices.Equal(del, tc.del) || out.keptCount != tc.kept || out.keptBytes != tc.keptBytes || out.snapBytes != -1 {
				t.Fatalf("set %v del %v kept %d (%d B) snap %d, want set %v del %v kept %d (%d B) snap -1",
					set, del, out.keptCount, out.keptBytes, out.snapBytes, tc.set, tc.del, tc.kept, tc.keptBytes)
			}
			for i := range tc.incs {
				if !bytes.Equal(tc.incs[i], orig[i]) {
					t.Fatal("bundleRuns modified its input")
				}
			}
			for _, kv := range out.set {
				n := 0
				for i, s := range tc.seqs {
					if bytes.Equal(key(s), kv.k) {
						for _, b := range tc.incs[i:] {
							if len(b) >= seal || n >= len(kv.v) {
								break
							}
							if !bytes.Equal(kv.v[n:n+len(b)], b) {
								t.Fatalf("bundle at %s is not its run's bytes in order", kv.k)
							}
							n += len(b)
						}
					}
				}
				if n != len(kv.v) {
					t.Fatalf("bundle at %s holds %d bytes, its run %d", kv.k, len(kv.v), n)
				}
			}
		})
	}
}

// storedIncs returns the document's stored increments by sequence number.
func (f *bgFixture) storedIncs(t *testing.T) map[uint64][]byte {
	t.Helper()
	ip := incPrefix(f.h.ID())
	incs := map[uint64][]byte{}
	if err := f.bst.Iterate(context.Background(), ip, false, func(k, v []byte) error {
		seq, err := store.Uint64(k[len(ip):])
		incs[seq] = bytes.Clone(v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return incs
}

// TestBackgroundBundles: a relay's document behind its change graph with
// a history past bundleFrom is compacted at the byte bound into a bundle
// of the increments it covers — their bytes in order under the first's
// key, the others deleted, the snapshot untouched, nothing written
// meanwhile touched — which is sealed (not counted, left as it is by
// the next bundle); the document loads from the bundles
// to the same heads, with and without a snapshot.
func TestBackgroundBundles(t *testing.T) {
	for _, snapFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("snapshot=", snapFirst), func(t *testing.T) {
			f := newBGFixture(t, true, 120)
			ctx := context.Background()
			if snapFirst {
				if err := f.edit(); err != nil {
					t.Fatal(err)
				}
				if err := f.h.Compact(ctx); err != nil {
					t.Fatal(err)
				}
			}
			f.r.opts.bundleFrom = 0
			snap0, _ := f.stored(t)
			started, release := f.gate(t, false)
			var bundles []uint64
			for round := range 3 {
				c := f.untilCompacting(t)
				<-started
				if !c.bundle {
					t.Fatalf("round %d: a snapshot compaction of a document with a %d-change graph", round, f.h.changes.Len())
				}
				before := f.storedIncs(t)
				for range 2 {
					if err := f.edit(); err != nil {
						t.Fatal(err)
					}
				}
				release()
				if err := settle(f.h); err != nil {
					t.Fatal(err)
				}
				f.hook = nil
				after := f.storedIncs(t)
				var want []byte
				first := uint64(0)
				for _, s := range slices.Sorted(maps.Keys(before)) {
					if s >= c.covered || slices.Contains(bundles, s) {
						if !bytes.Equal(after[s], before[s]) {
							t.Fatalf("round %d: increment %d changed (a bundle or written meanwhile)", round, s)
						}
						continue
					}
					if first == 0 {
						first = s
					} else if _, ok := after[s]; ok {
						t.Fatalf("round %d: increment %d not deleted", round, s)
					}
					want = append(want, before[s]...)
				}
				if !bytes.Equal(after[first], want) || len(want) < f.r.opts.maxIncBytes {
					t.Fatalf("round %d: bundle at %d holds %d bytes, want the %d of the increments it covers", round, first, len(after[first]), len(want))
				}
				bundles = append(bundles, first)
				if snap, _ := f.stored(t); !bytes.Equal(snap, snap0) {
					t.Fatalf("round %d: the snapshot changed", round)
				}
				f.h.mu.Lock()
				count, incBytes := f.h.incCount, f.h.incBytes
				f.h.mu.Unlock()
				wantCount, wantBytes := 0, 0
				for s, v := range after {
					if !slices.Contains(bundles, s) {
						wantCount++
						wantBytes += len(v)
					}
				}
				if int(count) != wantCount || int(incBytes) != wantBytes {
					t.Fatalf("round %d: handle counts %d increments of %d B, want the %d unbundled of %d B", round, count, incBytes, wantCount, wantBytes)
				}
				started, release = f.gate(t, false)
			}
			release()
			f.reopenHeads(t, f.want())
		})
	}
}
