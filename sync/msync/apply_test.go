package msync_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
)

// TestApplyToIndexesMessageChanges: ApplyTo indexes the changes a
// message brought from the message's own chunks, and the changes the
// document applied from its queue (brought by an earlier message whose
// dependency was missing) from the document, so the graph always mirrors
// the document.
func TestApplyToIndexesMessageChanges(t *testing.T) {
	src := automerge.New()
	for _, v := range []string{"a", "b", "c"} {
		if err := src.RootMap().Set("k", v); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Commit(v); err != nil {
			t.Fatal(err)
		}
	}
	chs, err := src.Changes()
	if err != nil {
		t.Fatal(err)
	}
	raw := make([][]byte, len(chs))
	for i, c := range chs {
		raw[i] = c.Save()
	}
	for _, tc := range []struct {
		name  string
		order [][]int // messages, each the indexes of the changes it carries
	}{
		{"in order, one message", [][]int{{0, 1, 2}}},
		{"in order, one per message", [][]int{{0}, {1}, {2}}},
		{"the last first: queued, then applied from the queue", [][]int{{2}, {0, 1}}},
		{"the middle missing: queued twice", [][]int{{0}, {2}, {1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := automerge.New()
			g := msync.NewGraph()
			st := &msync.State{}
			for _, idx := range tc.order {
				var carried [][]byte
				for _, i := range idx {
					carried = append(carried, raw[i])
				}
				msg := (&msync.Message{Raw: carried}).Encode()
				m, err := msync.DecodeMessage(msg)
				if err != nil {
					t.Fatal(err)
				}
				var heads []automerge.ChangeHash
				if err := msync.Receive(g, st, m, msync.ApplyTo(doc, g, msg, &heads)); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(g.Heads(), doc.Heads()) {
					t.Fatalf("graph heads %v, document heads %v", g.Heads(), doc.Heads())
				}
			}
			if g.Len() != len(chs) {
				t.Fatalf("graph holds %d changes, want %d", g.Len(), len(chs))
			}
			for i, c := range chs {
				if !bytes.Equal(rawOf(t, g, c.Hash()), raw[i]) {
					t.Fatalf("change %d: graph bytes differ from the change's", i)
				}
			}
		})
	}
}
