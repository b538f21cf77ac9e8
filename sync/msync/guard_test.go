package msync_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/internal/amchunk"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// TestGuard: ApplyTo refuses, before automerge sees them, the changes
// automerge 0.5 applies and is then corrupted by (TestGuardedHazards) or
// aborts the process on: operation ids its actor already used (in the
// document, in a change it queues, in the same message), sequence
// numbers that are not the actor's next when the change would apply
// (at once, or from the queue), operations it cannot read; it leaves the
// document and the graph as they were; correct changes pass in any
// order.
func TestGuard(t *testing.T) {
	b := newLazyBase(t)
	defer b.doc.Close()
	_, two := b.edits(t, 2, 1)
	start := func(raw []byte) byte {
		c, err := docs.DecodeChangeOps(raw)
		if err != nil {
			t.Fatal(err)
		}
		return byte(c.StartOp)
	}
	s0, s1 := start(two[0]), start(two[1])
	c1, err := msync.ParseChange(two[1])
	if err != nil {
		t.Fatal(err)
	}
	q1 := byte(c1.Seq)
	body := chunkBody(two[0])
	truncated := amchunk.Chunk(body[:len(body)-3])
	for _, tc := range []struct {
		name  string
		steps [][]byte
		bad   []bool
	}{
		{"in order", [][]byte{message(two[0]), message(two[1])}, []bool{false, false}},
		{"reversed: queued, then applied", [][]byte{message(two[1]), message(two[0])}, []bool{false, false}},
		{"repeated in one message", [][]byte{message(two[0], two[0], two[1])}, []bool{false}},
		{"queued change sent again", [][]byte{message(two[1]), message(two[1]), message(two[0])}, []bool{false, false, false}},
		{"ids the document used", [][]byte{message(withStartOp(t, two[0], 2))}, []bool{true}},
		{"ids of a queued change", [][]byte{message(two[1]), message(withStartOp(t, two[0], s1)), message(two[0])}, []bool{false, true, false}},
		{"ids shared in one message", [][]byte{message(two[0], withStartOp(t, two[1], s0))}, []bool{true}},
		{"sequence number past a gap", [][]byte{message(withSeq(t, two[0], q1))}, []bool{true}},
		{"sequence number reused", [][]byte{message(two[0], withSeq(t, two[1], q1-1))}, []bool{true}},
		{"queued change past a gap", [][]byte{message(withSeq(t, two[1], q1+1)), message(two[0])}, []bool{false, true}},
		{"unreadable operations", [][]byte{message(truncated)}, []bool{true}},
		{"refused, then correct", [][]byte{message(withStartOp(t, two[0], 2)), message(two...)}, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, g := b.relay(t)
			st := &msync.State{}
			for i, msg := range tc.steps {
				m, err := msync.DecodeMessage(msg)
				if err != nil {
					t.Fatal(err)
				}
				before := slices.Clone(doc.Heads())
				var heads []automerge.ChangeHash
				err = msync.Receive(g, st, m, msync.ApplyTo(doc, g, msg, &heads))
				if got := err != nil; got != tc.bad[i] {
					t.Fatalf("step %d: error %v, want refused %v", i, err, tc.bad[i])
				}
				if err != nil {
					if !errors.Is(err, msync.ErrMalformed) {
						t.Fatalf("step %d: error %v does not match ErrMalformed", i, err)
					}
					if !slices.Equal(doc.Heads(), before) {
						t.Fatalf("step %d: refused message changed the document", i)
					}
				}
				if !slices.Equal(g.Heads(), doc.Heads()) {
					t.Fatalf("step %d: graph heads %v, document heads %v", i, g.Heads(), doc.Heads())
				}
			}
		})
	}
}

