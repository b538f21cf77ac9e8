package repo

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cmem"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
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
		{name: "runs cut at the seal", seqs: []uint64{1, 2, 3, 4, 5},
			incs: [][]byte{inc('a', 60), inc('b', 60), inc('c', 60), inc('d', 60), inc('e', 10)},
			set:  []string{"k1=ab", "k3=cd"}, del: []string{"k2", "k4"}, kept: 1, keptBytes: 10},
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
			for i, kv := range out.set {
				chunks, err := openRecord(kv.k, kv.v)
				if err != nil || len(kv.v) == len(chunks) {
					t.Fatalf("bundle at %s is not a framed record: %v", kv.k, err)
				}
				out.set[i].v = chunks
			}
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

// storedIncs returns the change chunks of the document's stored
// increments by sequence number.
func (f *bgFixture) storedIncs(t *testing.T) map[uint64][]byte {
	t.Helper()
	ip := incPrefix(f.h.ID())
	incs := map[uint64][]byte{}
	if err := f.bst.Iterate(context.Background(), ip, false, func(k, v []byte) error {
		seq, err := store.Uint64(k[len(ip):])
		if err != nil {
			return err
		}
		chunks, err := openRecord(k, v)
		incs[seq] = bytes.Clone(chunks)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return incs
}

// TestBackgroundBundles: a relay's document behind its change graph with
// a history past bundleFrom is compacted at the byte bound into bundles
// of the increments it covers — their bytes in order, each bundle
// sealed (at least half the byte bound, below the bound) but the
// run's end, the snapshot untouched, sealed increments and those
// written meanwhile untouched — and the handle counts the unsealed
// ones; the document loads from the bundles to the same heads, with and
// without a snapshot.
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
			seal := f.r.sealBytes()
			snap0, _ := f.stored(t)
			snaps0, _ := f.r.Compactions()
			started, release := f.gate(t, false)
			for round := range 4 {
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
				var want, got []byte
				kept, merged := 0, 0
				for _, s := range slices.Sorted(maps.Keys(before)) {
					if s >= c.covered || len(before[s]) >= seal {
						if !bytes.Equal(after[s], before[s]) {
							t.Fatalf("round %d: increment %d changed (sealed or written meanwhile)", round, s)
						}
						continue
					}
					want = append(want, before[s]...)
					merged++
				}
				for _, s := range slices.Sorted(maps.Keys(after)) {
					if s >= c.covered || len(before[s]) >= seal {
						continue
					}
					got = append(got, after[s]...)
					if len(after[s]) >= 2*seal {
						t.Fatalf("round %d: bundle %d holds %d bytes, past twice the seal (%d)", round, s, len(after[s]), seal)
					}
					if len(after[s]) < seal {
						kept++
					}
				}
				if !bytes.Equal(got, want) || len(want) < f.r.opts.maxIncBytes {
					t.Fatalf("round %d: the covered increments' %d bytes read back as %d bytes differing", round, len(want), len(got))
				}
				if kept > 1 || merged < 2 {
					t.Fatalf("round %d: %d increments merged, %d unsealed left of them", round, merged, kept)
				}
				if snap, _ := f.stored(t); !bytes.Equal(snap, snap0) {
					t.Fatalf("round %d: the snapshot changed", round)
				}
				f.h.mu.Lock()
				count, incBytes := f.h.incCount, f.h.incBytes
				f.h.mu.Unlock()
				wantCount, wantBytes := 0, 0
				for _, v := range after {
					if len(v) < seal {
						wantCount++
						wantBytes += len(v)
					}
				}
				if int(count) != wantCount || int(incBytes) != wantBytes {
					t.Fatalf("round %d: handle counts %d increments of %d B, want the %d unsealed of %d B", round, count, incBytes, wantCount, wantBytes)
				}
				started, release = f.gate(t, false)
			}
			release()
			if snaps, n := f.r.Compactions(); n != 4 || snaps != snaps0 {
				t.Fatalf("Compactions reports %d snapshots and %d bundle jobs, want %d and 4", snaps, n, snaps0)
			}
			f.reopenHeads(t, f.want())
		})
	}
}

// BenchmarkBundledLoad reports what bundles cost a load (Repo.read's
// stored.load): a playlist of 20,000 one-entry changes stored as one
// snapshot of them all, against a snapshot of its first 4,096 changes
// and the rest in bundles of ≈ 512 KiB, half the default byte bound
// (what a relay keeps of a document that stayed behind past
// defaultBundleFrom), side by side: the time to load, the bytes stored
// and the C heap the loaded document holds.
//
//	go test ./sync/repo/ -run '^$' -bench BundledLoad -benchtime 5x
func BenchmarkBundledLoad(b *testing.B) {
	if !cmem.Supported() {
		b.Skip("needs glibc ≥ 2.33 (mallinfo2) to measure C memory")
	}
	const changes = 20000
	src := automerge.New()
	defer src.Close()
	pl, err := docs.CreatePlaylist(src, "owner", "p", docs.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	incs := [][]byte{src.SaveIncremental()}
	for i := range changes {
		if _, err := pl.Add(docs.AtEnd(), "owner", model.TrackID(fmt.Sprint("t", i))); err != nil {
			b.Fatal(err)
		}
		incs = append(incs, src.SaveIncremental())
	}
	heads := src.Heads()
	head, err := stored{incs: incs[:defaultBundleFrom+1]}.load()
	if err != nil {
		b.Fatal(err)
	}
	bundled := stored{snap: head.Save()}
	head.Close()
	seal := (&Repo{opts: DefaultOptions()}).sealBytes()
	var cur []byte
	for _, inc := range incs[defaultBundleFrom+1:] {
		if cur = append(cur, inc...); len(cur) >= seal {
			bundled.incs, cur = append(bundled.incs, cur), nil
		}
	}
	if cur != nil {
		bundled.incs = append(bundled.incs, cur)
	}
	for _, c := range []struct {
		name string
		st   stored
	}{{"snapshot", stored{snap: src.Save()}}, {"snapshot4096+bundles", bundled}} {
		b.Run(c.name, func(b *testing.B) {
			size := len(c.st.snap)
			for _, inc := range c.st.incs {
				size += len(inc)
			}
			var held uint64
			for range b.N {
				b.StopTimer()
				base := settleC()
				b.StartTimer()
				d, err := c.st.load()
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if got := d.Heads(); !slices.Equal(got, heads) {
					b.Fatalf("loads to heads %v, want %v", got, heads)
				}
				held = max(held, cmem.Stats().InUse-min(cmem.Stats().InUse, base))
				d.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(size)/(1<<10), "stored-KiB")
			b.ReportMetric(float64(held)/(1<<20), "C-MiB-loaded")
		})
	}
}
