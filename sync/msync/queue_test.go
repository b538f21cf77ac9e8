package msync_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
)

// TestQueueBounded: ApplyTo refuses a message after which more changes,
// or more bytes of them, than the graph's bounds would wait in the
// document for a dependency it lacks (automerge keeps them in memory,
// unsaved); the refused message leaves the document, the graph and the
// queue as they were, and the missing change then brings in everything
// queued. A message that brings the dependency with the rest queues
// nothing, whatever its size.
func TestQueueBounded(t *testing.T) {
	b := newLazyBase(t)
	defer b.doc.Close()
	_, ch := b.edits(t, 8, 1)
	size := func(cs [][]byte) int {
		n := 0
		for _, c := range cs {
			n += len(c)
		}
		return n
	}
	for _, tc := range []struct {
		name          string
		changes, byts int
		steps         [][][]byte // each the chunks of one message
		refused       []bool
	}{
		{"within the count", 4, 0, [][][]byte{ch[1:5], ch[:1]}, []bool{false, false}},
		{"past the count in one message", 4, 0, [][][]byte{ch[1:6], ch[:1], ch[1:6]}, []bool{true, false, false}},
		{"past the count over messages", 4, 0, [][][]byte{ch[1:4], ch[4:6], ch[:1], ch[4:6]}, []bool{false, true, false, false}},
		{"resent queued changes count once", 4, 0, [][][]byte{ch[1:5], ch[1:5], ch[:1]}, []bool{false, false, false}},
		{"past the bytes", 0, size(ch[1:4]), [][][]byte{ch[1:4], ch[4:5], ch[:1]}, []bool{false, true, false}},
		{"dependency with the rest", 2, 0, [][][]byte{ch}, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, g := b.relay(t)
			msync.SetQueueLimits(g, tc.changes, tc.byts)
			st := &msync.State{}
			for i, chunks := range tc.steps {
				msg := message(chunks...)
				m, err := msync.DecodeMessage(msg)
				if err != nil {
					t.Fatal(err)
				}
				before := slices.Clone(doc.Heads())
				var heads []automerge.ChangeHash
				err = msync.Receive(g, st, m, msync.ApplyTo(doc, g, msg, &heads))
				if got := err != nil; got != tc.refused[i] {
					t.Fatalf("step %d: error %v, want refused %v", i, err, tc.refused[i])
				}
				if err != nil && !errors.Is(err, msync.ErrQueueFull) {
					t.Fatalf("step %d: error %v does not match ErrQueueFull", i, err)
				}
				if err != nil && !slices.Equal(doc.Heads(), before) {
					t.Fatalf("step %d: refused message changed the document", i)
				}
				if !slices.Equal(g.Heads(), doc.Heads()) {
					t.Fatalf("step %d: graph heads %v, document heads %v", i, g.Heads(), doc.Heads())
				}
			}
			// The last step brought the first change: every change
			// accepted is in the document, none waits.
			last := tc.steps[len(tc.steps)-1]
			c, err := msync.ParseChange(last[len(last)-1])
			if err != nil {
				t.Fatal(err)
			}
			if !doc.HasChange(c.Hash) {
				t.Fatalf("the document lacks change %s after the last step", c.Hash)
			}
		})
	}
}

// TestQueueBoundNotOnScratch: the bound is on changes left waiting in a
// document, not on a message's changes. A scratch document (GuardScratch:
// a creation, or a checked writer's changes decoded before the check)
// holds none of their dependencies, so it would see every change of an
// ordinary message as waiting; more than MaxQueuedChanges of them pass
// GuardScratch, and the document that holds their dependencies takes
// them.
func TestQueueBoundNotOnScratch(t *testing.T) {
	b := newLazyBase(t)
	defer b.doc.Close()
	_, ch := b.edits(t, msync.MaxQueuedChanges+10, 1)
	msg := message(ch...)
	if err := msync.GuardScratch(msg); err != nil {
		t.Fatalf("GuardScratch: %v", err)
	}
	doc, g := b.relay(t)
	m, err := msync.DecodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	var heads []automerge.ChangeHash
	if err := msync.Receive(g, &msync.State{}, m, msync.ApplyTo(doc, g, msg, &heads)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	last, err := msync.ParseChange(ch[len(ch)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !doc.HasChange(last.Hash) {
		t.Fatal("the document lacks the message's last change")
	}
}