// TestGuardedHazards is why Guard refuses reused operation ids and
// sequence numbers past a gap: automerge 0.5 applies such a change
// without an error, and the document it leaves saves to bytes that
// automerge then cannot load (a relay compacting it would lose the
// playlist for every collaborator). A correct change saves and loads.
func TestGuardedHazards(t *testing.T) {
	b := newLazyBase(t)
	defer b.doc.Close()
	_, nexts := b.edits(t, 1, 1)
	next := nexts[0]
	c, err := msync.ParseChange(next)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		chunk []byte
		loads bool
	}{
		{"correct", next, true},
		{"operation ids reused", withStartOp(t, next, 2), false},
		{"sequence number past a gap", withSeq(t, next, byte(c.Seq)+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := b.fork(t, actorC)
			defer doc.Close()
			sm, err := automerge.LoadSyncMessage(message(tc.chunk))
			if err != nil {
				t.Fatal(err)
			}
			defer sm.Close()
			chs := sm.Changes()
			defer automerge.CloseChanges(chs)
			if err := doc.Apply(chs...); err != nil {
				t.Skipf("automerge now refuses it (%v): Guard's check may go", err)
			}
			d, err := automerge.Load(doc.Save())
			if err == nil {
				d.Close()
			}
			if loads := err == nil; loads != tc.loads {
				t.Fatalf("the saved document loads: %v (%v), want %v", loads, err, tc.loads)
			}
		})
	}
}

// FuzzGuard: a real change with bytes of its body replaced (the
// fuzzer's pairs of position and value) or cut, its length and checksum
// recomputed, sent after the change before it: whatever ApplyTo takes
// (Guard, then automerge), the process survives, the graph's heads are
// the document's, and the document's saved bytes load again
// (guardedApply). The change adds two playlist entries.
func FuzzGuard(f *testing.F) {
	b := newLazyBase(f)
	defer b.doc.Close()
	_, two := b.edits(f, 2, 2)
	f.Add([]byte{}, 0)
	f.Add([]byte{0, 1}, 0)
	f.Add([]byte{40, 0xff, 41, 0x7f}, 0)
	f.Add([]byte{}, 5)
	f.Add([]byte("0\x020"), 278)
	f.Fuzz(func(t *testing.T, edits []byte, cut int) {
		guardedApply(t, b, two[0], two[1], edits, cut)
	})
}

// FuzzGuardText is FuzzGuard on a change as Automerge 3 JS writes
// string fields: collaborative text (inserts and deletions by element
// id), and updates of existing keys (predecessors) and of a counter.
func FuzzGuardText(f *testing.F) {
	b := newLazyBase(f)
	defer b.doc.Close()
	base := b.fork(f, actorA)
	defer base.Close()
	if err := base.RootMap().Set("note", automerge.NewText("hello")); err != nil {
		f.Fatal(err)
	}
	if err := base.RootMap().Set("plays", automerge.NewCounter(1)); err != nil {
		f.Fatal(err)
	}
	if _, err := base.Commit("text"); err != nil {
		f.Fatal(err)
	}
	tx := base.Path("note").Text()
	if err := tx.Splice(1, 2, "EY"); err != nil {
		f.Fatal(err)
	}
	if err := tx.Insert(5, " there"); err != nil {
		f.Fatal(err)
	}
	if err := base.Path("plays").Counter().Inc(2); err != nil {
		f.Fatal(err)
	}
	if err := base.Path("name").Set("renamed"); err != nil {
		f.Fatal(err)
	}
	if _, err := base.Commit("edit"); err != nil {
		f.Fatal(err)
	}
	two := lastChanges(f, base, 2)
	f.Add([]byte{}, 0)
	f.Add([]byte{0, 1}, 0)
	f.Add([]byte{200, 0x7f, 201, 0x01}, 0)
	f.Add([]byte{}, 3)
	f.Fuzz(func(t *testing.T, edits []byte, cut int) {
		guardedApply(t, b, two[0], two[1], edits, cut)
	})
}

