package repo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// freshEntries reads h's entries with a new view (a full read of the
// document), bypassing the handle's view.
func freshEntries(t *testing.T, h *Handle) []docs.Entry {
	t.Helper()
	var es []docs.Entry
	if err := h.Read(func(d *automerge.Doc) error {
		p, err := docs.OpenPlaylist(d, docs.DefaultOptions())
		if err != nil {
			return err
		}
		es, err = p.Entries()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

func checkHandleView(t *testing.T, h *Handle, step string) {
	t.Helper()
	got, want := entries(t, h), freshEntries(t, h)
	if len(got) != len(want) {
		t.Fatalf("%s: view has %d entries, document %d", step, len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || got[i].Pos != want[i].Pos || got[i].Track != want[i].Track ||
			got[i].AddedBy != want[i].AddedBy || !got[i].AddedAt.Equal(want[i].AddedAt) {
			t.Fatalf("%s: entry %d: view %+v, document %+v", step, i, got[i], want[i])
		}
	}
}

// editRandomly makes one random Add, Move or Remove through h.
func editRandomly(t *testing.T, h *Handle, rng *rand.Rand, by model.UserID, step int) {
	t.Helper()
	err := h.Playlist(context.Background(), func(p *docs.Playlist) error {
		es, err := p.Entries()
		if err != nil {
			return err
		}
		switch op := rng.IntN(3); {
		case op == 0 || len(es) < 2:
			_, err = p.Add(docs.AtIndex(rng.IntN(len(es)+1)), by, model.TrackID(fmt.Sprintf("%s-%d", by, step)))
		case op == 1:
			err = p.Move(es[rng.IntN(len(es))].ID, docs.AtIndex(rng.IntN(len(es))))
		default:
			err = p.Remove(es[rng.IntN(len(es))].ID)
		}
		return err
	})
	if err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
}

// TestHandleEntryViewFollowsSync: the handle keeps one entry view across
// calls; local edits update it without a full read, and changes arriving
// by sync (concurrent edits of another device) make it rebuild once, after
// which it equals a fresh read of the document.
func TestHandleEntryViewFollowsSync(t *testing.T) {
	ctx := context.Background()
	a := openRepo(t, store.NewMemory(), 21)
	b := openRepo(t, store.NewMemory(), 22)
	ha, err := a.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.Playlist(ctx, func(p *docs.Playlist) error {
		tr := make([]model.TrackID, 200)
		for i := range tr {
			tr[i] = model.TrackID(fmt.Sprintf("seed%03d", i))
		}
		_, err := p.Add(docs.AtEnd(), "alice", tr...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, a, b, "dev-a", "dev-b", ha.ID())
	hb, err := b.Get(ctx, ha.ID())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 15 {
		checkHandleView(t, ha, fmt.Sprintf("round %d a", round))
		checkHandleView(t, hb, fmt.Sprintf("round %d b", round))
		ra, rb := ha.view.Rebuilds(), hb.view.Rebuilds()
		for i := range 1 + rng.IntN(6) {
			editRandomly(t, ha, rng, "alice", round*100+i)
			editRandomly(t, hb, rng, "bob", round*100+i)
		}
		checkHandleView(t, ha, fmt.Sprintf("round %d a after edits", round))
		checkHandleView(t, hb, fmt.Sprintf("round %d b after edits", round))
		if ha.view.Rebuilds() != ra || hb.view.Rebuilds() != rb {
			t.Fatalf("round %d: local edits rebuilt the view (a %d, b %d times)", round, ha.view.Rebuilds()-ra, hb.view.Rebuilds()-rb)
		}
		syncUntilQuiet(t, a, b, "dev-a", "dev-b", ha.ID())
		checkHandleView(t, ha, fmt.Sprintf("round %d a after sync", round))
		checkHandleView(t, hb, fmt.Sprintf("round %d b after sync", round))
		if got := ha.view.Rebuilds() - ra; got != 1 {
			t.Fatalf("round %d: sync rebuilt a's view %d times, want 1", round, got)
		}
	}
}

// TestCompactionWaitsForSnapshotShare: a count-triggered compaction waits
// until the increments weigh compactShare times the snapshot (past
// compactFloor), so edits to a big
// playlist do not rewrite its snapshot every few edits; a small document
// still compacts at the count.
func TestCompactionWaitsForSnapshotShare(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		entries int
		maxIncs int // bound on increments stored after the edits
		minIncs int
	}{
		{"small document compacts at the count", 1, 8, 0},
		// A 1.2 KB snapshot: compacts once the increments pass
		// (1216 - compactFloor) × compactShare ≈ 3 KB, after more
		// than the count of 8 and before the 40 edits end.
		{"document past the floor waits for the share", 100, 39, 9},
		// Big by its snapshot (what the share compares), not its count:
		// one Add's entries deflate to a few bytes each.
		{"big document keeps its increments", 6000, 40, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			r, err := Open(ctx, st, testOptions(7).WithCompaction(8, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			h, err := r.CreatePlaylist(ctx, "alice", "Mix")
			if err != nil {
				t.Fatal(err)
			}
			tr := make([]model.TrackID, tc.entries)
			for i := range tr {
				tr[i] = model.TrackID(fmt.Sprintf("t%05d", i))
			}
			if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tr...); return err }); err != nil {
				t.Fatal(err)
			}
			if err := h.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range 40 {
				editRandomly(t, h, rng, "alice", i)
			}
			// Past the floor a compaction runs in the background.
			if err := settle(h); err != nil {
				t.Fatal(err)
			}
			incs := 0
			if err := st.Iterate(ctx, incPrefix(h.ID()), false, func(k, v []byte) error { incs++; return nil }); err != nil {
				t.Fatal(err)
			}
			if incs > tc.maxIncs || incs < tc.minIncs {
				t.Fatalf("%d increments stored, want %d..%d", incs, tc.minIncs, tc.maxIncs)
			}
		})
	}
}
