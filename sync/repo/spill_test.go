package repo

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/msync/spilltest"
)

// spilled returns what the lazy relay's graph of the pair's document
// holds in its spill.
func (p *lazyPair) spilled(t *testing.T) msync.SpillUse {
	t.Helper()
	h := mustGet(t, p.lazy, p.id)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changes == nil {
		return msync.SpillUse{}
	}
	return h.changes.Spilled()
}

// TestSpilledRelayMatchesApply: a lazy relay whose graphs spill their
// older chunks and, a slab later, their changes' nodes (WithSpill) ends
// like the relay applying every change through hundreds of owner edits
// (a few hundred bytes each) read back from the spill by catch-ups, a
// compaction of a document 150 changes behind, a new device's first
// sync (every change sent, the walk crossing the cold prefix) and a
// restart; a read the spill fails fails the call with
// msync.ErrSpillRead and leaves the document as it was, to be read once
// the spill works again.
func TestSpilledRelayMatchesApply(t *testing.T) {
	ctx := context.Background()
	sp := spilltest.NewMem()
	p := newLazyPairWith(t, relayOptions(90).WithSpill(sp))
	for range 250 {
		p.edit(t, p.ha, false, add("alice", 1))
	}
	if u := p.spilled(t); u.Slabs < 3 || u.Cold < 50 {
		t.Fatalf("%+v spilled after 250 edits", u)
	}
	if b := p.behind(t); b < 200 {
		t.Fatalf("the lazy relay's document is %d changes behind", b)
	}
	p.same(t)

	for range 150 {
		p.edit(t, p.ha, false, add("alice", 1))
	}
	// A catch-up that cannot read the spill fails and changes nothing.
	sp.FailGets(true)
	h := mustGet(t, p.lazy, p.id)
	err := h.Read(func(*automerge.Doc) error { return nil })
	if !errors.Is(err, msync.ErrSpillRead) {
		t.Fatalf("read of a document behind its spilled graph, the spill failing: %v", err)
	}
	if b := p.behind(t); b < 150 {
		t.Fatalf("the failed catch-up left the document %d changes behind", b)
	}
	sp.FailGets(false)
	p.same(t)

	// A compaction of a document behind its graph saves a copy caught up
	// from the spill.
	for range 150 {
		p.edit(t, p.ha, false, add("alice", 1))
	}
	if err := mustGet(t, p.lazy, p.id).Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if b := p.behind(t); b < 150 {
		t.Fatalf("the compaction caught the document up (%d behind)", b)
	}

	// A new device gets every change from the spilled graph.
	carol := openRepo(t, store.NewMemory(), 94)
	syncUntilQuiet(t, p.lazy, carol, "relay", "carol-dev", p.id)
	hc := mustGet(t, carol, p.id)
	if !slices.Equal(hc.Heads(), p.ha.Heads()) || len(entries(t, hc)) != 550 {
		t.Fatalf("new device: heads %v, %d entries; alice %v", hc.Heads(), len(entries(t, hc)), p.ha.Heads())
	}
	p.reopen(t)
	p.same(t)
	if _, err := p.lazy.Get(ctx, p.id); err != nil {
		t.Fatal(err)
	}
}