// guardedApply applies first, then next with its body edited (pairs of
// position, scaled to the body, and value) and cut by cut bytes, to a
// copy of b through ApplyTo, and checks that whatever it takes leaves
// the graph's heads the document's and a document whose saved bytes
// load, and that it takes both changes as written.
func guardedApply(t *testing.T, b lazyBase, first, next []byte, edits []byte, cut int) {
	body := chunkBody(next)
	unmodified := len(edits) < 2 && (cut <= 0 || cut >= len(body))
	for i := 0; i+1 < len(edits); i += 2 {
		body[int(edits[i])*len(body)/256] = edits[i+1]
	}
	if cut > 0 && cut < len(body) {
		body = body[:len(body)-cut]
	}
	doc, g := b.relay(t)
	st := &msync.State{}
	for _, msg := range [][]byte{message(first), message(amchunk.Chunk(body))} {
		m, err := msync.DecodeMessage(msg)
		if err != nil {
			return
		}
		var heads []automerge.ChangeHash
		if err := msync.Receive(g, st, m, msync.ApplyTo(doc, g, msg, &heads)); err != nil {
			if unmodified {
				t.Fatalf("the change as its client wrote it refused: %v", err)
			}
			return
		}
		if !slices.Equal(g.Heads(), doc.Heads()) {
			t.Fatalf("graph heads %v, document heads %v", g.Heads(), doc.Heads())
		}
	}
	d, err := automerge.Load(doc.Save())
	if err != nil {
		t.Fatalf("the document saved after the change does not load: %v", err)
	}
	d.Close()
}

// TestGuardScratch: what a scratch document may read. A document's
// first change passes, and so does a change whose dependencies the
// scratch document lacks (it would queue it); a change automerge aborts
// on when it applies it, and bytes that are not a sync message, are
// refused with ErrMalformed.
func TestGuardScratch(t *testing.T) {
	b := newLazyBase(t)
	defer b.doc.Close()
	_, next := b.edits(t, 1, 1)
	first, err := b.doc.Changes()
	if err != nil {
		t.Fatal(err)
	}
	defer automerge.CloseChanges(first)
	aborting, err := amchunk.AbortingChange()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		bad  bool
	}{
		{"first change", message(first[0].Save()), false},
		{"dependencies missing", message(next[0]), false},
		{"aborting change", message(aborting), true},
		{"aborting change after a correct one", message(first[0].Save(), aborting), true},
		{"not a sync message", []byte{0x42, 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := msync.GuardScratch(tc.msg)
			if got := err != nil; got != tc.bad {
				t.Fatalf("error %v, want refused %v", err, tc.bad)
			}
			if err != nil && !errors.Is(err, msync.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
		})
	}
}

// FuzzGuardScratch: a document's first change with its body edited
// (pairs of position, scaled to the body, and value) and cut by cut
// bytes: whatever GuardScratch takes, a scratch document reads through
// automerge's sync state without the process aborting, and the
// document it leaves saves to bytes that load.
func FuzzGuardScratch(f *testing.F) {
	b := newLazyBase(f)
	defer b.doc.Close()
	cs, err := b.doc.Changes()
	if err != nil {
		f.Fatal(err)
	}
	first := cs[0].Save()
	automerge.CloseChanges(cs)
	f.Add([]byte{}, 0)
	f.Add([]byte{0, 1}, 0)
	f.Add([]byte{40, 0xff, 41, 0x7f}, 0)
	f.Add([]byte{}, 5)
	f.Fuzz(func(t *testing.T, edits []byte, cut int) {
		body := chunkBody(first)
		for i := 0; i+1 < len(edits); i += 2 {
			body[int(edits[i])*len(body)/256] = edits[i+1]
		}
		if cut > 0 && cut < len(body) {
			body = body[:len(body)-cut]
		}
		msg := message(amchunk.Chunk(body))
		if msync.GuardScratch(msg) != nil {
			return
		}
		doc := automerge.New()
		defer doc.Close()
		ss := automerge.NewSyncState(doc)
		defer ss.Close()
		sm, err := ss.ReceiveMessage(msg)
		if err != nil {
			return
		}
		sm.Close()
		d, err := automerge.Load(doc.Save())
		if err != nil {
			t.Fatalf("the scratch document does not load after a change the guard took: %v", err)
		}
		d.Close()
	})
}
